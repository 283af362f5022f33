"""What the last clean sync of each source read and left stored (`sync_digests`): a later sync
that reads the same payload while the source's rows are as that sync left them has nothing to
parse, diff or write."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ACTIVE
from model_sync.catalog.schema import source_offerings, sync_digests
from model_sync.catalog.stamps import stamp


def rows_digest(conn: sa.Connection, source: str) -> str:
    """What stands for a source's stored rows: their stamp (`stamps`: any write renews it)."""
    return stamp(conn, f"{source_offerings.name}/{source}")


def listed_count(conn: sa.Connection, source: str) -> int:
    """How many of a source's stored rows it lists (active)."""
    table = source_offerings
    return conn.execute(sa.select(sa.func.count()).where(
        table.c.source == source, table.c.state == ACTIVE)).scalar_one()


def recorded(conn: sa.Connection, source: str) -> str | None:
    """The digest of the payload the last clean sync of `source` read, if one is recorded."""
    return conn.execute(sa.select(sync_digests.c.payload_digest)
                        .where(sync_digests.c.source == source)).scalar()


def unchanged(conn: sa.Connection, source: str, payload: str) -> dict[str, Any] | None:
    """The record of the last clean sync when it read `payload` and the source's rows are still
    as it left them; else None."""
    row = conn.execute(sa.select(sync_digests).where(sync_digests.c.source == source)).first()
    if row is None or row.payload_digest != payload or rows_digest(conn, source) != row.rows_digest:
        return None
    return {"rows": row.rows, "not_models": [tuple(pair) for pair in json.loads(row.not_models)]}


def record(conn: sa.Connection, source: str, payload: str | None,
           not_models: Sequence[tuple[str, str]], now: datetime) -> None:
    """Remember what a sync read and left (`payload` None: it was not clean, forget it)."""
    conn.execute(sa.delete(sync_digests).where(sync_digests.c.source == source))
    if payload is None:
        return
    conn.execute(sa.insert(sync_digests).values(
        source=source, payload_digest=payload, rows_digest=rows_digest(conn, source),
        rows=listed_count(conn, source),
        not_models=json.dumps([list(pair) for pair in not_models]), recorded_at=now))



def refresh(conn: sa.Connection, source: str) -> None:
    """Re-take the digest of a source's rows after the catalog build gave some of them new
    canonical ids (the ids identity resolution gives with every source known): the payload the
    last clean sync read still stands for them."""
    conn.execute(sa.update(sync_digests).where(sync_digests.c.source == source)
                 .values(rows_digest=rows_digest(conn, source)))
