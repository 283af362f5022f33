"""Schema versions of the catalog database (Alembic): create, upgrade and inspect them.

`upgrade` brings any catalog database to the newest revision under one lock, so concurrent
processes (a webserver, the daemon, runs) never migrate twice. A database made before migrations
existed (its tables present, no version table) is adopted: stamped at the first revision when its
tables match that revision, refused with an explanation otherwise.
"""

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from model_sync.catalog.migrations.baseline import BASELINE_COLUMNS

HERE = Path(__file__).resolve().parent
# Not Alembic's default `alembic_version`: Dagster's own PostgreSQL storage uses that name, and a
# deployment may keep both stores in one database.
VERSION_TABLE = "model_sync_alembic_version"
BASELINE = "0001"  # the schema of the catalog before it was versioned
_LOCK_KEY = 0x6D6F64656C5F7379  # "model_sy": the PostgreSQL advisory lock of schema changes


class SchemaMismatch(RuntimeError):
    """The database holds catalog tables that no revision describes."""


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to a connection or a URL."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    """The packaged revisions."""
    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    head = scripts().get_current_head()
    if head is None:
        raise RuntimeError("the packaged migrations have no revision")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at; None when it is unversioned (empty, or pre-Alembic)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Create or upgrade the catalog schema to `revision`, in one transaction, under a lock."""
    target = head_revision() if revision == "head" else revision
    with engine.connect() as conn:
        if current_revision(conn) == target:
            return  # the common case: nothing to do, no lock taken
    with engine.begin() as conn:
        _lock(conn)
        _adopt_unversioned(conn)
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Take the catalog schema back to `revision` (for tests and rollbacks)."""
    with engine.begin() as conn:
        _lock(conn)
        command.downgrade(alembic_config(conn), revision)


def _lock(conn: sa.Connection) -> None:
    # SQLite needs nothing: the store's engine begins every transaction with BEGIN IMMEDIATE.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _adopt_unversioned(conn: sa.Connection) -> None:
    """Stamp a database made before migrations existed at the baseline, if its tables match."""
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    if VERSION_TABLE in tables:
        return
    present = tables & BASELINE_COLUMNS.keys()
    if not present:
        return  # an empty database (or one holding other applications' tables): create it all
    problems = [f"table {name} is missing" for name in sorted(BASELINE_COLUMNS.keys() - present)]
    for name in sorted(present):
        columns = {c["name"] for c in inspector.get_columns(name)}
        expected = BASELINE_COLUMNS[name]
        if missing := sorted(expected - columns):
            problems.append(f"{name} lacks {', '.join(missing)}")
        if unknown := sorted(columns - expected):
            problems.append(f"{name} has unknown columns {', '.join(unknown)}")
    if problems:
        raise SchemaMismatch(
            "the catalog database has tables but no schema version, and they do not match "
            f"revision {BASELINE}: {'; '.join(problems)}. Migrate it by hand, then run "
            f"`alembic stamp` (see the README's production section)")
    command.stamp(alembic_config(conn), BASELINE)

