"""Writes to the catalog: each publish is one transaction, so the previous rows stay in place
until the new ones are committed and a failed or interrupted sync never leaves a source
half-written or empty. What to write is planned by `history`; this executes the plan.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, cast

import sqlalchemy as sa

from model_sync.catalog import build_digests, bulk, digests
from model_sync.catalog.contract import (
    PRICE_FIELDS,
    REMOVED,
    STORED_OFFERING_COLUMNS,
    Offering,
    StoredOffering,
)
from model_sync.catalog.engine import rows_of, take_turns
from model_sync.catalog.history import (
    Plan,
    SyncStats,
    content_hash,
    plan_archive,
    plan_source,
)
from model_sync.catalog.overlay import overridden, override_key
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.previous import (
    KEYS_PER_QUERY,
    overridden_catalog,
    previous_state,
)
from model_sync.catalog.reconcile import Repair, plan_repair, suspects
from model_sync.catalog.schema import (
    catalog_changes,
    price_history,
    rejected_entries,
    source_offerings,
    sync_runs,
)
from model_sync.catalog.upsert import upsert
from model_sync.redact import redact

PLAN_ROWS = 20_000  # rows of a source planned and written at once


class CatalogWrites:
    """The writing half of `CatalogStore`: publishes, archiving, clean-up and run records."""

    engine: sa.Engine

    def publish_source(self, source: str, rows: Sequence[Offering], *, run_id: str | None,
                       started_at: datetime, now: datetime | None = None,
                       digest: str | None = None,
                       not_models: Sequence[tuple[str, str]] = ()) -> SyncStats:
        """Write what changed in a source, its events and price history, in one transaction.

        Unchanged rows are not written. Rows gone from the payload are marked removed, not
        deleted. `rows` must carry their `canonical_id`. `digest`: the payload's, when the sync
        was clean (nothing rejected), so that the same payload is not parsed again.
        """
        now = now or datetime.now(UTC)
        keys, hashes = [], []
        for row in rows:  # one pass: the rows may be packed (`model_sync.ingest.rows`)
            keys.append(row["source_key"])
            hashes.append(content_hash(row))
        with self.engine.begin() as conn:
            take_turns(conn, source)
            before = digests.rows_digest(conn, source)
            previous = previous_state(conn, source, keys, hashes)
            del keys
            last = self._last_success_at(conn, source)
            stats, seen = SyncStats(), set[str]()
            # A slice of rows at a time: the writes planned (stored columns, events, intervals)
            # of one slice are held at once, not of a million rows.
            for start in range(0, max(len(rows), 1), PLAN_ROWS):
                part = plan_source(source, previous, rows[start:start + PLAN_ROWS], now=now,
                                   run_id=run_id, last_sync=last,
                                   hashes=hashes[start:start + PLAN_ROWS], seen=seen,
                                   removals=start + PLAN_ROWS >= len(rows))
                self._apply(conn, part, source_offerings, STORED_OFFERING_COLUMNS, now)
                stats.add(part.stats)
                stats.wrote(part, len(rows))
                del part
            stats.stamps = before, digests.rows_digest(conn, source)
            self._record(conn, source, run_id, started_at, "success", len(rows), stats, None)
            digests.record(conn, source, digest, not_models, now)
        stats.hashes = hashes
        return stats

    def unchanged_payload(self, source: str, digest: str) -> dict[str, Any] | None:
        """What the last clean sync of `source` left, when it read the payload `digest` and the
        source's rows are still as it left them (see `digests`); else None."""
        with self.engine.connect() as conn:
            return digests.unchanged(conn, source, digest)

    def recorded_payload(self, source: str) -> str | None:
        """The digest of the payload the last clean sync of `source` read; None: none did."""
        with self.engine.connect() as conn:
            return digests.recorded(conn, source)

    def record_unchanged(self, source: str, rows: int, *, run_id: str | None,
                         started_at: datetime, fetched: int | None = None) -> SyncStats:
        """Record a sync (or catalog build) whose inputs were the last one's: nothing to write.
        `fetched`: the rows it read, when not `rows`."""
        stats = SyncStats(rows=rows, unchanged=rows, previous_rows=rows)
        with self.engine.begin() as conn:
            self._record(conn, source, run_id, started_at, "success",
                         rows if fetched is None else fetched, stats, None)
        return stats

    def archive_removed(self, *, now: datetime, grace_days: float,
                        run_id: str | None) -> SyncStats:
        """Archive every source row removed for longer than the grace period."""
        with self.engine.begin() as conn:
            for source in sorted({r["source"] for r in rows_of(
                    conn, sa.select(source_offerings.c.source).distinct())}):
                take_turns(conn, source)  # in order: no deadlock with the sources' own syncs
            removed = cast(list[StoredOffering], rows_of(conn, sa.select(source_offerings).where(
                source_offerings.c.state == REMOVED)))
            plan = plan_archive(removed, now=now, grace_days=grace_days, run_id=run_id)
            self._apply(conn, plan, source_offerings, STORED_OFFERING_COLUMNS, now)
        return plan.stats

    def reconcile_price_history(self, *, now: datetime, run_id: str | None) -> Repair:
        """Hold the price history to the rows it describes (see `reconcile`): close the open
        intervals no row has, or with other prices, and open the missing ones."""
        with self.engine.begin() as conn:
            for source in sorted({r["source"] for r in rows_of(
                    conn, sa.select(source_offerings.c.source).distinct())}):
                take_turns(conn, source)  # in order: no deadlock with the sources' own syncs
            overrides = [dict(r, source=OVERRIDE, source_key=override_key(r))
                         for r in overridden_catalog(conn)
                         if set(overridden(r)) & set(PRICE_FIELDS)]
            # The rows the database picks, and the overrides (which no source row holds):
            # their open intervals are among those picked, as intervals no row has.
            rows, intervals, total = suspects(conn)
            repair = plan_repair(chain(rows, overrides), intervals, now=now, run_id=run_id)
            repair.checked = total + len(overrides)
            self._apply(conn, Plan(close_prices=repair.close, open_prices=repair.open),
                        source_offerings, STORED_OFFERING_COLUMNS, now)
        return repair

    def update_canonical_ids(self, mapping: dict[tuple[str, str], str],
                             moved: dict[str, tuple[str, str]] | None = None) -> int:
        """Store new canonical ids of source rows (after new aliases or sources appeared);
        `moved` receives the rows digest of each source they changed, before and after."""
        table = source_offerings
        changed = []
        if not mapping:  # nothing moved: no row to read
            return 0
        with self.engine.begin() as conn:
            for source in sorted({source for source, _ in mapping}):
                take_turns(conn, source)  # in order: no deadlock with the sources' own syncs
            moving: dict[str, list[str]] = {}
            for source, key, canonical_id in conn.execute(
                    sa.select(table.c.source, table.c.source_key, table.c.canonical_id)):
                new = mapping.get((source, key))
                if new is not None and new != canonical_id:
                    moving.setdefault(source, []).append(key)
            for source, keys in moving.items():  # only these rows are read whole and re-hashed
                for start in range(0, len(keys), KEYS_PER_QUERY):
                    for row in rows_of(conn, sa.select(table).where(
                            table.c.source == source,
                            table.c.source_key.in_(keys[start:start + KEYS_PER_QUERY]))):
                        row["canonical_id"] = mapping[(source, row["source_key"])]
                        row["content_hash"] = content_hash(row)
                        changed.append(row)
            before = {source: digests.rows_digest(conn, source) for source in moving}
            if changed:
                upsert(conn, source_offerings, changed, ("source", "source_key"))
            for source in moving:
                digests.refresh(conn, source)
                after = digests.rows_digest(conn, source)
                # Price intervals do not read canonical ids: held to the rows, they still are.
                build_digests.follow(conn, build_digests.intervals_of(source), before[source],
                                     after)
                if moved is not None:
                    moved[source] = (before[source], after)
        return len(changed)

    def cleanup(self, *, now: datetime, retention_days: float) -> dict[str, int]:
        """Delete sync records, change events and rejected entries older than the retention
        (never prices)."""
        cutoff = now - timedelta(days=retention_days)
        with self.engine.begin() as conn:
            runs = conn.execute(sa.delete(sync_runs).where(sync_runs.c.started_at < cutoff))
            events = conn.execute(sa.delete(catalog_changes).where(
                catalog_changes.c.detected_at < cutoff))
            rejected = conn.execute(sa.delete(rejected_entries).where(
                rejected_entries.c.rejected_at < cutoff))
        return {"sync_runs": runs.rowcount, "catalog_changes": events.rowcount,
                "rejected_entries": rejected.rowcount}

    def record_rejections(self, source: str, rejected: Sequence[Any], *, run_id: str | None,
                          now: datetime) -> None:
        """Keep the entries a sync set aside (`Rejection`s), for people to look at."""
        if not rejected:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.insert(rejected_entries), [
                {"source": source, "source_key": r.source_key[:400], "reason": r.reason,
                 "field": r.field[:200] if r.field else None, "excerpt": r.excerpt,
                 "run_id": run_id, "rejected_at": now} for r in rejected])

    def record_failure(self, source: str, *, run_id: str | None, started_at: datetime,
                       status: str, error: str, rows_fetched: int | None = None) -> None:
        """Record a failed or blocked sync; the published rows are not touched."""
        with self.engine.begin() as conn:
            self._record(conn, source, run_id, started_at, status, rows_fetched, None, error)

    @staticmethod
    def _apply(conn: sa.Connection, plan: Plan, table: sa.Table, columns: Sequence[str],
               now: datetime) -> None:
        upsert(conn, table, plan.upserts, ("source", "source_key"), columns)
        if plan.removals:
            conn.execute(
                sa.update(table)
                .where(table.c.source == sa.bindparam("b_source"),
                       table.c.source_key == sa.bindparam("b_key"))
                .values(state=sa.bindparam("b_state"), removed_at=sa.bindparam("b_removed"),
                        archived_at=sa.bindparam("b_archived"),
                        last_seen_at=sa.bindparam("b_seen")),
                [{"b_source": r["source"], "b_key": r["source_key"], "b_state": r["state"],
                  "b_removed": r["removed_at"], "b_archived": r["archived_at"],
                  "b_seen": r["last_seen_at"]} for r in plan.removals],
            )
        if plan.close_prices:
            conn.execute(
                sa.update(price_history)
                .where(price_history.c.source == sa.bindparam("b_source"),
                       price_history.c.source_key == sa.bindparam("b_key"),
                       price_history.c.valid_to.is_(None))
                .values(valid_to=now),
                [{"b_source": source, "b_key": key} for source, key in plan.close_prices],
            )
        bulk.insert(conn, price_history, plan.open_prices)
        bulk.insert(conn, catalog_changes, plan.events)

    @staticmethod
    def _last_success_at(conn: sa.Connection, source: str) -> datetime | None:
        return conn.execute(
            sa.select(sa.func.max(sync_runs.c.started_at)).where(
                sync_runs.c.source == source, sync_runs.c.status == "success")
        ).scalar_one_or_none()

    @staticmethod
    def _record(conn: sa.Connection, source: str, run_id: str | None, started_at: datetime,
                status: str, rows_fetched: int | None, stats: SyncStats | None,
                error: str | None) -> None:
        conn.execute(sa.insert(sync_runs).values(
            run_id=run_id,
            source=source,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            status=status,
            rows_fetched=rows_fetched,
            rows_inserted=stats.added if stats else None,
            rows_updated=(stats.updated + stats.restored) if stats else None,
            rows_removed=stats.removed if stats else None,
            rows_repriced=stats.repriced if stats else None,
            error=redact(error)[:4000] if error else None,
        ))
