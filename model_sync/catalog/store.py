"""Storage of the catalog with SQLAlchemy: SQLite by default, PostgreSQL when configured.

Every publish is one transaction: the previous rows stay in place until the new ones are
committed, so a failed or interrupted sync never leaves a source half-written or empty.
"""

import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from model_sync.catalog import CATALOG
from model_sync.catalog.history import (
    ACTIVE,
    ARCHIVED,
    CATALOG_LIFECYCLE,
    EVENT_FIELDS,
    REMOVED,
    UNLISTED,
    Plan,
    SyncStats,
    content_hash,
    plan_archive,
    plan_source,
)
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.schema import (
    CATALOG_COLUMNS,
    MODEL_COLUMNS,
    PRICE_FIELDS,
    STORED_OFFERING_COLUMNS,
    catalog_changes,
    metadata,
    model_catalog,
    models,
    price_history,
    rejected_entries,
    source_offerings,
    sync_runs,
)
from model_sync.catalog.upsert import upsert
from model_sync.redact import redact

DATABASE_URL_ENV = "MODEL_SYNC_DATABASE_URL"
DEFAULT_DATABASE_PATH = Path("data") / "model_sync.db"
# Columns of a stored row that a diff reads (see `history.plan_source`).
PREVIOUS_STATE_COLUMNS = (
    "source", "source_key", "provider", "model_id", "canonical_id", "state", "content_hash",
    "first_seen_at", "last_seen_at", "removed_at", "archived_at", *EVENT_FIELDS,
)
__all__ = ["CatalogStore", "CatalogUnavailable", "SyncStats", "content_hash",
           "default_database_url", "make_engine"]


class CatalogUnavailable(RuntimeError):
    """The catalog database cannot be opened or written: unreachable, refused, read-only."""


def default_database_url() -> str:
    """The embedded default: a SQLite file `data/model_sync.db` under the working directory."""
    return f"sqlite:///{DEFAULT_DATABASE_PATH.resolve()}"


def make_engine(url: str) -> sa.Engine:
    """An engine for the catalog; SQLite gets WAL, a busy timeout and immediate write locks,
    PostgreSQL named, health-checked connections."""
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            folder = Path(database).parent
            if folder.exists() and not folder.is_dir():
                raise NotADirectoryError(f"{folder} is not a directory")
            folder.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # let the "begin" hook issue BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=60000")
            _enable_wal(cursor)
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    options: dict[str, Any] = {"pool_pre_ping": True}  # survive server restarts and idle drops
    if sa.make_url(url).get_backend_name() == "postgresql":
        # Name the connections in pg_stat_activity; recycle them before proxies drop them.
        options |= {"connect_args": {"application_name": "model_sync"}, "pool_recycle": 1800}
    return sa.create_engine(url, **options)


def _shown(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(an unreadable URL)"


def _cause(exc: BaseException) -> str:
    """The database's own words, first line only, without SQLAlchemy's boilerplate."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def _enable_wal(cursor, attempts: int = 100) -> None:
    """Switch a SQLite database to WAL (once per file: the mode is persistent).

    The switch needs the file to itself and does not wait on the busy timeout: processes opening
    a new database at once retry it instead of failing with "database is locked".
    """
    for attempt in range(attempts):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _take_turns(conn: sa.Connection, name: str) -> None:
    """Serialize the writers of one source (or of the catalog) until the transaction ends.

    Two syncs of one source at once would otherwise both replace its rows from the same previous
    state, and the second insert would hit the first's keys. SQLite already takes turns: every
    transaction begins with BEGIN IMMEDIATE. PostgreSQL gets a transaction-level advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                     {"name": f"model_sync/{name}"})


