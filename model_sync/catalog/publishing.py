"""A catalog build published as it is merged, in one transaction: the rows whose content changed
are written a chunk at a time, the rows no source describes any more are archived at the end;
the offerings whose inputs did not change are kept as stored, unmerged. The caller tallies and
audits before the commit (`tally`): a blocked build rolls back, and nothing of it is published.
"""

from collections import ChainMap, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from model_sync.catalog import CATALOG, stamps
from model_sync.catalog.contract import (
    ACTIVE,
    ARCHIVED,
    CATALOG_COLUMNS,
    PRICE_FIELDS,
    STORED_OFFERING_COLUMNS,
    UNLISTED,
    CatalogRow,
)
from model_sync.catalog.engine import take_turns
from model_sync.catalog.history import CATALOG_LIFECYCLE, Stored, SyncStats, content_hash
from model_sync.catalog.inputs import KEPT
from model_sync.catalog.merge import catalog_key, merge_groups
from model_sync.catalog.overlay import Outcome, apply_overrides, plan_overrides
from model_sync.catalog.overrides import Overrides
from model_sync.catalog.previous import overridden_catalog
from model_sync.catalog.providers import canonical_provider
from model_sync.catalog.schema import model_catalog, source_offerings
from model_sync.catalog.sourced import Group, Sourced
from model_sync.catalog.tally import Key, stored_catalog_rows
from model_sync.catalog.upsert import upsert
from model_sync.catalog.writes import CatalogWrites

CHUNK = 5000  # rows written at a time
WRITTEN = [*CATALOG_COLUMNS, "inputs_hash"]


class Blocked(Exception):
    """The audit blocked a build: raised inside its transaction, its writes roll back."""


class CatalogPublish:
    """The publish of one build, fed its rows one at a time (`add`), inside the transaction
    of `conn`: the rows whose content (lifecycle included) changed are written, the offerings
    whose inputs did not change kept as stored (`keep_unchanged`), the rows no source describes
    any more archived.

    Rows are matched as the merge groups them, ignoring the model id's case, by key and
    content hash; a row whose winning spelling changed is renamed in place (not archived and
    re-added). The stored prices are read only of the rows that changed (the repriced count).
    """

    def __init__(self, conn: sa.Connection, *, now: datetime):
        take_turns(conn, CATALOG)
        self.conn, self.now, self.stats = conn, now, SyncStats()
        self.overridden = overridden_catalog(conn)  # as stored, before this build writes
        self.previous: dict[Key, tuple[str, str, str]] = {}  # hash, state, model id
        self.inputs: dict[Key, str] = {}  # of the unarchived rows, what they were merged from
        self.pending: list[tuple[Stored, tuple[str, str, str] | None]] = []
        self.rehashed: list[dict[str, str]] = []  # rows whose inputs alone changed
        self.changes: list[tuple[Key, dict[str, Any]]] = []
        table = model_catalog
        for provider, model_id, state, digest, inputs in conn.execute(sa.select(
                table.c.provider, table.c.model_id, table.c.state, table.c.content_hash,
                table.c.inputs_hash).order_by(table.c.provider, table.c.model_id)):
            key = catalog_key(provider, model_id)
            # Of two stored spellings of one key (older databases), the unarchived one matches.
            if state != ARCHIVED or self.previous.get(key, ("", ARCHIVED))[1] == ARCHIVED:
                self.previous[key] = (digest, state, model_id)
                self.inputs.pop(key, None)
                if state != ARCHIVED and inputs is not None:
                    self.inputs[key] = inputs
            self.stats.previous_rows += state not in (ARCHIVED, UNLISTED)

    def add(self, built: CatalogRow, inputs: str | None) -> None:
        """Write the row when its content (lifecycle included) changed; `inputs`: the hash of
        what it was merged from (None: merge it again next time)."""
        key = catalog_key(built["provider"], built["model_id"])
        digest = content_hash(built, keep=CATALOG_LIFECYCLE)
        old = self.previous.pop(key, None)
        served = built["state"] != UNLISTED
        self.stats.rows += served
        if old is not None and old[0] == digest:
            self.stats.unchanged += served
            if self.inputs.get(key) not in (KEPT, inputs):  # KEPT: hashed alike already
                self.rehashed.append({"b_provider": built["provider"], "b_model": old[2],
                                      "inputs_hash": inputs})  # type: ignore[dict-item]
            return
        row: Stored = ChainMap({"content_hash": digest, "updated_at": self.now,
                                "inputs_hash": inputs}, built)  # type: ignore[arg-type]
        self.pending.append((row, old))
        if len(self.pending) >= CHUNK:
            self._flush()

    def keep_unchanged(self) -> None:
        """The offerings whose inputs hash `Sourced.changed` marked KEPT: their stored rows
        stand as they are."""
        for key, inputs in self.inputs.items():
            if inputs == KEPT:
                served = self.previous.pop(key)[1] != UNLISTED
                self.stats.rows += served
                self.stats.unchanged += served

    def finish(self) -> SyncStats:
        """Write the rest, archive the rows no source describes any more; the stats."""
        self._flush()
        if self.rehashed:  # the build's own bookkeeping: nothing downstream reads it
            table = model_catalog
            with stamps.unstamped(self.conn) as conn:
                conn.execute(sa.update(table).where(
                    table.c.provider == sa.bindparam("b_provider"),
                    table.c.model_id == sa.bindparam("b_model")), self.rehashed)
        gone = [(provider, model_id) for (provider, _), (_, state, model_id)
                in self.previous.items() if state != ARCHIVED]
        archived = [dict(old, state=ARCHIVED, archived_at=self.now, updated_at=self.now,
                         inputs_hash=None)
                    for old in stored_catalog_rows(self.conn, gone, [model_catalog]).values()]
        upsert(self.conn, model_catalog, archived, ("provider", "model_id"), WRITTEN)
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
               WRITTEN)
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


def publish_merged(groups: Iterable[Group], sourced: Sourced, publish: CatalogPublish,
                   overrides: Overrides | None, *, run_id: str | None
                   ) -> tuple[SyncStats, Outcome]:
    """Merge the groups of source rows (each with its inputs hash) and write the catalog rows
    as they come; the rows of offerings overridden (now or before) are held until every row is
    merged, then the overrides are applied to them (and they keep no inputs hash: an override
    is not among a row's inputs)."""
    hold = publish.overridden_keys | {
        catalog_key(p, item.model) for item in (overrides.entries if overrides else ())
        for p in (item.provider, canonical_provider(item.provider)) if p}
    held = []
    hashes: deque[str] = deque()

    def unhashed():
        for digest, rows in groups:
            hashes.append(digest)
            yield rows

    for row in merge_groups(unhashed(), provider_sources=sourced.provider_sources,
                            built_at=publish.now, listing=sourced.listing):
        digest = hashes.popleft()  # one row per group, in order
        if catalog_key(row["provider"], row["model_id"]) in hold:
            held.append(row)
            continue
        publish.add(row, digest)
    outcome = apply_overrides(held, sourced.described, overrides, now=publish.now)
    for row in held:
        publish.add(row, None)
    publish.overrides(held, outcome.merged, run_id=run_id)
    return publish.finish(), outcome
