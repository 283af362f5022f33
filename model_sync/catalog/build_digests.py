"""What the last build of a derived table read (`build_digests`): a later build that reads the
same inputs, with no scheduled price starting or ending since, has nothing to recompute or write,
and reports what the last one found."""

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.identity import load_aliases
from model_sync.catalog.schema import build_digests, prices, source_offerings
from model_sync.catalog.stamps import BY_SOURCE, NEVER, source_stamps, stamp


def intervals_of(source: str) -> str:
    """The name under which a source's price intervals are held to its rows."""
    return f"prices/{source}"


def held(conn: sa.Connection, name: str, digest: str, *, now: datetime,
         source: str | None = None) -> dict[str, Any] | None:
    """The outcome the last build of `name` recorded, when it read `digest` and no interval (of
    `source`'s, when given) began or ended since: the inputs it read are as they were; else
    None."""
    row = conn.execute(sa.select(build_digests).where(build_digests.c.name == name)).first()
    if row is None or row.inputs_digest != digest or row.recorded_at > now:
        return None
    since = row.recorded_at
    turned = sa.select(prices.c.id).where(sa.or_(
        sa.and_(prices.c.valid_from > since, prices.c.valid_from <= now),
        sa.and_(prices.c.valid_to > since, prices.c.valid_to <= now))).limit(1)
    if source is not None:
        turned = turned.where(prices.c.source == source)
    if conn.execute(turned).first() is not None:
        return None
    return json.loads(row.outcome) if row.outcome else {}


def record(conn: sa.Connection, name: str, digest: str, *, now: datetime,
           outcome: dict[str, Any] | None = None) -> None:
    """Remember what a build of `name` read and found, in place of the last one's."""
    conn.execute(sa.delete(build_digests).where(build_digests.c.name == name))
    conn.execute(sa.insert(build_digests).values(
        name=name, inputs_digest=digest, recorded_at=now,
        outcome=None if outcome is None else json.dumps(outcome, sort_keys=True)))


def recorded(conn: sa.Connection, name: str) -> bool:
    """Whether the last build of `name` left a record (whatever it read)."""
    return conn.execute(sa.select(build_digests.c.name).where(
        build_digests.c.name == name)).first() is not None


def forget(conn: sa.Connection, name: str) -> None:
    """Forget the last build of `name`: the next one is not skipped."""
    conn.execute(sa.delete(build_digests).where(build_digests.c.name == name))


def follow(conn: sa.Connection, name: str, before: str, after: str) -> None:
    """The inputs of `name` moved from `before` to `after` in a way its build does not read
    (new canonical ids): a record of `before` stands for `after`."""
    conn.execute(sa.update(build_digests).where(build_digests.c.name == name,
                                                build_digests.c.inputs_digest == before)
                 .values(inputs_digest=after))


def combined(*parts: str) -> str:
    """What a build read (each part taken before it read it) and left (taken after it wrote),
    the code it ran and the alias table it resolved identities with (a user's aliases file
    can change between two builds)."""
    return hashlib.sha256("\n".join((code_digest(), aliases_digest(), *parts)).encode()
                          ).hexdigest()


def aliases_digest() -> str:
    """A digest of the alias table: the packaged one and the user's file."""
    table = sorted(load_aliases().items())
    return hashlib.sha256("\n".join(f"{a}\0{c}" for a, c in table).encode()).hexdigest()


def source_digests(conn: sa.Connection, sources: Sequence[str] | None = None,
                   table: sa.Table = source_offerings) -> dict[str, str]:
    """Each source's stamp of a table stamped by source (`stamps.BY_SOURCE`; its offering
    rows by default): of every source that wrote to it, or of these."""
    found = source_stamps(conn, table.name)
    return found if sources is None else {name: found.get(name, NEVER) for name in sources}


def listed(by_source: dict[str, str]) -> list[str]:
    """Per-source digests as parts of `combined`."""
    return [f"{source}:{digest}" for source, digest in sorted(by_source.items())]


def sources_stamp(conn: sa.Connection, sources: Sequence[str] | None = None,
                  table: sa.Table = source_offerings) -> str:
    """The sources' rows of a table stamped by source (every source's, or these; their
    offering rows by default), as one part of `combined`."""
    return "|".join(listed(source_digests(conn, sources, table)))


def table_stamp(conn: sa.Connection, table: sa.Table) -> str:
    """A stamped table's rows (`model_catalog`, `models`, `price_history`, `prices`), as one
    part of `combined`: any write to them renews it."""
    if table.name in BY_SOURCE:
        return sources_stamp(conn, table=table)
    return stamp(conn, table.name)


@cache
def code_digest() -> str:
    """The code rows are parsed and the catalog and its derived tables built with, as it is on
    disk (`model_sync.catalog`, `pricing`, `sources`, `ingest`): a change to it re-parses every
    source and rebuilds them once."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(path for package in ("catalog", "pricing", "sources", "ingest")
                       for path in root.joinpath(package).rglob("*.py")):
        digest.update(f"{path.relative_to(root)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
