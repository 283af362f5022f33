"""The `source_disagreements` table: each build's findings written in place by offering and slot,
so when a disagreement was first seen and how a person triaged it survive rebuilds. A row is
`open`, `acknowledged` (by a person, with a note) or `resolved` (no longer found: kept for
history; found again, it opens again)."""

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.build_digests import code_digest, held, sources_stamp, table_stamp
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.disagreements import (
    LIMIT_TOLERANCE,
    PRICE_TOLERANCE,
    Disagreement,
    find_disagreements,
)
from model_sync.catalog.engine import rows_of
from model_sync.catalog.money import format_decimal
from model_sync.catalog.rules import DisagreementsAudit, Finding, audit
from model_sync.catalog.schema import model_catalog, prices
from model_sync.catalog.schema import source_disagreements as table
from model_sync.catalog.store import CatalogStore
from model_sync.pricing.lookup import OFFERING_SOURCES

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
DISAGREEMENTS = "source_disagreements"  # the build's name in `build_digests`
_FOUND = ("field", "mode", "region", "min_prompt_tokens", "window", "unit", "values", "copies",
          "relative_difference", "chosen_value", "chosen_source", "chosen_by")
_TRIAGE = ("state", "opened_at", "resolved_at", "acknowledged_at", "note")


@dataclass
class Recorded:
    """What one build wrote: the rows it opened (new, or found again), how many it resolved,
    and every row as it now stands."""

    opened: list[dict[str, Any]] = field(default_factory=list)
    resolved: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    baseline: bool = False  # the first build: nothing recorded before it

    @property
    def current(self) -> list[dict[str, Any]]:
        """The rows not resolved, largest relative difference first."""
        return largest_first(r for r in self.rows if r["state"] != RESOLVED)

    def counts(self) -> Counter:
        """Rows by (field kind, state)."""
        return Counter((kind_of(r), r["state"]) for r in self.rows)


def kind_of(row: Mapping[str, Any]) -> str:
    return "price" if row["mode"] is not None else "token_limit"


def largest_first(rows) -> list[dict[str, Any]]:
    """Largest relative difference first; a free value beside a paid one (no ratio) before all."""
    return sorted(rows, key=lambda r: (r["relative_difference"] is not None,
                                       -(r["relative_difference"] or 0), r["provider"],
                                       r["model_id"], r["slot"]))


def record(engine: sa.Engine, found: Sequence[Disagreement], *, now: datetime) -> Recorded:
    """Write one build's disagreements in one transaction: new ones open, those found again
    after they were resolved open again, the others keep their state; those not found resolve."""
    done = Recorded()
    with engine.begin() as conn:
        stored = {(r["provider"], r["model_id"], r["slot"]): r
                  for r in rows_of(conn, sa.select(table))}
        done.baseline = not stored
        inserts, updates = [], []
        for one in found:
            values = _found(one)
            old = stored.pop((one.provider, one.model_id, one.slot.label), None)
            if old is None:
                inserts.append({**values, "provider": one.provider, "model_id": one.model_id,
                                "slot": one.slot.label, "state": OPEN, "first_seen_at": now,
                                "last_seen_at": now, "opened_at": now})
                continue
            triage = {name: old[name] for name in _TRIAGE}
            if old["state"] == RESOLVED:
                triage = {"state": OPEN, "opened_at": now, "resolved_at": None,
                          "acknowledged_at": None, "note": None}
            updates.append({**values, **triage, "id": old["id"], "last_seen_at": now})
        if inserts:
            conn.execute(sa.insert(table), inserts)
        if updates:
            names = [*_FOUND, *_TRIAGE, "last_seen_at"]
            conn.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(
                {n: sa.bindparam(f"b_{n}", type_=table.c[n].type) for n in names}),
                [{f"b_{k}": v for k, v in u.items()} for u in updates])
        gone = [r["id"] for r in stored.values() if r["state"] != RESOLVED]
        if gone:
            conn.execute(sa.update(table).where(table.c.id.in_(gone))
                         .values(state=RESOLVED, resolved_at=now))
        done.resolved = len(gone)
        done.rows = rows_of(conn, sa.select(table).order_by(table.c.id))
    done.opened = largest_first(r for r in done.rows
                                if r["state"] == OPEN and r["opened_at"] == now)
    return done


