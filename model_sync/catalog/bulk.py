"""Bulk reads and writes at the driver, for the rows a sync moves by the thousand.

Values are encoded once per row by the columns' own SQLAlchemy types (the same stored values
as a Core insert) and sent with one prepared `executemany`, or COPY on PostgreSQL; per-row
statement compilation and parameter dicts are what this skips.
"""

from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from model_sync.catalog import stamps
from model_sync.memo import remembered

BATCH = 5000
_STAGE = "model_sync_stage"


def encoder(dialect: sa.Dialect, table: sa.Table,
            columns: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple]:
    """A function turning a row (a mapping) into the tuple of its driver values for `columns`."""
    steps = []
    for index, name in enumerate(columns):
        kind = table.c[name].type
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            steps.append((index, _remembered(process, kind, dialect)))
    pick = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)

    def encode(row: Mapping[str, Any]) -> tuple:
        if isinstance(row, ChainMap):  # one flat dict, copied in C, beats a lookup per column
            row = _flat(row)
        try:
            values = list(pick(row))
        except KeyError:  # a row without some of the columns: null there
            values = [row.get(name) for name in columns]
        for index, process in steps:
            value = values[index]
            if value is not None:
                values[index] = process(value)
        return tuple(values)

    return encode


def _flat(row: ChainMap) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for layer in reversed(row.maps):
        flat.update(layer)
    return flat


def _remembered(process: Callable[[Any], Any], kind: Any,
                dialect: sa.Dialect) -> Callable[[Any], Any]:
    """The processor, remembering its results for the values a sync repeats (timestamps,
    flags, modality lists, prices on SQLite); values equal but encoded differently (1.0 and 1
    on PostgreSQL's NUMERIC) or too varied (JSON objects) are encoded each time."""
    name = type(kind).__name__
    if name in ("UtcDateTime", "Boolean") or (name == "ExactDecimal" and dialect.name == "sqlite"):
        return remembered(process)
    if name != "JsonList":
        return process
    by_items = remembered(process, key=tuple)

    def run(value: Any) -> Any:
        if type(value) is list and value and type(value[0]) is dict:  # price components:
            return process(value)  # too varied to remember
        return by_items(value)

    return run


def insert(conn: sa.Connection, table: sa.Table, rows: Iterable[Mapping[str, Any]],
           columns: Sequence[str] | None = None) -> int:
    """Insert rows (their `columns`, by default every column they carry); returns the count."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    columns = list(columns or first)
    dialect = conn.dialect
    if dialect.name not in ("sqlite", "postgresql"):
        batch = [first, *rows]
        conn.execute(sa.insert(table), [{c: r.get(c) for c in columns} for r in batch])
        return len(batch)
    encode = encoder(dialect, table, columns)
    sources: set[Any] = set()
    written = _chain(first, rows)
    if table.name in stamps.BY_SOURCE:
        written = _noting_sources(written, sources)
    encoded = map(encode, written)
    if dialect.name == "postgresql":
        count = _copy(conn, table.name, columns, encoded)
    else:
        count = _executemany(conn, _insert_sql(conn, table.name, columns), encoded)
    stamps.renew(conn, table.name, sources)  # a bulk write is no Core statement: said here
    return count


def upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
           key: Sequence[str], columns: Sequence[str] | None = None) -> None:
    """Insert rows (their `columns`, by default every column the first carries), replacing the
    ones whose key already exists (`INSERT ... ON CONFLICT`)."""
    if not rows:
        return
    columns = list(columns or rows[0])
    dialect = conn.dialect
    if dialect.name not in ("sqlite", "postgresql"):  # delete the keys, then insert
        match = sa.and_(*(table.c[k] == sa.bindparam(f"k_{k}") for k in key))
        conn.execute(sa.delete(table).where(match),
                     [{f"k_{k}": row[k] for k in key} for row in rows])
        conn.execute(sa.insert(table), [{c: row.get(c) for c in columns} for row in rows])
        return
    quote = dialect.identifier_preparer.quote
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in key)
    conflict = (f" ON CONFLICT ({', '.join(quote(k) for k in key)}) DO "
                + (f"UPDATE SET {updates}" if updates else "NOTHING"))
    encoded = map(encoder(dialect, table, columns), rows)
    stamps.renew(conn, table.name, {row.get("source") for row in rows}
                 if table.name in stamps.BY_SOURCE else None)
    if dialect.name == "sqlite":
        _executemany(conn, _insert_sql(conn, table.name, columns) + conflict, encoded)
        return
    # PostgreSQL: COPY into a staging table of the same shape, then one upsert from it.
    names = ", ".join(quote(c) for c in columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {_STAGE} (LIKE {quote(table.name)}) "
                         "ON COMMIT DROP")
    _copy(conn, _STAGE, columns, encoded)
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM "
                         f"{_STAGE}{conflict}")
    conn.exec_driver_sql(f"DROP TABLE {_STAGE}")


def _noting_sources(rows: Iterable[Mapping[str, Any]], sources: set[Any]
                    ) -> Iterator[Mapping[str, Any]]:
    for row in rows:
        sources.add(row.get("source"))
        yield row


def _chain(first: Any, rest: Iterable[Any]) -> Iterable[Any]:
    yield first
    yield from rest


def _insert_sql(conn: sa.Connection, name: str, columns: Sequence[str]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join([marker] * len(columns))})")


def _executemany(conn: sa.Connection, sql: str, encoded: Iterable[tuple]) -> int:
    count = 0
    while batch := list(islice(encoded, BATCH)):
        conn.exec_driver_sql(sql, batch)
        count += len(batch)
    return count


def _copy(conn: sa.Connection, name: str, columns: Sequence[str],
          encoded: Iterable[tuple]) -> int:
    quote = conn.dialect.identifier_preparer.quote
    count = 0
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {quote(name)} ({', '.join(quote(c) for c in columns)}) "
                         "FROM STDIN") as copy:
            for values in encoded:
                copy.write_row(values)
                count += 1
    finally:
        cursor.close()
    return count
