"""Storage of the catalog with SQLAlchemy: SQLite by default, PostgreSQL when configured.

Every publish is one transaction: the previous rows stay in place until the new ones are
committed, so a failed or interrupted sync never leaves a source half-written or empty.
"""

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from model_sync.catalog.money import format_decimal
from model_sync.catalog.schema import (
    CATALOG_COLUMNS,
    OFFERING_COLUMNS,
    PRICE_FIELDS,
    metadata,
    model_catalog,
    source_offerings,
    sync_runs,
)

DATABASE_URL_ENV = "MODEL_SYNC_DATABASE_URL"
DEFAULT_DATABASE_PATH = Path("data") / "model_sync.db"
CATALOG = "model_catalog"
_VOLATILE = frozenset({"fetched_at", "updated_at"})  # not content: they change on every sync


def default_database_url() -> str:
    """The embedded default: a SQLite file `data/model_sync.db` under the working directory."""
    return f"sqlite:///{DEFAULT_DATABASE_PATH.resolve()}"


def make_engine(url: str) -> sa.Engine:
    """An engine for the catalog; SQLite gets WAL, a busy timeout and immediate write locks,
    PostgreSQL named, health-checked connections."""
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
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


def safe_url(url: str) -> str:
    """A database URL fit for logs and metadata: the password is masked."""
    return sa.make_url(url).render_as_string(hide_password=True)


@dataclass
class SyncStats:
    """What a publish changed, compared with the previous published rows."""

    rows: int = 0
    added: int = 0
    removed: int = 0
    updated: int = 0
    repriced: int = 0
    previous_rows: int = 0
    price_changes: list[dict[str, Any]] = field(default_factory=list)


def content_hash(row: dict[str, Any]) -> str:
    """A stable hash of a row's content (everything but sync timestamps)."""
    payload = {k: _plain(v) for k, v in sorted(row.items()) if k not in _VOLATILE}
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "as_tuple"):  # Decimal
        return format_decimal(value)
    return value


def diff(previous: Iterable[dict[str, Any]], current: Iterable[dict[str, Any]],
         key: Sequence[str]) -> SyncStats:
    """Added, removed, updated and repriced rows between two versions of a table."""
    old = {tuple(r[k] for k in key): r for r in previous}
    new = {tuple(r[k] for k in key): r for r in current}
    stats = SyncStats(rows=len(new), previous_rows=len(old))
    stats.added = sum(1 for k in new if k not in old)
    stats.removed = sum(1 for k in old if k not in new)
    for k in new.keys() & old.keys():
        before, after = old[k], new[k]
        if content_hash(before) != content_hash(after):
            stats.updated += 1
        if any(before[p] != after[p] for p in PRICE_FIELDS):
            stats.repriced += 1
            stats.price_changes.append({"key": "/".join(map(str, k)),
                                        **{p: (before[p], after[p]) for p in PRICE_FIELDS}})
    return stats


class CatalogStore:
    """Reads and writes the catalog tables through one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None) -> "CatalogStore":
        store = cls(make_engine(url or default_database_url()))
        store.create_schema()
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

    def source_rows(self, source: str, conn: sa.Connection | None = None) -> list[dict[str, Any]]:
        query = sa.select(source_offerings).where(source_offerings.c.source == source)
        return self._rows(query, conn)

    def source_count(self, source: str) -> int:
        query = sa.select(sa.func.count()).select_from(source_offerings).where(
            source_offerings.c.source == source)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def offerings(self, sources: Sequence[str] | None = None) -> list[dict[str, Any]]:
        query = sa.select(source_offerings).order_by(source_offerings.c.source,
                                                     source_offerings.c.source_key)
        if sources is not None:
            query = query.where(source_offerings.c.source.in_(list(sources)))
        return self._rows(query)

    def catalog_rows(self, conn: sa.Connection | None = None) -> list[dict[str, Any]]:
        query = sa.select(model_catalog).order_by(model_catalog.c.provider,
                                                  model_catalog.c.model_id)
        return self._rows(query, conn)

    def catalog_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.catalog_rows(), columns=CATALOG_COLUMNS)

    def sync_history(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
        if source:
            query = query.where(sync_runs.c.source == source)
        return self._rows(query.limit(limit))

    def last_success(self, source: str) -> dict[str, Any] | None:
        rows = [r for r in self.sync_history(source, limit=200) if r["status"] == "success"]
        return rows[0] if rows else None

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
                       started_at: datetime) -> SyncStats:
        """Replace a source's rows and record the sync, in one transaction."""
        with self.engine.begin() as conn:
            _take_turns(conn, source)
            previous = self.source_rows(source, conn)
            stats = diff(previous, rows, ("source_key",))
            conn.execute(sa.delete(source_offerings).where(source_offerings.c.source == source))
            if rows:
                conn.execute(sa.insert(source_offerings),
                             [{c: r.get(c) for c in OFFERING_COLUMNS} for r in rows])
            self._record(conn, source, run_id, started_at, "success", len(rows), stats, None)
        return stats

    def publish_catalog(self, rows: list[dict[str, Any]], *, run_id: str | None,
                        started_at: datetime) -> SyncStats:
        """Replace the combined catalog and record the build, in one transaction."""
        with self.engine.begin() as conn:
            _take_turns(conn, CATALOG)
            previous = self.catalog_rows(conn)
            stats = diff(previous, rows, ("provider", "model_id"))
            conn.execute(sa.delete(model_catalog))
            if rows:
                conn.execute(sa.insert(model_catalog),
                             [{c: r.get(c) for c in CATALOG_COLUMNS} for r in rows])
            self._record(conn, CATALOG, run_id, started_at, "success", len(rows), stats, None)
        return stats

    def record_failure(self, source: str, *, run_id: str | None, started_at: datetime,
                       status: str, error: str, rows_fetched: int | None = None) -> None:
        """Record a failed or blocked sync; the published rows are not touched."""
        with self.engine.begin() as conn:
            self._record(conn, source, run_id, started_at, status, rows_fetched, None, error)

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
            rows_updated=stats.updated if stats else None,
            rows_removed=stats.removed if stats else None,
            rows_repriced=stats.repriced if stats else None,
            error=error[:4000] if error else None,
        ))
