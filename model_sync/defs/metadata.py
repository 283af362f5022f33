"""Materialization metadata: numbers the UI plots over time, and short markdown previews."""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from model_sync.catalog.contract import Field
from model_sync.catalog.history import SyncStats
from model_sync.catalog.money import format_decimal
from model_sync.catalog.overlay import STATES, Outcome

PREVIEW_COLUMNS = ("provider", "model_id", "context_window", "input_price", "output_price")


def stats_metadata(stats: SyncStats, duration: float) -> dict[str, Any]:
    """The counts of a publish; numeric values are plotted by the UI across materializations."""
    return {
        "dagster/row_count": dg.MetadataValue.int(stats.rows),
        "rows": dg.MetadataValue.int(stats.rows),
        "added": dg.MetadataValue.int(stats.added),
        "removed": dg.MetadataValue.int(stats.removed),
        "updated": dg.MetadataValue.int(stats.updated),
        "repriced": dg.MetadataValue.int(stats.repriced),
        "restored": dg.MetadataValue.int(stats.restored),
        "unchanged": dg.MetadataValue.int(stats.unchanged),
        "duration_seconds": dg.MetadataValue.float(round(duration, 3)),
        "largest_price_changes": dg.MetadataValue.md(price_changes_table(stats.price_changes)),
    }


def preview(rows: Sequence[Mapping[str, Any]], limit: int = 10) -> dg.MetadataValue:
    """The first rows as a markdown table, prices as exact decimals."""
    frame = pd.DataFrame([{c: _cell(r.get(c)) for c in PREVIEW_COLUMNS} for r in rows[:limit]],
                         columns=list(PREVIEW_COLUMNS))
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "(no rows)")


def price_changes_table(changes: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """The largest relative price changes of a publish, as markdown."""
    if not changes:
        return "No price changed."
    def ratio(change) -> Decimal:
        old, new = change["input_price"]
        if not old or new is None:
            old, new = change["output_price"]
        if not old or new is None:
            return Decimal(0)
        return abs(new - old) / old
    lines = ["| offering | input (USD/1M) | output (USD/1M) |", "|---|---|---|"]
    for change in sorted(changes, key=ratio, reverse=True)[:limit]:
        lines.append(f"| {change['key']} | {_arrow(change['input_price'])} | "
                     f"{_arrow(change['output_price'])} |")
    more = len(changes) - limit
    if more > 0:
        lines.append(f"\n{more} more price changes not shown.")
    return "\n".join(lines)


_TYPE_NAMES = {"decimal": "decimal", "json_list": "json list", "json_object": "json",
               "timestamp": "timestamp (UTC)", "bigint": "integer", "int": "integer",
               "text": "text", "bool": "boolean", "float": "float"}


def table_schema(fields: Sequence[Field]) -> dg.TableSchema:
    """The columns of a table as the UI shows them, with plain type names."""
    return dg.TableSchema(columns=[
        dg.TableColumn(f.name, type=_TYPE_NAMES[f.type], description=f.doc)
        for f in fields
    ])


def columns_of(table: sa.Table) -> dg.TableSchema:
    """The columns of a table the contract does not list (history, events), from SQLAlchemy."""
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, type=type(c.type).__name__.lower(), description=c.comment)
        for c in table.columns
    ])


def _arrow(pair) -> str:
    old, new = pair
    if old == new:
        return _cell(new) or "unpriced"
    return f"{_cell(old) or 'unpriced'} → {_cell(new) or 'unpriced'}"


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    return value


def overrides_metadata(outcome: Outcome) -> dict[str, Any]:
    """What became of the team's overrides (`overlay.Outcome`): a count per state, and a small
    table of them."""
    counts = outcome.counts
    meta: dict[str, Any] = {f"overrides_{state}": dg.MetadataValue.int(counts.get(state, 0))
                            for state in STATES}
    if outcome.path is None:
        meta["overrides"] = dg.MetadataValue.md("No overrides file (MODEL_SYNC_OVERRIDES_FILE).")
        return meta
    lines = [f"{len(outcome.results)} overrides in `{outcome.path}`", "",
             "| state | overrides | lines |", "|---|---|---|"]
    for state in STATES:
        at = [str(r.override.line) for r in outcome.results if r.state == state]
        more = " …" if len(at) > 10 else ""
        lines.append(f"| {state} | {len(at)} | {', '.join(at[:10])}{more} |")
    meta["overrides"] = dg.MetadataValue.md("\n".join(lines))
    return meta
