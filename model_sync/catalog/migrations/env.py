"""Alembic's entry point for the catalog: online against a connection or URL, or offline (SQL).

The URL is the `sqlalchemy.url` option when set, else MODEL_SYNC_DATABASE_URL, else the embedded
SQLite default, as for the store itself.
"""

import os
from typing import Any

from alembic import context

from model_sync.catalog.engine import DATABASE_URL_ENV, default_database_url, make_engine
from model_sync.catalog.migrations import VERSION_TABLE
from model_sync.catalog.schema import ExactDecimal, JsonList, UtcDateTime, metadata
from model_sync.catalog.stamps import UNSTAMPED

config = context.config


def _url() -> str:
    return (config.get_main_option("sqlalchemy.url") or os.environ.get(DATABASE_URL_ENV)
            or default_database_url())


def _render_item(kind, obj, autogen_context):
    """Autogenerate writes the custom column types as the plain types they store, so a revision
    keeps meaning the same whatever later becomes of `schema.py` (see `baseline.py`)."""
    if kind != "type":
        return False
    if isinstance(obj, ExactDecimal):
        return 'sa.String(64).with_variant(sa.Numeric(), "postgresql")'
    if isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, JsonList):  # and JsonObject: JSON as text
        return "sa.Text()"
    return False


OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "version_table": VERSION_TABLE,
    "compare_type": True,  # custom types compare by what they store on the dialect
    "render_as_batch": True,  # SQLite alters tables by copying them: batch operations
    "render_item": _render_item,
}


def run_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        connection.execution_options(**{UNSTAMPED: True})  # a revision writes as it was written
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            connection.execution_options(**{UNSTAMPED: True})
            context.configure(connection=connection, **OPTIONS)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