class CatalogStore:
    """Reads and writes the catalog tables through one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None) -> "CatalogStore":
        """Open the catalog at `url` and bring its schema up to date; a database that cannot
        be reached or written is a `CatalogUnavailable` naming it (without its password)."""
        url = url or default_database_url()
        try:
            store = cls(make_engine(url))
            store.create_schema()
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.ArgumentError,
                OSError) as exc:
            raise CatalogUnavailable(
                f"cannot open the catalog database {_shown(url)}: {_cause(exc)}") from None
        return store

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def create_schema(self) -> None:
        """Create the tables, or upgrade them to the newest schema revision (Alembic)."""
        from model_sync.catalog.migrations import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- reads -----------------------------------------------------------------------------------

    def source_rows(self, source: str, conn: sa.Connection | None = None, *,
                    active_only: bool = False) -> list[dict[str, Any]]:
        """A source's stored rows (all states, or only the active ones)."""
        query = sa.select(source_offerings).where(source_offerings.c.source == source)
        if active_only:
            query = query.where(source_offerings.c.state == ACTIVE)
        return self._rows(query.order_by(source_offerings.c.source_key), conn)

    def source_count(self, source: str) -> int:
        """The number of rows a source currently lists (active rows)."""
        query = sa.select(sa.func.count()).select_from(source_offerings).where(
            source_offerings.c.source == source, source_offerings.c.state == ACTIVE)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def catalog_count(self) -> int:
        """The number of offerings the catalog serves (active rows: not removed, archived or
        unlisted)."""
        query = sa.select(sa.func.count()).select_from(model_catalog).where(
            model_catalog.c.state == ACTIVE)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def offerings(self, sources: Sequence[str] | None = None, *,
                  include_archived: bool = False) -> list[dict[str, Any]]:
        """Source rows for the catalog: active and removed (in their grace period)."""
        query = sa.select(source_offerings).order_by(source_offerings.c.source,
                                                     source_offerings.c.source_key)
        if sources is not None:
            query = query.where(source_offerings.c.source.in_(list(sources)))
        if not include_archived:
            query = query.where(source_offerings.c.state != ARCHIVED)
        return self._rows(query)

    def hugging_face_ids(self, exclude_source: str | None = None) -> list[str]:
        """The distinct Hugging Face repositories the sources' rows name, most wanted first.

        Callers read only the first few hundred, so the order decides which repositories are
        looked up: first those named by more sources; among those named by as many, those named
        by the most selective source (the one naming the fewest repositories: OpenRouter's few
        hundred before Featherless' tens of thousands, which name nearly every Hub model); then
        by id. Spellings that differ only in case are one repository (the first spelling in
        sort order is returned).
        """
        column = source_offerings.c.hugging_face_id
        query = sa.select(source_offerings.c.source, column).distinct().where(
            column.is_not(None), column != "", source_offerings.c.state != ARCHIVED)
        if exclude_source:
            query = query.where(source_offerings.c.source != exclude_source)
        with self.engine.connect() as conn:
            pairs = conn.execute(query).all()
        named_by: dict[str, set[str]] = {}  # repository (case-folded) -> the sources naming it
        spelling: dict[str, str] = {}
        for source, repo in pairs:
            key = repo.casefold()
            named_by.setdefault(key, set()).add(source)
            spelling[key] = min(spelling.get(key, repo), repo)
        breadth: dict[str, int] = {}  # source -> how many repositories it names
        for sources in named_by.values():
            for source in sources:
                breadth[source] = breadth.get(source, 0) + 1
        order = sorted(named_by, key=lambda k: (-len(named_by[k]),
                                                min(breadth[s] for s in named_by[k]), k))
        return [spelling[k] for k in order]

    def identity_rows(self) -> list[dict[str, Any]]:
        """The columns identity resolution reads of other rows (`Resolver` builds its index of
        known ids from them), for every listed row."""
        query = sa.select(source_offerings.c.source, source_offerings.c.model_id,
                          source_offerings.c.hugging_face_id, source_offerings.c.name).where(
            source_offerings.c.state != ARCHIVED)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def catalog_rows(self, conn: sa.Connection | None = None, *, active_only: bool = False,
                     include_unlisted: bool = False,
                     include_archived: bool = False) -> list[dict[str, Any]]:
        """Catalog rows; `active_only` leaves out archived and unlisted ones unless included
        (removed ones stay, flagged)."""
        query = sa.select(model_catalog).order_by(model_catalog.c.provider,
                                                  model_catalog.c.model_id)
        if active_only:
            left_out = [state for state, kept in ((ARCHIVED, include_archived),
                                                  (UNLISTED, include_unlisted)) if not kept]
            if left_out:
                query = query.where(model_catalog.c.state.not_in(left_out))
        return self._rows(query, conn)

    def catalog_frame(self, *, active_only: bool = True,
                      include_unlisted: bool = False) -> pd.DataFrame:
        rows = self.catalog_rows(active_only=active_only, include_unlisted=include_unlisted)
        return pd.DataFrame(rows, columns=CATALOG_COLUMNS)

    def model_rows(self) -> list[dict[str, Any]]:
        return self._rows(sa.select(models).order_by(models.c.canonical_id))

    def changes(self, *, source: str | None = None, since: datetime | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Change events, oldest first."""
        query = sa.select(catalog_changes).order_by(catalog_changes.c.id)
        if source:
            query = query.where(catalog_changes.c.source == source)
        if since:
            query = query.where(catalog_changes.c.detected_at >= since)
        return self._rows(query.limit(limit) if limit else query)

    def price_intervals(self, *, source: str | None = None, provider: str | None = None,
                        model_id: str | None = None) -> list[dict[str, Any]]:
        """Price history intervals, oldest first."""
        query = sa.select(price_history).order_by(price_history.c.source,
                                                  price_history.c.source_key,
                                                  price_history.c.id)
        for column, value in (("source", source), ("provider", provider),
                              ("model_id", model_id)):
            if value is not None:
                query = query.where(price_history.c[column] == value)
        return self._rows(query)

    def sync_history(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
        if source:
            query = query.where(sync_runs.c.source == source)
        return self._rows(query.limit(limit))

    def recorded_sources(self, run_id: str) -> set[str]:
        """The sources (and the catalog) whose attempt in this run is recorded in sync_runs."""
        query = sa.select(sync_runs.c.source).where(sync_runs.c.run_id == run_id).distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def table_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in metadata.sorted_tables}

    def _rows(self, query, conn: sa.Connection | None = None) -> list[dict[str, Any]]:
        if conn is not None:
            return [dict(r._mapping) for r in conn.execute(query)]
        with self.engine.connect() as own:
            return [dict(r._mapping) for r in own.execute(query)]

    # -- writes ----------------------------------------------------------------------------------

    def publish_source(self, source: str, rows: list[dict[str, Any]], *, run_id: str | None,
                       started_at: datetime, now: datetime | None = None) -> SyncStats:
        """Write what changed in a source, its events and price history, in one transaction.

        Unchanged rows are not written. Rows gone from the payload are marked removed, not
        deleted. `rows` must carry their `canonical_id`.
        """
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            _take_turns(conn, source)
            previous = self._previous_state(conn, source)
            last = self._last_success_at(conn, source)
            plan = plan_source(source, previous, rows, now=now, run_id=run_id, last_sync=last)
            self._apply(conn, plan, source_offerings, STORED_OFFERING_COLUMNS, now)
            self._record(conn, source, run_id, started_at, "success", len(rows), plan.stats,
                         None)
        return plan.stats

    def archive_removed(self, *, now: datetime, grace_days: float,
                        run_id: str | None) -> SyncStats:
        """Archive every source row removed for longer than the grace period."""
        with self.engine.begin() as conn:
            for source in sorted({r["source"] for r in self._rows(
                    sa.select(source_offerings.c.source).distinct(), conn)}):
                _take_turns(conn, source)  # in order: no deadlock with the sources' own syncs
            removed = self._rows(sa.select(source_offerings).where(
                source_offerings.c.state == REMOVED), conn)
            plan = plan_archive(removed, now=now, grace_days=grace_days, run_id=run_id)
            self._apply(conn, plan, source_offerings, STORED_OFFERING_COLUMNS, now)
        return plan.stats

    def update_canonical_ids(self, mapping: dict[tuple[str, str], str]) -> int:
        """Store new canonical ids of source rows (after new aliases or sources appeared)."""
        changed = []
        with self.engine.begin() as conn:
            for source in sorted({source for source, _ in mapping}):
                _take_turns(conn, source)  # in order: no deadlock with the sources' own syncs
            for row in self._rows(sa.select(source_offerings), conn):
                new = mapping.get((row["source"], row["source_key"]))
                if new is not None and new != row["canonical_id"]:
                    row["canonical_id"] = new
                    row["content_hash"] = content_hash(row)
                    changed.append(row)
            if changed:
                upsert(conn, source_offerings, changed, ("source", "source_key"))
        return len(changed)

    def publish_catalog(self, rows: list[dict[str, Any]], *, run_id: str | None,
                        started_at: datetime, now: datetime | None = None) -> SyncStats:
        """Write the catalog rows that changed; rows no source lists any more are archived."""
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            _take_turns(conn, CATALOG)
            # Rows are matched as the merge groups them, ignoring the model id's case; a row
            # whose winning spelling changed is renamed in place (not archived and re-added).
            # Of two stored spellings of one key (older databases), the unarchived one matches.
            stored = sorted(self.catalog_rows(conn), key=lambda r: r["state"] != ARCHIVED)
            previous = {catalog_key(r["provider"], r["model_id"]): r for r in stored}
            # The counts are of what is published as served: unlisted rows are written but not
            # counted (the catalog's metadata counts them apart).
            stats = SyncStats(rows=sum(1 for r in rows if r["state"] != UNLISTED),
                              previous_rows=sum(1 for r in stored
                                                if r["state"] not in (ARCHIVED, UNLISTED)))
            writes, renamed = [], []
            for row in rows:
                row = dict(row, content_hash=content_hash(row, keep=CATALOG_LIFECYCLE))
                old = previous.pop(catalog_key(row["provider"], row["model_id"]), None)
                served = row["state"] != UNLISTED
                if old is not None and old["content_hash"] == row["content_hash"]:
                    if served:
                        stats.unchanged += 1
                    continue
                row["updated_at"] = now
                writes.append(row)
                if old is not None and old["model_id"] != row["model_id"]:
                    renamed.append({"b_provider": old["provider"], "b_model": old["model_id"]})
                if not served:
                    continue
                if old is None:
                    stats.added += 1
                    continue
                stats.updated += 1
                if old["state"] != ACTIVE and row["state"] == ACTIVE:
                    stats.restored += 1
                if any(old[p] != row[p] for p in PRICE_FIELDS):
                    stats.repriced += 1
                    stats.price_changes.append({"key": f"{row['provider']}/{row['model_id']}",
                                                **{p: (old[p], row[p]) for p in PRICE_FIELDS}})
            for old in previous.values():  # no source describes it any more
                if old["state"] != ARCHIVED:
                    writes.append(dict(old, state=ARCHIVED, archived_at=now, updated_at=now))
                    stats.removed += 1
            if renamed:
                conn.execute(sa.delete(model_catalog).where(
                    model_catalog.c.provider == sa.bindparam("b_provider"),
                    model_catalog.c.model_id == sa.bindparam("b_model")), renamed)
            upsert(conn, model_catalog, [{c: r.get(c) for c in CATALOG_COLUMNS} for r in writes],
                   ("provider", "model_id"))
            self._record(conn, CATALOG, run_id, started_at, "success", len(rows), stats, None)
        return stats

    def publish_models(self, rows: list[dict[str, Any]], *, now: datetime | None = None) -> int:
        """Write the models rollup rows that changed and drop the models no offering serves."""
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            previous = {r["canonical_id"]: r["content_hash"] for r in conn.execute(
                sa.select(models.c.canonical_id, models.c.content_hash)).mappings()}
            writes = []
            for row in rows:
                digest = content_hash(row)
                if previous.pop(row["canonical_id"], None) != digest:
                    writes.append({**{c: row.get(c) for c in MODEL_COLUMNS},
                                   "content_hash": digest, "updated_at": now})
            upsert(conn, models, writes, ("canonical_id",))
            if previous:
                conn.execute(sa.delete(models).where(models.c.canonical_id.in_(list(previous))))
        return len(writes) + len(previous)

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

    def rejections(self, source: str | None = None, *,
                   run_id: str | None = None) -> list[dict[str, Any]]:
        """Rejected entries, newest first."""
        query = sa.select(rejected_entries).order_by(rejected_entries.c.id.desc())
        if source:
            query = query.where(rejected_entries.c.source == source)
        if run_id:
            query = query.where(rejected_entries.c.run_id == run_id)
        return self._rows(query)

    def record_failure(self, source: str, *, run_id: str | None, started_at: datetime,
                       status: str, error: str, rows_fetched: int | None = None) -> None:
        """Record a failed or blocked sync; the published rows are not touched."""
        with self.engine.begin() as conn:
            self._record(conn, source, run_id, started_at, status, rows_fetched, None, error)

    @staticmethod
    def _apply(conn: sa.Connection, plan: Plan, table: sa.Table, columns: Sequence[str],
               now: datetime) -> None:
        upsert(conn, table, [{c: r.get(c) for c in columns} for r in plan.upserts],
               ("source", "source_key"))
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
        if plan.open_prices:
            conn.execute(sa.insert(price_history), plan.open_prices)
        if plan.events:
            conn.execute(sa.insert(catalog_changes), plan.events)

    @staticmethod
    def _previous_state(conn: sa.Connection, source: str) -> dict[str, dict[str, Any]]:
        """What a diff needs of a source's stored rows: keys, hashes, lifecycle and the fields
        that raise events (no JSON columns to decode)."""
        columns = [source_offerings.c[name] for name in PREVIOUS_STATE_COLUMNS]
        query = sa.select(*columns).where(source_offerings.c.source == source)
        return {r["source_key"]: dict(r) for r in conn.execute(query).mappings()}

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
