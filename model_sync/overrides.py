"""`model-sync overrides`: each override of MODEL_SYNC_OVERRIDES_FILE with what the next catalog
build makes of it (applied, redundant, expired, unmatched), beside what the sources publish."""

import json
import sys
from typing import Any

from model_sync.catalog.money import format_decimal


def add_command(sub) -> None:
    """The `overrides` subcommand of `model-sync`."""
    command = sub.add_parser("overrides", help="each override of MODEL_SYNC_OVERRIDES_FILE, its "
                                               "state and the sources' values beside it")
    command.add_argument("--json", action="store_true", help="print one JSON document")


def run(args) -> int:
    """List the overrides; a missing or malformed file is one line and exit 2."""
    from model_sync.catalog.clock import utcnow
    from model_sync.catalog.overrides import OVERRIDES_FILE_ENV, OverridesError
    from model_sync.defs.resources import CatalogDatabase
    from model_sync.ingest.catalog import review_overrides

    database = CatalogDatabase()
    try:
        overrides = database.overrides()
    except OverridesError as exc:
        print(f"model-sync: {exc}", file=sys.stderr)
        return 2
    if overrides is None:
        print(f"model-sync: no overrides file: set {OVERRIDES_FILE_ENV}", file=sys.stderr)
        return 2
    store = database.store()
    try:
        outcome = review_overrides(store, overrides, now=utcnow())
    finally:
        store.dispose()
    listed = [_listed(r) for r in sorted(outcome.results, key=lambda r: r.override.line)]
    if args.json:
        print(json.dumps({"file": overrides.path, "overrides": listed}, indent=2))
    else:
        print(_table(overrides.path, listed))
    return 0


def _listed(result) -> dict[str, Any]:
    item = result.override
    return {"line": item.line, "provider": item.provider, "model": item.model,
            "field": item.target, "value": _text(item.value), "state": result.state,
            "merged": _text(result.merged),
            "sources": {k: _text(v) for k, v in sorted(result.sources.items())},
            "expires": item.expires.isoformat() if item.expires else None,
            "reason": item.reason, "author": item.author, "note": result.note or None}


def _text(value: Any) -> Any:
    """Exact text for money, JSON values otherwise."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    return format_decimal(value)


def _table(path: str, listed: list[dict[str, Any]]) -> str:
    if not listed:
        return f"{path}: no overrides"
    lines = [f"{'line':>5}  {'state':<9}  {'offering / field':<48}  {'value':>10}  sources"]
    for o in listed:
        sources = ", ".join(f"{k}={v}" for k, v in o["sources"].items()) or "-"
        what = f"{o['provider']}/{o['model']} {o['field']}"
        lines.append(f"{o['line']:>5}  {o['state']:<9}  {what:<48}  {o['value']!s:>10}  "
                     f"{sources}{'  (' + o['note'] + ')' if o['note'] else ''}")
    return f"{path}\n" + "\n".join(lines)
