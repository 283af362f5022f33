"""A catalog build published as it is merged, in one transaction: the rows whose content changed
are written a chunk at a time, the rows no source describes any more are archived at the end,
and what the audit and the asset's metadata read of the rows is tallied (`Tally`). The caller
audits before the commit: a blocked build rolls back, and nothing of it is published.
"""

from collections import ChainMap, Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from model_sync.catalog import CATALOG
from model_sync.catalog.contract import (
    ACTIVE,
    ARCHIVED,
    CATALOG_COLUMNS,
    PRICE_FIELDS,
    STORED_OFFERING_COLUMNS,
    UNLISTED,
    CatalogRow,
)
from model_sync.catalog.engine import rows_of, take_turns
from model_sync.catalog.grouped import mappings
from model_sync.catalog.history import CATALOG_LIFECYCLE, Stored, SyncStats, content_hash
from model_sync.catalog.merge import (
    CONTEXT_MAX,
    CONTEXT_MIN,
    PLAUSIBLE_MAX_PRICE,
    catalog_key,
    merge_groups,
)
from model_sync.catalog.overlay import Outcome, apply_overrides, plan_overrides
from model_sync.catalog.overrides import Overrides
from model_sync.catalog.previous import KEYS_PER_QUERY, overridden_catalog
from model_sync.catalog.providers import canonical_provider
from model_sync.catalog.schema import model_catalog, source_offerings
from model_sync.catalog.sourced import Sourced
from model_sync.catalog.upsert import upsert
from model_sync.catalog.writes import CatalogWrites

CHUNK = 5000  # rows written at a time
PREVIEW_ROWS = 10
Key = tuple[str, str]


class Blocked(Exception):
    """The audit blocked a build: raised inside its transaction, its writes roll back."""


def may_be_named(row: Mapping[str, Any]) -> bool:
    """Whether a catalog rule may name the row: what any of them flags, and more."""
    if any(row.get(p) is not None and not 0 <= row[p] <= PLAUSIBLE_MAX_PRICE
           for p in PRICE_FIELDS):
        return True
    if "implausible_price" in (row.get("price_flags") or ()):
        return True
    if row.get("input_price") is not None and row.get("output_price") is None:
        return True
    window, output = row.get("context_window"), row.get("max_output_tokens")
    if (window is not None and not CONTEXT_MIN <= window <= CONTEXT_MAX) or (
            output is not None and output > CONTEXT_MAX):
        return True
    return bool((row.get("field_sources") or {}).get("withheld"))


def _in_order(rows: Iterable[CatalogRow]) -> list[CatalogRow]:
    return sorted(rows, key=lambda r: (r["provider"], r["model_id"]))


