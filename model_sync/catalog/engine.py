"""The catalog's database connection: SQLite (WAL, busy timeout, immediate write locks) by
default, PostgreSQL when configured, and the lock that makes the writers of one source take turns.
"""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from model_sync.catalog import stamps

DATABASE_URL_ENV = "MODEL_SYNC_DATABASE_URL"
DEFAULT_DATABASE_PATH = Path("data") / "model_sync.db"
_READ_ONLY = "model_sync_read_only"


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
            # A read (`reading`) takes no write lock: in WAL it reads a snapshot and lets the
            # writers go on, however long it merges what it reads.
            read_only = connection.get_execution_options().get(_READ_ONLY)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    else:
        options: dict[str, Any] = {"pool_pre_ping": True}  # survive restarts and idle drops
        if sa.make_url(url).get_backend_name() == "postgresql":
            # Name the connections in pg_stat_activity; recycle them before proxies drop them.
            options |= {"connect_args": {"application_name": "model_sync"},
                        "pool_recycle": 1800}
        engine = sa.create_engine(url, **options)
    stamps.install(engine)  # every write renews the stamps of the rows it wrote
    return engine


@contextmanager
def reading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection for reads only: one consistent snapshot, and on SQLite no write lock held
    while the rows are read and merged (a write through it fails)."""
    with engine.connect() as conn:
        yield conn.execution_options(**{_READ_ONLY: True})


def shown_url(url: str) -> str:
    """A database URL as it may be shown: its password masked."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(an unreadable URL)"


def cause(exc: BaseException) -> str:
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


def take_turns(conn: sa.Connection, name: str) -> None:
    """Serialize the writers of one source (or of the catalog) until the transaction ends.

    Two syncs of one source at once would otherwise both replace its rows from the same previous
    state, and the second insert would hit the first's keys. SQLite already takes turns: every
    transaction begins with BEGIN IMMEDIATE. PostgreSQL gets a transaction-level advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                     {"name": f"model_sync/{name}"})


def rows_of(conn: sa.Connection, query: sa.Executable) -> list[dict[str, Any]]:
    """The rows a query selects, as plain dicts."""
    result = conn.execute(query)
    keys = list(result.keys())  # once, not a mapping view per row
    # Row by row from the cursor: no list of every Row beside the list of every dict.
    return [dict(zip(keys, row, strict=True)) for row in result]
