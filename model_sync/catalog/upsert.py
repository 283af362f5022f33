"""Bulk upserts the fast way for each dialect: one `INSERT ... ON CONFLICT DO UPDATE` batch."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

BATCH = 1000


def upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
           key: Sequence[str]) -> None:
    """Insert rows, replacing the ones whose key already exists."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
        columns = [c for c in rows[0] if c not in key]
        statement = insert.on_conflict_do_update(
            index_elements=list(key), set_={c: insert.excluded[c] for c in columns})
        for start in range(0, len(rows), BATCH):
            conn.execute(statement, list(rows[start:start + BATCH]))
        return
    # Any other database: delete the keys, then insert (same transaction).
    match = sa.and_(*(table.c[k] == sa.bindparam(f"k_{k}") for k in key))
    conn.execute(sa.delete(table).where(match),
                 [{f"k_{k}": row[k] for k in key} for row in rows])
    conn.execute(sa.insert(table), list(rows))
