"""`model-sync normalize`: the offerings of one recorded payload, as a sync would parse them."""

import json
import logging
import sys
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from model_sync.catalog.contract import OFFERING_COLUMNS
from model_sync.catalog.money import format_decimal
from model_sync.ingest.fetch import dedupe
from model_sync.redact import redact
from model_sync.sources import get_source
from model_sync.sources.base import ParseContext, ParseError, loads


def normalize(source: str, file: Path, as_of: str | None,
              max_rejected_share: float = 0.02) -> int:
    """Print the normalized offerings of one payload as JSON lines, and one line about the
    entries it rejected on stderr; exit 1 when more than `max_rejected_share` were."""
    try:
        spec = get_source(source)
    except KeyError as exc:
        print(redact(f"model-sync: {exc.args[0]}"), file=sys.stderr)
        return 2
    when = _as_of(file, as_of)
    context = ParseContext(source=spec.name, fetched_at=when)
    try:
        payload = loads(file.read_bytes(), spec.name)
        rows = spec.parse(payload, context)
    except (OSError, ParseError) as exc:
        print(redact(f"model-sync: {exc}"), file=sys.stderr)
        return 1
    rejected = list(context.rejected)
    rows = dedupe(rows, spec.name, logging.getLogger("model_sync.normalize"), rejected)
    out = sys.stdout
    for row in rows:
        out.write(json.dumps({c: row[c] for c in OFFERING_COLUMNS}, default=_json_value,
                             ensure_ascii=False))
        out.write("\n")
    if not rejected:
        return 0
    total = len(rows) + len(rejected)
    share = len(rejected) / total
    reasons = Counter(r.reason for r in rejected).most_common(2)
    over = share > max_rejected_share
    print(redact(
        f"model-sync: {spec.name}: {len(rejected):,} of {total:,} entries rejected "
        f"({share:.1%}, {'over' if over else 'within'} the allowed {max_rejected_share:.1%}): "
        + "; ".join(f"{reason} ({n})" for reason, n in reasons)
        + f"; e.g. {rejected[0].source_key!r}"), file=sys.stderr)
    return 1 if over else 0


def _as_of(file: Path, as_of: str | None) -> datetime:
    text = as_of or file.name[:10]
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        if as_of:
            raise SystemExit(f"model-sync: --as-of must be YYYY-MM-DD, got {as_of!r}") from None
        return datetime.now(UTC)


def _json_value(value):
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")
