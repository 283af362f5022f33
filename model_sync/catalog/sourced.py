"""The source rows a catalog build merges, read in offering order and handed on one offering at
a time, each with its canonical id resolved against every id the sources list.

Two reads of the listed rows (archived ones aside): the ids and names the resolver indexes, then
the rows themselves; a build holds one offering's rows, not every row.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ARCHIVED
from model_sync.catalog.grouped import Key, by_offering, mappings
from model_sync.catalog.identity import Resolver
from model_sync.catalog.merge import catalog_key, listed_by_own_api
from model_sync.catalog.schema import source_offerings

Row = dict[str, Any]
_INDEXED = ("source", "provider", "model_id", "hugging_face_id", "name", "state")


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

    def groups(self, conn: sa.Connection, leave_out: Sequence[str] = ()
               ) -> Iterator[list[Mapping[str, Any]]]:
        """The offering rows (without the columns in `leave_out`), one offering at a time,
        their canonical ids resolved (and the ones that moved noted in `moved`)."""
        assert self.resolver is not None, "index() first"
        table = source_offerings
        query = sa.select(*(c for c in table.columns if c.name not in leave_out)).where(
            table.c.state != ARCHIVED).order_by(table.c.provider, table.c.model_id)
        for _, group in by_offering(self._resolved(mappings(conn, query)), self.held):
            yield group
        for rows in self.described.values():  # as the store lists them
            rows.sort(key=lambda r: (r["source"], r["source_key"]))

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
