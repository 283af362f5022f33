"""The price components in the catalog database: their validity intervals (`prices`), written
beside each source's publish and held to the source rows, and the published prices set aside
(`rejected_prices`)."""

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

import sqlalchemy as sa

from model_sync.catalog import bulk, stamps
from model_sync.catalog.build_digests import held, intervals_of
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.contract import ARCHIVED
from model_sync.catalog.digests import rows_digest
from model_sync.catalog.engine import rows_of, take_turns
from model_sync.catalog.grouped import mappings
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.schema import prices, rejected_prices, source_offerings
from model_sync.pricing.history import PricePlan, plan_prices, slot_of

_KEYS_PER_PLAN = 5_000


@dataclass
class PriceWrites:
    """What publishing a source's components did."""

    opened: int = 0
    ended: int = 0
    withdrawn: int = 0


def publish_prices(engine: sa.Engine, source: str, *, now: datetime, run_id: str | None,
                   published: Mapping[str, tuple[str, Any]] | None = None,
                   written: Collection[str] | None = None,
                   stamps: tuple[str, str] | None = None) -> PriceWrites:
    """Hold one source's intervals to its stored rows, in one transaction: components that
    changed or appeared open an interval, those gone or changed end theirs, archived rows' end.
    `published`: key -> (content hash, components) of rows a sync just stored: a row stored
    with that hash is not read back whole. `written`: the keys of the rows that publish wrote,
    and `stamps`: the stamps of the source's rows before and after it. When the intervals were
    held to the rows before it, none began or ended since, and nothing else wrote the rows
    after it, only the written rows' intervals are planned: the others' would plan nothing."""
    with engine.begin() as conn:
        take_turns(conn, source)
        return _publish(conn, source, now, run_id, published or {}, written, stamps)


def reconcile_prices(engine: sa.Engine, *, now: datetime, run_id: str | None) -> PriceWrites:
    """`publish_prices` for every source (after archiving, or a database restored)."""
    total = PriceWrites()
    with engine.connect() as conn:
        names = sorted(conn.execute(sa.select(source_offerings.c.source).distinct()).scalars())
    for name in names:
        done = publish_prices(engine, name, now=now, run_id=run_id)
        total.opened += done.opened
        total.ended += done.ended
        total.withdrawn += done.withdrawn
    return total


def publish_override_prices(engine: sa.Engine, rows: Sequence[dict[str, Any]], *,
                            now: datetime, run_id: str | None) -> PriceWrites:
    """Hold the overridden price components (offering rows of the source `override`, see
    `overlay`) to their intervals: an override applied opens one, one that ended ends it."""
    with engine.begin() as conn:
        take_turns(conn, OVERRIDE)
        mine = prices.c.source == OVERRIDE
        stored = rows_of(conn, sa.select(prices).where(
            mine, sa.or_(prices.c.valid_to.is_(None), prices.c.valid_to > now)))
        slots = [prices.c[c] for c in ("source_key", "component", "mode", "region",
                                       "min_prompt_tokens", "window")]
        seen = {slot_of(dict(r._mapping)) for r in conn.execute(sa.select(*slots).where(mine)
                                                                 .distinct())}
        # Never "since before the catalog knew it": an override applies from its first build.
        plan = plan_prices(rows, stored, seen or {()}, now=now, run_id=run_id)
        _apply(conn, OVERRIDE, plan)
    return PriceWrites(len(plan.inserts), len(plan.ends), len(plan.deletes))


def _publish(conn: sa.Connection, source: str, now: datetime, run_id: str | None,
             published: Mapping[str, tuple[str, Any]], written: Collection[str] | None,
             stamps: tuple[str, str] | None) -> PriceWrites:
    # Rows as they were when the intervals were last held to them, and no interval began or
    # ended since: holding them again would write nothing.
    digest = rows_digest(conn, source)
    held_as = intervals_of(source)
    if held(conn, held_as, digest, now=now, source=source) is not None:
        return PriceWrites()
    mine = prices.c.source == source
    # Never a first sync's "since before the catalog knew it" once the source has intervals.
    before = set() if conn.execute(sa.select(prices.c.id).where(mine).limit(1)).first() is None \
        else {()}
    done = PriceWrites()
    # Only the rows a publish wrote, when the rest are as the intervals were held to them
    # (archiving, say, did not write them in between); else every listed row.
    written_only = written is not None and stamps is not None and stamps[1] == digest and held(
        conn, held_as, stamps[0], now=now, source=source) is not None
    for within in _portions(conn, source, written if written_only else None):
        plan = _plan_portion(conn, source, within, before, now, run_id, published)
        _apply(conn, source, plan)
        done.opened += len(plan.inserts)
        done.ended += len(plan.ends)
        done.withdrawn += len(plan.deletes)
    record_digest(conn, held_as, digest, now=now)
    return done


Within = Callable[[sa.ColumnElement], list[sa.ColumnElement[bool]]]


def _portions(conn: sa.Connection, source: str,
              written: Collection[str] | None) -> Iterator[Within]:
    """The source keys to plan, a portion at a time (what one holds in memory stays bounded),
    as the conditions on a source key column that select a portion: these keys (`written`),
    else every listed key, in ranges."""
    if written is not None:
        chosen = sorted(written)
        for start in range(0, len(chosen), KEYS_PER_QUERY):
            yield partial(_among, chosen[start:start + KEYS_PER_QUERY])
        return
    keys = conn.execute(sa.select(source_offerings.c.source_key).where(
        source_offerings.c.source == source, source_offerings.c.state != ARCHIVED)
        .order_by(source_offerings.c.source_key)).scalars().all()
    starts = keys[_KEYS_PER_PLAN::_KEYS_PER_PLAN]
    del keys
    for low, high in zip([None, *starts], [*starts, None], strict=True):
        yield partial(_between, low, high)


