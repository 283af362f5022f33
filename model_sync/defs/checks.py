"""Asset check specs and results for the sources and the catalog.

The rules live in `model_sync.catalog.validate`; this module names them for Dagster. ERROR rules
are blocking checks: their rows are audited before publishing and withheld when they fail.
"""

from collections.abc import Collection, Iterable

import dagster as dg

from model_sync.catalog.validate import Finding
from model_sync.sources.base import SourceSpec

SOURCE_RULES = {
    "min_rows": "Blocking: the sync returned at least the minimum number of models.",
    "drop_guard": "Blocking: the model count did not drop more than the allowed share "
                  "(max_drop_share, default 20%) since the last good sync, and no more of its "
                  "models are gone than max_removed_share (default 30%) even if as many new ones "
                  "arrived (another set of models, e.g. an old snapshot); otherwise the last good "
                  "rows are kept.",
    "price_coverage": "Blocking: among the models also in the last good sync, the share with an "
                      "input price did not fall by more than max_priced_share_drop (default 5 "
                      "points; a sign of a renamed price field); the description names the "
                      "models that lost their price.",
    "price_jumps": "Warning: no price moved by more than the allowed ratio (default 10x), turned "
                   "free (0) or paid, or stopped being published (null) since the last sync; "
                   "such moves are more often data errors than repricing.",
    "rejected_entries": "Every entry of the payload was normalized. Warning when some were "
                        "rejected (malformed entries, set aside in the rejected_entries table); "
                        "blocking when more than the allowed share (default 2%) were, since "
                        "the format has likely changed.",
}

CATALOG_RULES = {
    "min_rows": "Blocking: the catalog has at least the minimum number of offerings.",
    "unique_offerings": "Blocking: one row per (provider, model_id).",
    "prices_non_negative": "Blocking: no price is negative.",
    "prices_plausible": "Blocking: no price above 1,000 USD per 1M tokens. Such source prices "
                        "are unit slips: another source's plausible prices are used, or the "
                        "offering is left unpriced and flagged implausible_price.",
    "output_price_present": "Warning: text-generation offerings priced for input are priced "
                            "for output too.",
    "context_window_range": "Warning: text-generation context windows lie between 256 and "
                            "100M tokens and no output limit exceeds 100M. Source values "
                            "outside that are typos: another source's plausible value is used, "
                            "or none, and the description names the values withheld.",
}
BLOCKING = {"min_rows", "drop_guard", "price_coverage", "unique_offerings", "prices_non_negative",
            "prices_plausible", "rejected_entries"}


def check_name(asset: str, rule: str) -> str:
    return f"{asset}_{rule}"


def specs(asset: str, rules: dict[str, str]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(check_name(asset, rule), asset=asset, description=doc,
                          blocking=rule in BLOCKING)
        for rule, doc in rules.items()
    ]


def source_check_specs(spec: SourceSpec) -> list[dg.AssetCheckSpec]:
    return specs(spec.name, SOURCE_RULES)


def results(asset: str, findings: Iterable[Finding],
            selected: Collection[dg.AssetCheckKey] | None = None) -> list[dg.AssetCheckResult]:
    """Dagster check results for a set of findings, with their numbers as metadata; only those
    of the `selected` checks when the run selected some."""
    return [
        dg.AssetCheckResult(
            asset_key=asset,
            check_name=check_name(asset, f.rule),
            passed=f.passed,
            severity=dg.AssetCheckSeverity.ERROR if f.severity == "ERROR"
            else dg.AssetCheckSeverity.WARN,
            description=f.description,
            metadata={k: _meta(v) for k, v in f.metadata.items()},
        )
        for f in findings
        if selected is None
        or dg.AssetCheckKey(dg.AssetKey(asset), check_name(asset, f.rule)) in selected
    ]


def _meta(value):
    if isinstance(value, list):
        return dg.MetadataValue.json(value)
    return value
