"""Row stamps (`row_stamps`): a token per table, and per source for the tables a source sync
writes, renewed in the transaction of every write to their rows. The digests of a sync
(`digests`) and of a build (`build_digests`) record the stamps of what they read and left, so
telling whether anything changed since is one read of this table, not a read of every row.

Every write through a catalog engine renews them: Core statements by the engine's
`after_execute` hook (`install`), the bulk writes (`bulk`, which bypass Core) by `renew`. A write
to the database from outside model_sync is not seen; see the README on how to rebuild after one.
"""

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, UpdateBase

from model_sync.catalog.schema import row_stamps

# The stamped tables; those stamped per source (`<table>/<source>`): one source's sync never
# renews another's stamp.
BY_SOURCE = frozenset({"source_offerings", "price_history", "prices"})
STAMPED = BY_SOURCE | {"model_catalog", "models"}
NEVER = "-"  # the stamp of rows never written since stamps began
# An execution option: writes through this connection renew nothing (the schema's revisions,
# which write as their code was, before `row_stamps` existed).
UNSTAMPED = "model_sync_unstamped"
# An execution option: the sources whose rows a statement writes, for one that does not bind
# them as `source` (an insert) or `b_source` (an update): only their stamps are renewed.
SOURCES = "model_sync_sources"


def stamp(conn: sa.Connection, name: str) -> str:
    """The stamp of a table's rows (`<table>/<source>`: of one source's, in a table stamped by
    source)."""
    found = conn.execute(sa.select(row_stamps.c.stamp).where(row_stamps.c.name == name)).scalar()
    return found or NEVER


def source_stamps(conn: sa.Connection, table: str) -> dict[str, str]:
    """Each source's stamp in a table stamped by source, of every source that wrote to it."""
    prefix = f"{table}/"
    return {name.removeprefix(prefix): value for name, value in conn.execute(
        sa.select(row_stamps.c.name, row_stamps.c.stamp).where(_of_sources(table)))}


def _of_sources(table: str) -> sa.ColumnElement[bool]:
    return row_stamps.c.name.startswith(f"{table}/", autoescape=True)


def renew(conn: sa.Connection, table: str, sources: Iterable[Any] | None = None) -> None:
    """A write to `table`'s rows (of these sources; None: of sources not known, so every one
    of its stamps is renewed): give their stamps a new token, in the writing transaction."""
    if table not in STAMPED or conn.get_execution_options().get(UNSTAMPED):
        return
    token = uuid.uuid4().hex
    if table in BY_SOURCE and sources is None:
        conn.execute(sa.update(row_stamps).where(_of_sources(table)).values(stamp=token))
        return
    names = [table] if table not in BY_SOURCE else sorted(
        {f"{table}/{source}" for source in sources or () if source is not None})
    if not names:
        return
    rows = [{"name": name, "stamp": token} for name in names]
    if conn.dialect.name in ("sqlite", "postgresql"):
        insert = (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(
            row_stamps)
        conn.execute(insert.on_conflict_do_update(index_elements=["name"],
                                                  set_={"stamp": insert.excluded.stamp}), rows)
        return
    conn.execute(sa.delete(row_stamps).where(row_stamps.c.name.in_(names)))
    conn.execute(sa.insert(row_stamps), rows)


@contextmanager
def unstamped(conn: sa.Connection) -> Iterator[sa.Connection]:
    """Writes through `conn` in the block renew no stamp: a build's own bookkeeping, which
    nothing downstream reads (the inputs hashes)."""
    conn.execution_options(**{UNSTAMPED: True})
    try:
        yield conn
    finally:
        conn.execution_options(**{UNSTAMPED: False})


def install(engine: sa.Engine) -> None:
    """Renew the stamps of the rows every Core insert, update and delete through `engine`
    writes."""
    sa.event.listen(engine, "after_execute", _after_execute)


def _after_execute(conn: sa.Connection, clause: Any, _multiparams: Any, _params: Any,
                   _options: Any, result: Any) -> None:
    if not isinstance(clause, UpdateBase):
        return
    table = getattr(clause.table, "name", None)
    if table not in STAMPED:
        return
    sources = None
    if table in BY_SOURCE:  # the sources the statement names, by option or by its parameters
        sources = result.context.execution_options.get(SOURCES)
        if sources is None:
            key = "source" if isinstance(clause, Insert) else "b_source"
            written = getattr(result.context, "compiled_parameters", None) or []
            if written and all(key in params for params in written):
                sources = {params[key] for params in written}
    renew(conn, table, sources)
