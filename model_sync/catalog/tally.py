"""What the catalog's audit and its asset's metadata read of a build's rows (`Tally`): counts by
the database, the first served rows and the rows a catalog rule may name, read by key. A build
that merged only some offerings again tallies the whole published catalog all the same.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa

from model_sync.catalog.contract import ACTIVE, ARCHIVED, PRICE_FIELDS, UNLISTED, CatalogRow
from model_sync.catalog.engine import rows_of
from model_sync.catalog.merge import CONTEXT_MAX, CONTEXT_MIN, PLAUSIBLE_MAX_PRICE
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.schema import model_catalog

PREVIEW_ROWS = 10
Key = tuple[str, str]


def may_be_named(row: Mapping[str, Any]) -> bool:
    """Whether a catalog rule may name the row: what any of them flags, and more."""
    if any(row.get(p) is not None and not 0 <= row[p] <= PLAUSIBLE_MAX_PRICE
           for p in PRICE_FIELDS):
        return True
    if "implausible_price" in (row.get("price_flags") or ()):
        return True
    if row.get("input_price") is not None and row.get("output_price") is None:
        return True
    window, output = row.get("context_window"), row.get("max_output_tokens")
    if (window is not None and not CONTEXT_MIN <= window <= CONTEXT_MAX) or (
            output is not None and output > CONTEXT_MAX):
        return True
    return bool((row.get("field_sources") or {}).get("withheld"))


def _may_be_named() -> sa.ColumnElement[bool]:
    """The rows `may_be_named` may name, and some more, as SQL: it decides on these alone."""
    table = model_catalog
    text = {c: sa.type_coerce(table.c[c], sa.Text) for c in ("price_flags", "field_sources")}
    return sa.or_(
        *(sa.and_(table.c[p].is_not(None),  # decimal text on SQLite: compared as a number
                  sa.or_(sa.cast(table.c[p], sa.Float) < 0,
                         sa.cast(table.c[p], sa.Float) > float(PLAUSIBLE_MAX_PRICE) * 0.99))
          for p in PRICE_FIELDS),
        text["price_flags"].like("%implausible_price%"),
        sa.and_(table.c.input_price.is_not(None), table.c.output_price.is_(None)),
        table.c.context_window < CONTEXT_MIN, table.c.context_window > CONTEXT_MAX,
        table.c.max_output_tokens > CONTEXT_MAX,
        text["field_sources"].like('%"withheld"%'))


def in_order(rows) -> list[CatalogRow]:
    return sorted(rows, key=lambda r: (r["provider"], r["model_id"]))


def stored_catalog_rows(conn: sa.Connection, keys: Sequence[Key],
                        columns: list) -> dict[Key, dict[str, Any]]:
    """Stored catalog rows (their `columns`) by provider and model id as stored."""
    table, found = model_catalog, {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        match = sa.tuple_(table.c.provider, table.c.model_id).in_(
            keys[start:start + KEYS_PER_QUERY])
        for row in rows_of(conn, sa.select(*columns).where(match)):
            found[(row["provider"], row["model_id"])] = row
    return found


@dataclass
class Tally:
    """What the audit and the metadata read of a build's rows: counts, the first served rows
    and the rows a rule may name, in catalog order."""

    rows: int = 0
    served: int = 0  # all but unlisted: what is published as served
    active: int = 0
    unpriced: int = 0  # active rows without prices
    providers: set[str] = field(default_factory=set)  # of the active rows
    by_price_source: Counter = field(default_factory=Counter)  # active rows, "unpriced" for none
    first: list[CatalogRow] = field(default_factory=list)
    noted: list[CatalogRow] = field(default_factory=list)

    @classmethod
    def counted(cls, conn: sa.Connection) -> "Tally":
        """The tally of the catalog as stored (archived rows aside): its counts by the
        database; of its rows, only the first served ones and those a rule may name are read."""
        table, tally = model_catalog, cls()
        for state, source, provider, count in conn.execute(
                sa.select(table.c.state, table.c.price_source, table.c.provider, sa.func.count())
                .where(table.c.state != ARCHIVED)
                .group_by(table.c.state, table.c.price_source, table.c.provider)):
            tally.rows += count
            if state == UNLISTED:
                continue
            tally.served += count
            if state == ACTIVE:
                tally.active += count
                tally.providers.add(provider)
                tally.by_price_source[source or "unpriced"] += count
                tally.unpriced += count if source is None else 0
        served = table.c.state.not_in([ARCHIVED, UNLISTED])
        first = sa.select(table.c.provider, table.c.model_id).where(served)
        if conn.dialect.name == "postgresql":  # the order of code points, as Python sorts
            first = first.order_by(table.c.provider.collate("C"), table.c.model_id.collate("C"))
        else:  # SQLite compares text byte by byte: UTF-8 keeps the order of code points
            first = first.order_by(table.c.provider, table.c.model_id)
        keys = [tuple(k) for k in conn.execute(first.limit(PREVIEW_ROWS))]
        found = stored_catalog_rows(conn, keys, [table])
        tally.first = [cast(CatalogRow, found[k]) for k in keys]
        tally.noted = in_order(r for r in rows_of(conn, sa.select(table).where(
            table.c.state != ARCHIVED, _may_be_named())) if may_be_named(r))
        return tally

    def summary(self) -> dict[str, Any]:
        """The tally as JSON, its rows by key: what a build whose inputs did not change
        restores it from (`restored`) instead of reading every catalog row again."""
        return {"rows": self.rows, "served": self.served, "active": self.active,
                "unpriced": self.unpriced, "providers": sorted(self.providers),
                "by_price_source": dict(self.by_price_source),
                "first": [[r["provider"], r["model_id"]] for r in self.first],
                "noted": [[r["provider"], r["model_id"]] for r in self.noted]}

    @classmethod
    def as_built(cls, conn: sa.Connection, summary: Mapping[str, Any] | None) -> "Tally":
        """The tally of the stored catalog: from the last build's `summary` when it has one,
        else counted again."""
        tally = None if summary is None else cls.restored(summary, conn)
        return cls.counted(conn) if tally is None else tally

    @classmethod
    def restored(cls, summary: Mapping[str, Any], conn: sa.Connection) -> "Tally | None":
        """The tally a `summary` stands for, its rows read by key; None when one is missing."""
        keys = sorted({(p, m) for p, m in (*summary["first"], *summary["noted"])})
        found = cast(dict[Key, CatalogRow], stored_catalog_rows(conn, keys, [model_catalog]))
        if len(found) < len(keys):
            return None
        return cls(rows=summary["rows"], served=summary["served"], active=summary["active"],
                   unpriced=summary["unpriced"], providers=set(summary["providers"]),
                   by_price_source=Counter(summary["by_price_source"]),
                   first=[found[(p, m)] for p, m in summary["first"]],
                   noted=[found[(p, m)] for p, m in summary["noted"]])

    @property
    def noted_served(self) -> list[CatalogRow]:
        return [r for r in self.noted if r["state"] != UNLISTED]

    @property
    def noted_active(self) -> list[CatalogRow]:
        return [r for r in self.noted if r["state"] == ACTIVE]