def stored_catalog_rows(conn: sa.Connection, keys: Sequence[Key],
                        columns: list) -> dict[Key, dict[str, Any]]:
    """Stored catalog rows (their `columns`) by provider and model id as stored."""
    table, found = model_catalog, {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        match = sa.tuple_(table.c.provider, table.c.model_id).in_(
            keys[start:start + KEYS_PER_QUERY])
        for row in rows_of(conn, sa.select(*columns).where(match)):
            found[(row["provider"], row["model_id"])] = row
    return found


@dataclass
class Tally:
    """What the audit and the metadata read of a build's rows: counts, the first served rows
    and the rows a rule may name, in catalog order."""

    rows: int = 0
    served: int = 0  # all but unlisted: what is published as served
    active: int = 0
    unpriced: int = 0  # active rows without prices
    providers: set[str] = field(default_factory=set)  # of the active rows
    by_price_source: Counter = field(default_factory=Counter)  # active rows, "unpriced" for none
    first: list[CatalogRow] = field(default_factory=list)
    noted: list[CatalogRow] = field(default_factory=list)

    def add(self, row: CatalogRow) -> None:
        self.rows += 1
        if may_be_named(row):
            self.noted.append(row)
        if row["state"] == UNLISTED:
            return
        self.served += 1
        self.first.append(row)
        if len(self.first) > 8 * PREVIEW_ROWS:
            self.first = _in_order(self.first)[:PREVIEW_ROWS]
        if row["state"] == ACTIVE:
            self.active += 1
            self.providers.add(row["provider"])
            self.by_price_source[row["price_source"] or "unpriced"] += 1
            self.unpriced += row["price_source"] is None

    def done(self) -> "Tally":
        self.first, self.noted = _in_order(self.first)[:PREVIEW_ROWS], _in_order(self.noted)
        return self

    def summary(self) -> dict[str, Any]:
        """The tally as JSON, its rows by key: what a build whose inputs did not change
        restores it from (`restored`) instead of reading every catalog row again."""
        return {"rows": self.rows, "served": self.served, "active": self.active,
                "unpriced": self.unpriced, "providers": sorted(self.providers),
                "by_price_source": dict(self.by_price_source),
                "first": [[r["provider"], r["model_id"]] for r in self.first],
                "noted": [[r["provider"], r["model_id"]] for r in self.noted]}

    @classmethod
    def as_built(cls, conn: sa.Connection, summary: Mapping[str, Any] | None) -> "Tally":
        """The tally of the stored catalog: from the last build's `summary` when it has one,
        else from every row read again."""
        tally = None if summary is None else cls.restored(summary, conn)
        if tally is None:
            tally = cls()
            for row in mappings(conn, sa.select(model_catalog).where(
                    model_catalog.c.state != ARCHIVED)):
                tally.add(row)  # type: ignore[arg-type]
            tally.done()
        return tally

    @classmethod
    def restored(cls, summary: Mapping[str, Any], conn: sa.Connection) -> "Tally | None":
        """The tally a `summary` stands for, its rows read by key; None when one is missing."""
        keys = sorted({(p, m) for p, m in (*summary["first"], *summary["noted"])})
        found = cast(dict[Key, CatalogRow], stored_catalog_rows(conn, keys, [model_catalog]))
        if len(found) < len(keys):
            return None
        return cls(rows=summary["rows"], served=summary["served"], active=summary["active"],
                   unpriced=summary["unpriced"], providers=set(summary["providers"]),
                   by_price_source=Counter(summary["by_price_source"]),
                   first=[found[(p, m)] for p, m in summary["first"]],
                   noted=[found[(p, m)] for p, m in summary["noted"]])

    @property
    def noted_served(self) -> list[CatalogRow]:
        return [r for r in self.noted if r["state"] != UNLISTED]

    @property
    def noted_active(self) -> list[CatalogRow]:
        return [r for r in self.noted if r["state"] == ACTIVE]


class CatalogPublish:
    """The publish of one build, fed its rows one at a time (`add`), inside the transaction
    of `conn`: the rows whose content (lifecycle included) changed are written, the rows no
    source describes any more archived.

    Rows are matched as the merge groups them, ignoring the model id's case, by key and
    content hash; a row whose winning spelling changed is renamed in place (not archived and
    re-added). The stored prices are read only of the rows that changed (the repriced count).
    """

    def __init__(self, conn: sa.Connection, *, now: datetime):
        take_turns(conn, CATALOG)
        self.conn, self.now, self.stats = conn, now, SyncStats()
        self.overridden = overridden_catalog(conn)  # as stored, before this build writes
        self.previous: dict[Key, tuple[str, str, str]] = {}  # hash, state, model id
        self.pending: list[tuple[Stored, tuple[str, str, str] | None]] = []
        self.changes: list[tuple[Key, dict[str, Any]]] = []
        table = model_catalog
        for provider, model_id, state, digest in conn.execute(sa.select(
                table.c.provider, table.c.model_id, table.c.state, table.c.content_hash)
                .order_by(table.c.provider, table.c.model_id)):
            key = catalog_key(provider, model_id)
            # Of two stored spellings of one key (older databases), the unarchived one matches.
            if state != ARCHIVED or self.previous.get(key, ("", ARCHIVED))[1] == ARCHIVED:
                self.previous[key] = (digest, state, model_id)
            self.stats.previous_rows += state not in (ARCHIVED, UNLISTED)

    def add(self, built: CatalogRow) -> None:
        """Write the row when its content (lifecycle included) changed."""
        digest = content_hash(built, keep=CATALOG_LIFECYCLE)
        old = self.previous.pop(catalog_key(built["provider"], built["model_id"]), None)
        served = built["state"] != UNLISTED
        self.stats.rows += served
        if old is not None and old[0] == digest:
            self.stats.unchanged += served
            return
        row: Stored = ChainMap({"content_hash": digest, "updated_at": self.now},
                               built)  # type: ignore[arg-type]
        self.pending.append((row, old))
        if len(self.pending) >= CHUNK:
            self._flush()

    def finish(self) -> SyncStats:
        """Write the rest, archive the rows no source describes any more; the stats."""
        self._flush()
        gone = [(provider, model_id) for (provider, _), (_, state, model_id)
                in self.previous.items() if state != ARCHIVED]
        archived = [dict(old, state=ARCHIVED, archived_at=self.now, updated_at=self.now)
                    for old in stored_catalog_rows(self.conn, gone, [model_catalog]).values()]
        upsert(self.conn, model_catalog, archived, ("provider", "model_id"), CATALOG_COLUMNS)
        self.stats.removed += len(archived)
        self.stats.price_changes = [change for _, change in sorted(
            self.changes, key=lambda pair: pair[0])]
        return self.stats

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        table, stats = model_catalog, self.stats
        spelt = [(row["provider"], old[2]) for row, old in pending if old is not None]
        stored = stored_catalog_rows(self.conn, spelt, [table.c.provider, table.c.model_id,
                                      *(table.c[p] for p in PRICE_FIELDS)])
        renamed = [{"b_provider": row["provider"], "b_model": old[2]} for row, old in pending
                   if old is not None and old[2] != row["model_id"]]
        if renamed:
            self.conn.execute(sa.delete(table).where(
                table.c.provider == sa.bindparam("b_provider"),
                table.c.model_id == sa.bindparam("b_model")), renamed)
        upsert(self.conn, table, [row for row, _ in pending], ("provider", "model_id"),
               CATALOG_COLUMNS)
        for built, old in pending:
            if built["state"] == UNLISTED:
                continue
            if old is None:
                stats.added += 1
                continue
            stats.updated += 1
            if old[1] != ACTIVE and built["state"] == ACTIVE:
                stats.restored += 1
            before = stored[(built["provider"], old[2])]
            if any(before[p] != built[p] for p in PRICE_FIELDS):
                stats.repriced += 1
                self.changes.append(((built["provider"], built["model_id"]), {
                    "key": f"{built['provider']}/{built['model_id']}",
                    **{p: (before[p], built[p]) for p in PRICE_FIELDS}}))

    @property
    def overridden_keys(self) -> set[Key]:
        """The offerings whose stored row an override set: held for `overrides`."""
        return {catalog_key(r["provider"], r["model_id"]) for r in self.overridden}

    def overrides(self, rows: Sequence[CatalogRow], merged: Mapping[Key, Mapping[str, Any]],
                  *, run_id: str | None) -> None:
        """Record what overrides changed (`overlay.plan_overrides`): `rows` are the build's rows
        of the offerings overridden now or before."""
        plan = plan_overrides(self.overridden, rows, merged, now=self.now, run_id=run_id)
        CatalogWrites._apply(self.conn, plan, source_offerings, STORED_OFFERING_COLUMNS,
                             self.now)

    def record(self, *, run_id: str | None, started_at: datetime, rows: int) -> None:
        """The build's line in `sync_runs`."""
        CatalogWrites._record(self.conn, CATALOG, run_id, started_at, "success", rows,
                              self.stats, None)


def publish_merged(groups: Iterable[Sequence[Mapping[str, Any]]], sourced: Sourced,
                   publish: CatalogPublish, tally: Tally, overrides: Overrides | None, *,
                   run_id: str | None) -> tuple[SyncStats, Outcome]:
    """Merge the groups of source rows and write the catalog rows as they come, tallied; the
    rows of offerings overridden (now or before) are held until every row is merged, then the
    overrides are applied to them."""
    hold = publish.overridden_keys | {
        catalog_key(p, item.model) for item in (overrides.entries if overrides else ())
        for p in (item.provider, canonical_provider(item.provider)) if p}
    held = []
    for row in merge_groups(groups, provider_sources=sourced.provider_sources,
                            built_at=publish.now, listing=sourced.listing):
        if catalog_key(row["provider"], row["model_id"]) in hold:
            held.append(row)
            continue
        tally.add(row)
        publish.add(row)
    outcome = apply_overrides(held, sourced.described, overrides, now=publish.now)
    for row in held:
        tally.add(row)
        publish.add(row)
    publish.overrides(held, outcome.merged, run_id=run_id)
    stats = publish.finish()
    tally.done()
    return stats, outcome
