"""Where a regional offering's model id names its region: Bedrock's cross-region inference
prefixes (`eu.anthropic.claude-...`, genai-prices' `regional.` / `global.`), an AWS region or an
Azure data zone as the first path segment (`us-east-1/...`, `eu/gpt-4o-...`)."""

import re

_PREFIX = re.compile(r"^(us|eu|apac|au|jp|ca|us-gov|global|regional)\.(?=[a-z0-9-]+\.)")
_SEGMENT = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d|us|eu|global|global-standard)/(?=.)")


def split_region(model_id: str) -> tuple[str | None, str]:
    """`(region, the id without it)`; `(None, model_id)` when the id names no region."""
    for pattern in (_PREFIX, _SEGMENT):
        match = pattern.match(model_id.lower())
        if match:
            return match.group(1), model_id[match.end():]
    return None, model_id
