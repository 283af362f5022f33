"""The `prices` build's report by offering (`price_report`): what each served offering's merged
components include, how many it publishes from which source, and what was withheld, kept with a
hash of the intervals in force it was merged from.

A build has the database list each served offering's intervals in force by id, hashes those
lists, and merges again only the offerings whose hash changed; the report is summed by the
database. Every offering is merged again from one read when the table is new or the last build
left no record (`DELETE FROM build_digests`); the changed ones are, when more than a quarter
changed.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from operator import itemgetter
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from model_sync.catalog import bulk
from model_sync.catalog.build_digests import code_digest
from model_sync.catalog.contract import ARCHIVED, UNLISTED
from model_sync.catalog.engine import reading
from model_sync.catalog.grouped import apart, by_offering, mappings
from model_sync.catalog.inputs import KEPT, most_changed
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.money import json_encoder
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.schema import model_catalog, price_report, prices
from model_sync.pricing.lookup import OFFERING_SOURCES, PROVIDER_SOURCES
from model_sync.pricing.merge import Merged, contradictions, merge_prices, ranking
from model_sync.pricing.storage import in_force_at
from model_sync.pricing.vocabulary import COMPONENTS

PRICES = "prices"  # the build's name in `build_digests`
MODALITIES = frozenset(name for name, c in COMPONENTS.items()
                       if c.dims.get("modality") or name in ("input_images", "output_images"))
Key = tuple[str, str]
_FIELD = "\x1f"  # between the spelling of an offering and its ids
_ENCODE = json_encoder(sort_keys=True, check_circular=False)  # json.dumps, built once


def kinds(merged: Merged) -> set[str]:
    """What an offering's published prices include (`catalog.KINDS`)."""
    found = {mode for mode, _ in merged.chosen if mode != "standard"}
    for (_, region), chosen in merged.chosen.items():
        if region:
            found.add("regional")
        for row in chosen.rows:
            found.update(kind for kind, holds in (
                ("tiered", bool(row["min_prompt_tokens"])), ("time_of_day", bool(row["window"])),
                ("modality", row["component"] in MODALITIES),
                ("request_fee", row["component"] == "request"),
                ("web_search", row["component"].startswith("web_search"))) if holds)
    return found


def report(engine: sa.Engine, at: datetime) -> dict[str, Any]:
    """Merge the served offerings whose intervals in force at `at` changed since the last build
    (every one, when it must), keep what each found, and sum the report of every one."""
    with reading(engine) as conn:
        served = {catalog_key(p, m) for p, m in conn.execute(served_offerings())}
        stored: dict[Key, str] = {(p, m): h for p, m, h in conn.execute(sa.select(
            price_report.c.provider, price_report.c.model_id, price_report.c.inputs_hash))}
        limit = most_changed(conn, PRICES, known=len(stored), stored=len(served))
        if limit is None:  # every offering is merged again
            stored = {}
        held = apart(conn, sa.select(prices.c.provider, prices.c.model_id).where(*_mine(at)))
        changed: dict[Key, str] = {}
        # The spellings of the changed offerings, to read their intervals by; None: past the
        # limit, or a spelling no key matches (a null), every interval is read once instead.
        spellings: dict[Key, set[tuple[Any, Any]]] | None = None if limit is None else {}
        # Every offering merged again: each one's hash is taken from the rows it is merged
        # from, with no pass of its own.
        hashed = () if limit is None else _hashed(conn, at, served, held)
        for key, digest, spelt in hashed:
            if stored.get(key) == digest:
                stored[key] = KEPT
                continue
            changed[key] = digest
            if spellings is not None:
                spellings[key] = spelt
                if len(changed) > cast(int, limit) or any(None in pair for pair in spelt):
                    spellings = None
        with engine.begin() as out:  # the write lock from here on, not while hashing
            if limit is None:
                out.execute(sa.delete(price_report))
            else:  # those merged again (a build beside this one may have written them
                # since this one read) and those no longer served or priced
                gone = sorted({key for key, value in stored.items() if value is not KEPT}
                              | changed.keys())
                for start in range(0, len(gone), KEYS_PER_QUERY):
                    out.execute(sa.delete(price_report).where(sa.tuple_(
                        price_report.c.provider, price_report.c.model_id).in_(
                        gone[start:start + KEYS_PER_QUERY])))
            merged = _merge(conn, at, held, spellings, served if limit is None else changed)
            written = 0
            while batch := list(islice(merged, bulk.BATCH)):  # written as merged, not all held
                bulk.insert(out, price_report, batch, [c.name for c in price_report.columns])
                written += len(batch)
            summed = _summed(out)
    summed["merged"] = written
    return summed


