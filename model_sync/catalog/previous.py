"""What a diff reads of the stored rows: little of the unchanged ones, the rest by key.

A sync compares every row by its content hash; only the rows that changed, are gone or are to
be archived are read whole (their lifecycle, the fields that raise events).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ACTIVE
from model_sync.catalog.engine import rows_of
from model_sync.catalog.history import EVENT_FIELDS
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.schema import model_catalog, source_offerings

# Columns of a stored row that a diff reads (see `history.plan_source`).
PREVIOUS_STATE_COLUMNS = (
    "source", "source_key", "provider", "model_id", "canonical_id", "state", "content_hash",
    "first_seen_at", "last_seen_at", "removed_at", "archived_at", *EVENT_FIELDS,
)
KEYS_PER_QUERY = 500  # keys in one `IN (...)`: well under every database's parameter limit


def previous_state(conn: sa.Connection, source: str, keys: Sequence[str],
                   hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A source's stored rows by key, as `plan_source` reads them: the state and hash of each;
    for the rows that changed, came back or are gone, also their lifecycle and the fields that
    raise events (no JSON columns to decode). `keys` and `hashes`: of the rows offered, in
    order."""
    table = source_offerings
    slim = conn.execute(sa.select(table.c.source_key, table.c.state, table.c.content_hash)
                        .where(table.c.source == source))
    previous = {key: {"state": state, "content_hash": digest} for key, state, digest in slim}
    new = dict(zip(keys, hashes, strict=True))
    wanted = [key for key, old in previous.items()
              if ((old["state"] != ACTIVE or new[key] != old["content_hash"]) if key in new
                  else old["state"] == ACTIVE)]
    columns = [table.c[name] for name in PREVIOUS_STATE_COLUMNS]
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        query = sa.select(*columns).where(
            table.c.source == source, table.c.source_key.in_(wanted[start:start + KEYS_PER_QUERY]))
        previous.update((r["source_key"], r) for r in rows_of(conn, query))
    return previous


def overridden_catalog(conn: sa.Connection) -> list[dict[str, Any]]:
    """The stored catalog rows an override set a field of (their lineage names it), with what
    the events and price intervals of overrides read."""
    table = model_catalog
    columns = ["provider", "model_id", "canonical_id", "state", "field_sources", *EVENT_FIELDS]
    # Lineage is JSON text on every dialect: only the rows that mention an override are read.
    lineage = sa.type_coerce(table.c.field_sources, sa.Text)  # the pattern, not JSON of it
    return rows_of(conn, sa.select(*(table.c[c] for c in columns)).where(
        lineage.like(f'%:"{OVERRIDE}"%')))
