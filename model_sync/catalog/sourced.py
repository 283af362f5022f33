"""The source rows a catalog build merges, read in offering order and handed on one offering at
a time with the hash of its inputs (`inputs`), each row's canonical id resolved against every id
the sources list.

Two reads of the listed rows (archived ones aside): the ids and names the resolver indexes, then
the rows themselves (`groups`); a build holds one offering's rows, not every row. Or, when most
catalog rows know their inputs: the ids and names, the few columns that resolve and hash each
offering's rows, and only the offerings whose inputs changed whole (`changed`).
"""

from collections.abc import Collection, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ARCHIVED
from model_sync.catalog.engine import rows_of
from model_sync.catalog.grouped import Key, by_offering, mappings
from model_sync.catalog.identity import Resolver
from model_sync.catalog.inputs import INPUT_COLUMNS, KEPT, build_context, inputs_hash
from model_sync.catalog.merge import catalog_key, listed_by_own_api
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.schema import source_offerings

Row = dict[str, Any]
Group = tuple[str, list[Mapping[str, Any]]]  # an offering's inputs hash and source rows
_INDEXED = ("source", "provider", "model_id", "hugging_face_id", "name", "state")
# What resolving a row's canonical id (`Resolver.canonical_id`) and hashing its inputs read.
_RESOLVED = ("provider", "model_id", "hugging_face_id", "name", "extra", *INPUT_COLUMNS)


@dataclass
class Sourced:
    """What a catalog build read of the source rows besides the offerings it merged."""

    offering_sources: Collection[str]  # the sources whose rows are offerings (catalog rows)
    provider_sources: Sequence[str]  # a provider's own API
    wanted: Collection[Key] = ()  # the overridden offerings: their rows are kept (`described`)
    count: int = 0  # offering rows read
    moved: dict[tuple[str, str], str] = field(default_factory=dict)  # new canonical ids
    described: dict[Key, list[Row]] = field(default_factory=dict)
    listing: set[str] = field(default_factory=set)  # providers whose own API lists offerings
    held: set[Key] = field(default_factory=set)  # offerings spelt in several cases
    resolver: Resolver | None = None

    def index(self, conn: sa.Connection) -> None:
        """Index every listed id for the resolver; note the providers whose own API lists
        offerings and the offerings the offering order may not bring together."""
        table = source_offerings
        query = sa.select(*(table.c[c] for c in _INDEXED)).where(table.c.state != ARCHIVED)
        self.resolver = Resolver(self._noted(
            conn.execute(query.execution_options(yield_per=2000)).mappings()))

    def _noted(self, rows) -> Iterator[Mapping[str, Any]]:
        for row in rows:
            if row["source"] in self.offering_sources and row["provider"] and (
                    model_id := row["model_id"]):
                if model_id != model_id.casefold():
                    self.held.add(catalog_key(row["provider"], model_id))
                if listed_by_own_api(row, self.provider_sources):
                    self.listing.add(row["provider"])
            yield row

    def groups(self, conn: sa.Connection, leave_out: Sequence[str] = ()) -> Iterator[Group]:
        """Every offering's rows (without the columns in `leave_out`) and inputs hash, one
        offering at a time, their canonical ids resolved (the ones that moved noted in
        `moved`)."""
        table = source_offerings
        query = sa.select(*(c for c in table.columns if c.name not in leave_out)).where(
            table.c.state != ARCHIVED).order_by(table.c.provider, table.c.model_id)
        context = build_context()
        for key, group in by_offering(self._resolved(mappings(conn, query)), self.held):
            yield inputs_hash(context, key[0], self.listing, group), group
        for rows in self.described.values():  # as the store lists them
            rows.sort(key=lambda r: (r["source"], r["source_key"]))

    def changed(self, conn: sa.Connection, stored: MutableMapping[Key, str], *, most: int,
                leave_out: Sequence[str] = ()) -> Iterator[Group] | None:
        """The offerings whose inputs hash is not the one `stored` by catalog key, their rows
        read whole (but `leave_out`); the hash of every other one is marked KEPT in `stored`.
        None when more than `most` offerings changed: every offering is better merged from one
        read (`groups`)."""
        assert not self.wanted, "an override's offerings are merged every time"
        table, context = source_offerings, build_context()
        query = sa.select(*(table.c[c] for c in _RESOLVED)).where(
            table.c.state != ARCHIVED).order_by(table.c.provider, table.c.model_id)
        changed: list[tuple[str, list[tuple[str, str, str]]]] = []  # source, key, canonical id
        for key, group in by_offering(self._resolved(mappings(conn, query)), self.held):
            digest = inputs_hash(context, key[0], self.listing, group)
            if stored.get(key) == digest:
                stored[key] = KEPT
                continue
            changed.append((digest, [(r["source"], r["source_key"], r["canonical_id"])
                                     for r in group]))
            if len(changed) > most:
                self.count, self.moved = 0, {}
                return None
        return self._whole(conn, changed, leave_out)

    @staticmethod
    def _whole(conn: sa.Connection, changed: list[tuple[str, list[tuple[str, str, str]]]],
               leave_out: Sequence[str]) -> Iterator[Group]:
        """The changed offerings' rows read whole, some hundred at a time, their canonical ids
        as resolved."""
        table = source_offerings
        columns = [c for c in table.columns if c.name not in leave_out]
        start = 0
        while start < len(changed):
            end, keys = start, 0
            while end < len(changed) and (keys < KEYS_PER_QUERY or end == start):
                keys += len(changed[end][1])
                end += 1
            resolved = {(source, key): canonical for _, group in changed[start:end]
                        for source, key, canonical in group}
            whole = {}
            match = sa.tuple_(table.c.source, table.c.source_key).in_(list(resolved))
            for row in rows_of(conn, sa.select(*columns).where(match)):
                key = (row["source"], row["source_key"])
                row["canonical_id"] = resolved[key]
                whole[key] = row
            for digest, group in changed[start:end]:
                yield digest, [whole[(source, key)] for source, key, _ in group]
            start = end

    def _resolved(self, rows: Iterator[Row]) -> Iterator[Row]:
        resolver = self.resolver
        assert resolver is not None
        for row in rows:
            canonical_id = resolver.canonical_id(row)
            if canonical_id != row["canonical_id"]:
                self.moved[(row["source"], row["source_key"])] = canonical_id
                row["canonical_id"] = canonical_id
            if row["source"] not in self.offering_sources:
                continue  # benchmarks and Hub metadata describe models: never catalog rows
            self.count += 1
            if self.wanted and (key := catalog_key(row["provider"] or "",
                                                   row["model_id"] or "")) in self.wanted:
                self.described.setdefault(key, []).append(row)
            if row["provider"] and row["model_id"]:
                yield row
