"""`model-sync disagreements`: where independent sources disagree on an offering's price or token
limit, largest first, as a table or JSON; `--ack ID --note TEXT` acknowledges one."""

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

STATES = ("current", "open", "acknowledged", "resolved", "all")


def share(text: str) -> float:
    """A relative difference given on the command line (0.1: 10%)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a share such as 0.1, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"expected a share of 0 or more, got {text!r}")
    return float(value)


def add_command(sub) -> None:
    """The `disagreements` subcommand of `model-sync`."""
    command = sub.add_parser("disagreements", help="where independent sources publish different "
                             "prices or token limits for an offering, and what the catalog chose")
    command.add_argument("--provider", nargs="+", metavar="PROVIDER", help="only these providers")
    command.add_argument("--field", nargs="+", metavar="FIELD", help="only these fields: a price "
                         "component (input, output, cache_read, ...), context_window, "
                         "max_output_tokens")
    command.add_argument("--min-diff", type=share, metavar="SHARE", help="only a relative "
                         "difference of at least this (0.1: 10%%); free beside paid always shows")
    command.add_argument("--state", choices=STATES, default="current", help="current (open and "
                         "acknowledged, the default), open, acknowledged, resolved or all")
    command.add_argument("--json", action="store_true", help="print JSON")
    command.add_argument("--ack", type=int, metavar="ID", help="acknowledge disagreement ID "
                         "(a person has looked at it), with --note")
    command.add_argument("--note", help="why it is acknowledged")


def run(args) -> int:
    """`model-sync disagreements`, from its parsed arguments."""
    from model_sync.catalog.store import CatalogStore
    from model_sync.defs.resources import CatalogDatabase

    url = CatalogDatabase().resolved_url()
    database = sa.make_url(url).database
    if url.startswith("sqlite") and not (database and Path(database).is_file()):
        print(f"model-sync: no catalog database at {database}; run `model-sync sync` first")
        return 0
    store = CatalogStore.from_url(url)
    try:
        if args.ack is not None:
            return acknowledge(store, args.ack, args.note)
        return command(store, providers=args.provider, fields=args.field,
                       min_diff=args.min_diff, state=args.state, as_json=args.json)
    finally:
        store.dispose()


def acknowledge(store, row_id: int, note: str | None) -> int:
    from model_sync.catalog.disagreement_store import acknowledge as mark

    if not note:
        print("model-sync: --ack needs --note TEXT: why it is acknowledged", file=sys.stderr)
        return 2
    try:
        row = mark(store.engine, row_id, note, now=datetime.now(UTC))
    except ValueError as exc:
        print(f"model-sync: {exc}", file=sys.stderr)
        return 2
    print(f"acknowledged {row_id}: {row['provider']}/{row['model_id']} {row['slot']}: {note}")
    return 0


def command(store, *, providers: list[str] | None = None, fields: list[str] | None = None,
            min_diff: float | None = None, state: str = "current", as_json: bool = False) -> int:
    """Print the disagreements that match, largest relative difference first."""
    from model_sync.catalog.disagreement_store import RESOLVED, disagreement_rows

    rows = disagreement_rows(store.engine)
    if not rows:
        print("No source disagreements recorded yet: each catalog build records them "
              "(`model-sync sync`)." if store.catalog_count() else
              "model-sync: the catalog is empty; run `model-sync sync` first")
        return 0
    least = Decimal(str(min_diff)) if min_diff is not None else None
    found = [r for r in rows
             if (state == "all" or r["state"] == state
                 or (state == "current" and r["state"] != RESOLVED))
             and (not providers or r["provider"] in providers)
             and (not fields or r["field"] in fields)
             and (least is None or r["relative_difference"] is None
                  or r["relative_difference"] >= least)]
    print(json.dumps([as_document(r) for r in found], indent=2) if as_json else table(found))
    return 0


def as_document(row: dict[str, Any]) -> dict[str, Any]:
    """One row as JSON: exact values as plain text, times in ISO 8601."""
    from model_sync.catalog.money import format_decimal

    def text(value):
        return None if value is None else format_decimal(Decimal(value))

    def when(value):
        return None if value is None else value.isoformat()

    return {"id": row["id"], "provider": row["provider"], "model_id": row["model_id"],
            "field": row["field"], "slot": row["slot"], "mode": row["mode"],
            "region": row["region"], "min_prompt_tokens": row["min_prompt_tokens"],
            "window": row["window"], "unit": row["unit"],
            "values": {s: text(v) for s, v in row["values"].items()},
            "copies": {s: text(v) for s, v in (row["copies"] or {}).items()},
            "relative_difference": text(row["relative_difference"]),
            "chosen_value": text(row["chosen_value"]), "chosen_source": row["chosen_source"],
            "chosen_by": row["chosen_by"], "state": row["state"],
            "first_seen_at": when(row["first_seen_at"]),
            "last_seen_at": when(row["last_seen_at"]), "opened_at": when(row["opened_at"]),
            "resolved_at": when(row["resolved_at"]),
            "acknowledged_at": when(row["acknowledged_at"]), "note": row["note"]}


def table(found: list[dict[str, Any]]) -> str:
    """The rows as a table people read."""
    from model_sync.catalog.disagreement_store import describe_values, percent, shown

    if not found:
        return "No disagreement matches."
    rows = [("id", "state", "offering", "field", "difference", "values by source", "catalog",
             "first seen")]
    for r in found:
        chosen = (f"{shown(r['chosen_value'], r['unit'])} {r['chosen_source']} "
                  f"({r['chosen_by']})"
                  if r["chosen_value"] is not None else "-")
        rows.append((str(r["id"]), r["state"], f"{r['provider']}/{r['model_id']}", r["slot"],
                     percent(r), describe_values(r), chosen, f"{r['first_seen_at']:%Y-%m-%d}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows)
