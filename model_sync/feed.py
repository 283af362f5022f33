"""`model-sync changes`: the catalog's change feed, as a table, JSON, Atom or a JSON Feed."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from model_sync.catalog.store import CatalogStore
from model_sync.ops import changes as feed


def add_command(sub) -> None:
    """The `changes` subcommand of `model-sync`."""
    changes = sub.add_parser("changes", help="the catalog's change events: added, removed, "
                                             "repriced (old -> new, relative change), ...")
    changes.add_argument("--since", help="a date, a time, or a duration back from now (7d, 12h)")
    changes.add_argument("--provider", nargs="+", metavar="PROVIDER", help="only these providers")
    changes.add_argument("--kind", help="comma-separated: added,removed,repriced,context_changed,"
                                        "restored,archived")
    changes.add_argument("--min-change", metavar="SHARE", help="reprices of at least this "
                         "relative change (0.05: 5%%); a price gained or lost always shows")
    changes.add_argument("--format", choices=("table", "json", "atom", "jsonfeed"),
                         default="table", help="a table (default), JSON, an Atom or JSON Feed")
    changes.add_argument("--json", action="store_true", help="the same as --format json")
    changes.add_argument("--out", type=Path, help="write to this file (a feed readers follow)")


def run(args) -> int:
    """`model-sync changes`, from its parsed arguments."""
    from model_sync.defs.resources import CatalogDatabase

    store = CatalogDatabase().store()
    try:
        return command(store, since=args.since, providers=args.provider, kinds=args.kind,
                       min_change=args.min_change, out=args.out,
                       output="json" if args.json else args.format)
    finally:
        store.dispose()


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

