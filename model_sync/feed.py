"""`model-sync changes`: the catalog's change feed, as a table, JSON, Atom or a JSON Feed."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from model_sync.catalog.store import CatalogStore
from model_sync.ops import changes as feed


def command(store: CatalogStore, *, since: str | None, providers: list[str] | None,
            kinds: str | None, min_change: str | None, output: str,
            out: Path | None) -> int:
    """Print (or write to `out`) the changes that match; 2 on a bad argument."""
    now = datetime.now(UTC)
    try:
        where = feed.Filter(
            since=feed.parse_since(since, now) if since else None,
            providers=frozenset(providers or ()), kinds=feed.parse_kinds(kinds),
            min_change=feed.parse_share(min_change) if min_change else None)
    except ValueError as exc:
        print(f"model-sync: {exc}", file=sys.stderr)
        return 2
    found = feed.changes(store.changes(since=where.since), where)
    text = {"table": lambda: feed.table(found),
            "json": lambda: json.dumps(feed.as_json(found), indent=2),
            "atom": lambda: feed.atom(found, now),
            "jsonfeed": lambda: feed.json_feed(found)}[output]()
    if out is None:
        print(text)
    else:
        out.write_text(text if text.endswith("\n") else text + "\n")
        print(f"wrote {len(found):,} changes to {out}", file=sys.stderr)
    return 0