def served_offerings() -> sa.Select:
    """The served offerings (neither archived nor unlisted), in catalog order."""
    return sa.select(model_catalog.c.provider, model_catalog.c.model_id).where(
        model_catalog.c.state.not_in([ARCHIVED, UNLISTED])).order_by(
        model_catalog.c.provider, model_catalog.c.model_id)


def _mine(at: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """The intervals a merge reads: the offering sources' and overrides', in force at `at`."""
    return (prices.c.source.in_([*OFFERING_SOURCES, OVERRIDE]), *in_force_at(at))


def _hashed(conn: sa.Connection, at: datetime, served: set[Key], held: set[Key]
            ) -> Iterator[tuple[Key, str, set[tuple[Any, Any]]]]:
    """Each served offering with intervals in force: its key, the hash of its intervals (and
    of the code), and the spellings of its provider and model id."""
    context = code_digest()
    later: dict[Key, list[tuple[Any, Any, str]]] = {}
    for provider, model_id, text in conn.execute(_texts(conn, at)):
        key = catalog_key(provider or "", model_id or "")
        if key not in served:
            continue
        if key in held:
            later.setdefault(key, []).append((provider, model_id, text))
            continue
        yield key, _digest(context, [_part(provider, model_id, text)]), {(provider, model_id)}
    for key, parts in later.items():
        yield key, _digest(context, sorted(_part(*part) for part in parts)), {
            (p, m) for p, m, _ in parts}


def _digest(context: str, parts: list[str]) -> str:
    return hashlib.sha1("\n".join((context, *parts)).encode()).hexdigest()


def _part(provider: Any, model_id: Any, ids: str) -> str:
    """What is hashed of one spelling of an offering: the spelling and its interval ids."""
    return f"{provider}{_FIELD}{model_id}{_FIELD}{ids}"


def _texts_of(group: Iterable[Mapping[str, Any]]) -> list[str]:
    """What `_hashed` hashes of an offering, from its intervals in id order."""
    ids: dict[tuple[Any, Any], list[str]] = {}
    for row in group:
        ids.setdefault((row["provider"], row["model_id"]), []).append(str(row["id"]))
    return sorted(_part(p, m, ",".join(found)) for (p, m), found in ids.items())


def _texts(conn: sa.Connection, at: datetime) -> sa.Select:
    """Each spelling of an offering with intervals in force, and their ids in order as one text
    written by the database.

    The ids say which intervals: an interval's columns other than `valid_to` never change, and
    one is deleted only while it is scheduled to begin later (`history.plan_prices`), so an id
    in force at one build names the same interval at every build after it. A `valid_to` set or
    moved leaves the interval in force or not; which ones are in force is what the ids say.
    """
    ids = sa.cast(prices.c.id, sa.Text)
    if conn.dialect.name == "postgresql":
        together = sa.func.string_agg(ids, aggregate_order_by(sa.literal_column("','"),
                                                              prices.c.id))
        return sa.select(prices.c.provider, prices.c.model_id, together).where(
            *_mine(at)).group_by(prices.c.provider, prices.c.model_id)
    # SQLite concatenates in the order the rows come: those of an id-ordered subquery (were it
    # another order, the hash would differ and the offering be merged again, nothing worse).
    ordered = sa.select(prices.c.provider, prices.c.model_id, ids.label("id")).where(
        *_mine(at)).order_by(prices.c.provider, prices.c.model_id, prices.c.id).subquery()
    return sa.select(ordered.c.provider, ordered.c.model_id,
                     sa.func.group_concat(ordered.c.id, ",")).group_by(
        ordered.c.provider, ordered.c.model_id)


def _merge(conn: sa.Connection, at: datetime, held: set[Key],
           spellings: Mapping[Key, set] | None, wanted: Mapping[Key, str] | set[Key]
           ) -> Iterator[dict[str, Any]]:
    """The report rows of the offerings `wanted` (by their hashes; a set: hashed here, from
    their rows), merged from their intervals in force (of the spellings given; None: from one
    read of every interval in force)."""
    rank = ranking(PROVIDER_SOURCES)
    context = code_digest()
    for key, group in _groups(conn, at, held, spellings):
        if key not in wanted:
            continue
        group = sorted(group, key=itemgetter("id"))
        digest = wanted[key] if isinstance(wanted, Mapping) else _digest(context, _texts_of(group))
        one = merge_prices(group, at=at, rank=rank)
        together = [row for chosen in one.chosen.values() for row in chosen.rows]
        by_source: Counter = Counter()
        for chosen in one.chosen.values():
            by_source[chosen.source] += len(chosen.rows)
        named = f"{key[0]}/{key[1]}"
        withheld = [f"{named} ({row['source']}): {why}" for row, why in one.withheld]
        contradicting = [f"{named}: {why}" for _, why in contradictions(together)]
        yield {"provider": key[0], "model_id": key[1], "inputs_hash": digest,
               "kinds": ",".join(sorted(kinds(one))), "components": len(together),
               "by_source": _ENCODE(by_source),
               "withheld": _ENCODE(withheld) if withheld else None,
               "contradicting": _ENCODE(contradicting) if contradicting else None}


def _groups(conn: sa.Connection, at: datetime, held: set[Key],
            spellings: Mapping[Key, set] | None
            ) -> Iterable[tuple[Key, list[Mapping[str, Any]]]]:
    """The intervals in force, by offering (`held`: see `grouped.apart`): every one, or those of
    these spellings."""
    order = (prices.c.provider, prices.c.model_id, prices.c.id)
    if spellings is None:
        return by_offering(mappings(conn, sa.select(prices).where(*_mine(at)).order_by(*order)),
                           held)
    spelt = sorted({pair for pairs in spellings.values() for pair in pairs})
    grouped: dict[Key, list[Mapping[str, Any]]] = {}
    for start in range(0, len(spelt), KEYS_PER_QUERY):
        match = sa.tuple_(prices.c.provider, prices.c.model_id).in_(
            spelt[start:start + KEYS_PER_QUERY])
        for row in mappings(conn, sa.select(prices).where(*_mine(at), match).order_by(*order)):
            grouped.setdefault(catalog_key(row["provider"], row["model_id"]), []).append(row)
    return grouped.items()


def _summed(conn: sa.Connection) -> dict[str, Any]:
    """The report of every offering the table holds, summed by the database."""
    table = price_report
    priced, components = conn.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.components), 0))).one()
    counts: Counter = Counter()
    by_source: Counter = Counter()
    for text, n in conn.execute(sa.select(table.c.kinds, sa.func.count()).group_by(
            table.c.kinds)):
        counts.update({kind: n for kind in text.split(",") if kind})
    for text, n in conn.execute(sa.select(table.c.by_source, sa.func.count()).group_by(
            table.c.by_source)):
        by_source.update({source: k * n for source, k in json.loads(text).items()})
    noted = sorted(conn.execute(sa.select(
        table.c.provider, table.c.model_id, table.c.withheld, table.c.contradicting).where(
        sa.or_(table.c.withheld.is_not(None), table.c.contradicting.is_not(None)))))
    return {"priced": priced, "components": components, "counts": dict(counts),
            "by_source": dict(by_source),
            "withheld": [line for row in noted for line in json.loads(row[2] or "[]")],
            "contradicting": [line for row in noted for line in json.loads(row[3] or "[]")]}