def build_disagreements(store: CatalogStore, *, started: datetime,
                        price_tolerance: Decimal = PRICE_TOLERANCE,
                        limit_tolerance: Decimal = LIMIT_TOLERANCE
                        ) -> tuple[Recorded, list[Finding]]:
    """Find the served offerings' disagreements, record them, and audit what the build opened.
    When the build would read what the last one read, the recorded rows stand as they are."""
    with store.engine.begin() as conn:
        digest = _inputs_digest(conn, price_tolerance, limit_tolerance)
        if held(conn, DISAGREEMENTS, digest, now=started) is not None:
            rows = rows_of(conn, sa.select(table).order_by(table.c.id))
            done = Recorded(rows=rows, baseline=not rows)
        else:
            done = None
    if done is None:
        found = find_disagreements(store, at=started, price_tolerance=price_tolerance,
                                   limit_tolerance=limit_tolerance)
        done = record(store.engine, found, now=started)
        with store.engine.begin() as conn:
            record_digest(conn, DISAGREEMENTS, digest, now=started)
    open_total = sum(1 for r in done.rows if r["state"] == OPEN)
    subject = DisagreementsAudit(done.opened, open_total, markdown_table(done.opened),
                                 baseline=done.baseline)
    return done, audit("source_disagreements", subject)


def _inputs_digest(conn: sa.Connection, price_tolerance: Decimal,
                   limit_tolerance: Decimal) -> str:
    """What a build reads: the catalog's rows, the offering sources' rows, the intervals (`held`
    sees one begin or end since), and the tolerances."""
    return hashlib.sha256("\n".join((
        code_digest(), str(price_tolerance), str(limit_tolerance),
        table_stamp(conn, model_catalog), sources_stamp(conn, OFFERING_SOURCES),
        table_stamp(conn, prices))).encode()).hexdigest()


def _found(one: Disagreement) -> dict[str, Any]:
    slot = one.slot
    return {"field": slot.field, "mode": slot.mode, "region": slot.region,
            "min_prompt_tokens": slot.min_prompt_tokens, "window": slot.window,
            "unit": slot.unit, "values": one.values, "copies": one.copies or None,
            "relative_difference": one.relative_difference,
            "chosen_value": None if one.chosen_value is None else Decimal(one.chosen_value),
            "chosen_source": one.chosen_source, "chosen_by": one.chosen_by}


def disagreement_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every row, largest relative difference first."""
    with engine.connect() as conn:
        return largest_first(rows_of(conn, sa.select(table)))


def opened_since(engine: sa.Engine, since: datetime,
                 providers: Sequence[str] = ()) -> tuple[int, datetime]:
    """How many disagreements (of these providers) opened after `since` and are still open,
    and when the last one opened (`since` when none did)."""
    query = sa.select(sa.func.count()).select_from(table).where(table.c.state == OPEN,
                                                                 table.c.opened_at > since)
    if providers:
        query = query.where(table.c.provider.in_(list(providers)))
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(table.c.opened_at))).scalar()
        return conn.execute(query).scalar_one(), max(since, last or since)


def acknowledge(engine: sa.Engine, row_id: int, note: str, *, now: datetime) -> dict[str, Any]:
    """Mark a disagreement acknowledged with a note; a ValueError says why it cannot be."""
    with engine.begin() as conn:
        found = rows_of(conn, sa.select(table).where(table.c.id == row_id))
        if not found:
            raise ValueError(f"no disagreement {row_id}")
        row = found[0]
        if row["state"] == RESOLVED:
            raise ValueError(f"disagreement {row_id} is resolved: its sources agree again")
        conn.execute(sa.update(table).where(table.c.id == row_id)
                     .values(state=ACKNOWLEDGED, acknowledged_at=now, note=note))
    return {**row, "state": ACKNOWLEDGED, "acknowledged_at": now, "note": note}


def shown(value: Any, unit: str | None = None) -> str:
    """A value as text: decimals exact, token counts with separators."""
    if unit == "tokens":
        return f"{int(value):,}"
    return format_decimal(Decimal(value)) or ""


def describe_values(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{source}={shown(value, row['unit'])}"
                     for source, value in row["values"].items())


def percent(row: Mapping[str, Any]) -> str:
    relative = row["relative_difference"]
    return "free vs paid" if relative is None else f"{relative:.1%}"


def markdown_table(rows: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """The largest disagreements as a markdown table."""
    if not rows:
        return "No disagreement."
    lines = ["| offering | field | values by source | difference | catalog |",
             "|---|---|---|---|---|"]
    for r in rows[:limit]:
        chosen = (f"{shown(r['chosen_value'], r['unit'])} ({r['chosen_source']}, "
                  f"{r['chosen_by']})"
                  if r["chosen_value"] is not None else "none")
        lines.append(f"| {r['provider']}/{r['model_id']} | {r['slot']} | {describe_values(r)} "
                     f"| {percent(r)} | {chosen} |")
    if len(rows) > limit:
        lines.append(f"\n{len(rows) - limit:,} more not shown (`model-sync disagreements`).")
    return "\n".join(lines)
