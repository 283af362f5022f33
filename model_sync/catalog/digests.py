"""What the last clean sync of each source read and left stored (`sync_digests`): a later sync
that reads the same payload while the source's rows are as that sync left them has nothing to
parse, diff or write."""

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ACTIVE
from model_sync.catalog.schema import source_offerings, sync_digests


def rows_digest(conn: sa.Connection, source: str) -> tuple[str, int]:
    """A digest of a source's stored rows (key, state, content hash) and how many it lists."""
    table = source_offerings
    digest, listed = hashlib.sha256(), 0
    query = (sa.select(table.c.source_key, table.c.state, table.c.content_hash)
             .where(table.c.source == source).order_by(table.c.source_key))
    for key, state, content in conn.execute(query):
        digest.update(f"{key}\0{state}\0{content}\n".encode())
        listed += state == ACTIVE
    return digest.hexdigest(), listed


def recorded(conn: sa.Connection, source: str) -> str | None:
    """The digest of the payload the last clean sync of `source` read, if one is recorded."""
    return conn.execute(sa.select(sync_digests.c.payload_digest)
                        .where(sync_digests.c.source == source)).scalar()


def unchanged(conn: sa.Connection, source: str, payload: str) -> dict[str, Any] | None:
    """The record of the last clean sync when it read `payload` and the source's rows are still
    as it left them; else None."""
    row = conn.execute(sa.select(sync_digests).where(sync_digests.c.source == source)).first()
    if row is None or row.payload_digest != payload:
        return None
    stored, listed = rows_digest(conn, source)
    if stored != row.rows_digest or listed != row.rows:
        return None
    return {"rows": row.rows, "not_models": [tuple(pair) for pair in json.loads(row.not_models)]}


def record(conn: sa.Connection, source: str, payload: str | None,
           not_models: Sequence[tuple[str, str]], now: datetime) -> None:
    """Remember what a sync read and left (`payload` None: it was not clean, forget it)."""
    conn.execute(sa.delete(sync_digests).where(sync_digests.c.source == source))
    if payload is None:
        return
    stored, listed = rows_digest(conn, source)
    conn.execute(sa.insert(sync_digests).values(
        source=source, payload_digest=payload, rows_digest=stored, rows=listed,
        not_models=json.dumps([list(pair) for pair in not_models]), recorded_at=now))



def refresh(conn: sa.Connection, source: str) -> None:
    """Re-take the digest of a source's rows after the catalog build gave some of them new
    canonical ids (the ids identity resolution gives with every source known): the payload the
    last clean sync read still stands for them."""
    stored, listed = rows_digest(conn, source)
    conn.execute(sa.update(sync_digests).where(sync_digests.c.source == source)
                 .values(rows_digest=stored, rows=listed))