def _among(keys: list[str], column: sa.ColumnElement) -> list[sa.ColumnElement[bool]]:
    return [column.in_(keys)]


def _between(low: str | None, high: str | None,
             column: sa.ColumnElement) -> list[sa.ColumnElement[bool]]:
    """From `low` (included) to `high` (excluded); None: open."""
    return [c for c in (None if low is None else column >= low,
                        None if high is None else column < high) if c is not None]


def _plan_portion(conn: sa.Connection, source: str, within: Within, before: set[tuple],
                  now: datetime, run_id: str | None,
                  published: Mapping[str, tuple[str, Any]]) -> PricePlan:
    """The plan of the source keys `within` selects."""
    table = source_offerings
    # The components as stored text, decoded only for the rows not just published.
    stored_prices = sa.type_coerce(table.c.prices, sa.Text)
    decode = cast(sa.TypeDecorator, table.c.prices.type).process_result_value
    rows = []
    for key, provider, model_id, digest, text in conn.execute(sa.select(
            table.c.source_key, table.c.provider, table.c.model_id, table.c.content_hash,
            stored_prices).where(
            table.c.source == source, table.c.state != ARCHIVED, *within(table.c.source_key))):
        known = published.get(key)
        rows.append({"source": source, "source_key": key, "provider": provider,
                     "model_id": model_id, "prices": known[1] if known is not None
                     and known[0] == digest else decode(text, conn.dialect)})
    mine = [prices.c.source == source, *within(prices.c.source_key)]
    stored = rows_of(conn, sa.select(prices).where(
        *mine, sa.or_(prices.c.valid_to.is_(None), prices.c.valid_to > now)))
    slots = [prices.c[c] for c in ("source_key", "component", "mode", "region",
                                   "min_prompt_tokens", "window")]
    seen = {slot_of(dict(r._mapping)) for r in conn.execute(sa.select(*slots).where(*mine)
                                                             .distinct())}
    return plan_prices(rows, stored, seen | before, now=now, run_id=run_id)


def _apply(conn: sa.Connection, source: str, plan: PricePlan) -> None:
    """Write a plan of `source`'s intervals (only its stamp is renewed: `stamps.SOURCES`)."""
    only = {stamps.SOURCES: (source,)}
    if plan.ends:
        conn.execute(sa.update(prices).where(prices.c.id == sa.bindparam("b_id"))
                     .values(valid_to=sa.bindparam("b_to")),
                     [{"b_id": i, "b_to": end} for i, end in plan.ends], execution_options=only)
    if plan.deletes:
        conn.execute(sa.delete(prices).where(prices.c.id.in_(plan.deletes)),
                     execution_options=only)
    bulk.insert(conn, prices, plan.inserts, [c.name for c in prices.columns if c.name != "id"])


def record_price_rejections(engine: sa.Engine, source: str, rejected: Sequence[Any], *,
                            run_id: str | None, now: datetime) -> None:
    """Keep what a source's last sync could not map (`Rejection`s), in place of the previous
    sync's: the table says what the price model is missing now."""
    with engine.begin() as conn:
        conn.execute(sa.delete(rejected_prices).where(rejected_prices.c.source == source))
        if rejected:
            conn.execute(sa.insert(rejected_prices), [
                {"source": source, "source_key": r.source_key[:400], "reason": r.reason,
                 "field": r.field[:200] if r.field else None, "excerpt": r.excerpt,
                 "run_id": run_id, "rejected_at": now} for r in rejected])


def price_rows(engine: sa.Engine, *, provider: str | None = None,
               keys: Iterable[tuple[str, str]] | None = None,
               at: datetime | None = None, source: str | None = None) -> list[dict[str, Any]]:
    """Intervals of a provider's offerings (or of the `(source, source_key)` rows given, or of
    one source), in force at `at` when given, else all of them."""
    query = sa.select(prices)
    if provider is not None:
        query = query.where(prices.c.provider == provider)
    if source is not None:
        query = query.where(prices.c.source == source)
    if keys is not None:
        pairs = sorted(set(keys))
        if not pairs:
            return []
        query = query.where(sa.tuple_(prices.c.source, prices.c.source_key).in_(pairs))
    if at is not None:
        query = query.where(*in_force_at(at))
    with engine.connect() as conn:
        return rows_of(conn, query.order_by(prices.c.id))


def in_force_at(at: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """The intervals in force at `at`, as SQL: begun (or with no start), not yet ended."""
    return (sa.or_(prices.c.valid_from.is_(None), prices.c.valid_from <= at),
            sa.or_(prices.c.valid_to.is_(None), prices.c.valid_to > at))


def in_force_rows(conn: sa.Connection, *, at: datetime) -> Iterator[dict[str, Any]]:
    """The intervals in force at `at`, one at a time (as `price_rows(at=at)` lists them)."""
    yield from mappings(conn, sa.select(prices).where(*in_force_at(at)).order_by(prices.c.id))


def price_rejections(engine: sa.Engine, source: str | None = None) -> list[dict[str, Any]]:
    """The published prices set aside by each source's last sync."""
    query = sa.select(rejected_prices).order_by(rejected_prices.c.id)
    if source is not None:
        query = query.where(rejected_prices.c.source == source)
    with engine.connect() as conn:
        return rows_of(conn, query)
