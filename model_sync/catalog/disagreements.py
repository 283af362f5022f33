"""Where independent sources disagree: for each served offering, each price component (in force
now) and token limit that two or more sources publish with different values, beyond a
tolerance; with what the catalog chose, from which source and why. Copies of another source
(`copies.py`) are shown beside the values but are not counted. Plain Python: the
`source_disagreements` asset and `model-sync disagreements` use it alike."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ACTIVE
from model_sync.catalog.copies import copied_from
from model_sync.catalog.engine import reading, rows_of
from model_sync.catalog.grouped import apart, by_offering, mappings
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.previous import KEYS_PER_QUERY
from model_sync.catalog.schema import model_catalog, source_offerings
from model_sync.catalog.store import CatalogStore
from model_sync.pricing.catalog import catalog_prices
from model_sync.pricing.lookup import OFFERING_SOURCES
from model_sync.pricing.merge import Merged
from model_sync.pricing.report import served_offerings
from model_sync.pricing.storage import in_force_rows
from model_sync.pricing.vocabulary import COMPONENTS

LIMIT_FIELDS = ("context_window", "max_output_tokens")
_OFFERING_COLUMNS = ("source", "source_key", "provider", "model_id", *LIMIT_FIELDS)
OVERRIDE = "override"  # the source named by a value a person set by hand
# Prices are money: any difference is one, unless asked otherwise. Token limits are often the
# same limit written two ways, "128K" as 128,000 or 131,072 and "1M" as 1,000,000 or 1,048,576
# (4.9% apart, the widest such gap): within 5% they agree.
PRICE_TOLERANCE = Decimal(0)
LIMIT_TOLERANCE = Decimal("0.05")


@dataclass(frozen=True)
class Slot:
    """What is compared: a token limit, or a price component with its mode, region, tier and
    time of day."""

    field: str
    mode: str | None = None
    region: str | None = None
    min_prompt_tokens: int | None = None
    window: str | None = None

    @property
    def kind(self) -> str:
        return "token_limit" if self.field in LIMIT_FIELDS else "price"

    @property
    def unit(self) -> str:
        return "tokens" if self.kind == "token_limit" else COMPONENTS[self.field].unit

    @property
    def label(self) -> str:
        """`input`, `input (batch, eu, from 200000 tokens, 16:30-00:30 UTC)`, `context_window`."""
        terms = [self.mode if self.mode not in (None, "standard") else None, self.region,
                 f"from {self.min_prompt_tokens} tokens" if self.min_prompt_tokens else None,
                 f"{self.window} UTC" if self.window else None]
        shown = ", ".join(t for t in terms if t)
        return f"{self.field} ({shown})" if shown else self.field


@dataclass
class Disagreement:
    """One offering's slot on which independent sources publish different values."""

    provider: str
    model_id: str
    slot: Slot
    values: dict[str, Any]
    copies: dict[str, Any] = field(default_factory=dict)
    chosen_value: Any = None
    chosen_source: str | None = None

    @property
    def relative_difference(self) -> Decimal | None:
        return relative_difference(self.values.values())

    @property
    def chosen_by(self) -> str | None:
        if self.chosen_source is None:
            return None
        return OVERRIDE if self.chosen_source == OVERRIDE else "precedence"


def relative_difference(values: Iterable[Any]) -> Decimal | None:
    """(max - min) / min, exact; None when min is 0 (a free price beside a paid one)."""
    numbers = [Decimal(v) for v in values]
    low, high = min(numbers), max(numbers)
    return None if low == 0 else (high - low) / low


def differ(values: Mapping[str, Any], tolerance: Decimal) -> bool:
    """Whether the values are further apart than the tolerance (0: any difference)."""
    if len(set(values.values())) < 2:
        return False
    relative = relative_difference(values.values())
    return relative is None or relative > tolerance


def votes(provider: str, by_source: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The values of independent sources, and those of copies (not counted)."""
    own = {s: v for s, v in by_source.items() if copied_from(s, provider) is None}
    copied = {s: v for s, v in by_source.items() if copied_from(s, provider) is not None}
    return own, copied


def compare(provider: str, model_id: str, published: Mapping[Slot, Mapping[str, Any]], *,
            price_tolerance: Decimal = PRICE_TOLERANCE,
            limit_tolerance: Decimal = LIMIT_TOLERANCE) -> list[Disagreement]:
    """The slots of one offering whose independent sources' values (`published`: slot ->
    source -> value) differ beyond the tolerance of their kind."""
    found = []
    for slot, by_source in published.items():
        own, copied = votes(provider, by_source)
        tolerance = limit_tolerance if slot.kind == "token_limit" else price_tolerance
        if len(own) >= 2 and differ(own, tolerance):
            found.append(Disagreement(provider, model_id, slot, dict(sorted(own.items())),
                                      dict(sorted(copied.items()))))
    return found


def find_disagreements(store: CatalogStore, *, at: datetime,
                       price_tolerance: Decimal = PRICE_TOLERANCE,
                       limit_tolerance: Decimal = LIMIT_TOLERANCE) -> list[Disagreement]:
    """Every disagreement among the sources of the catalog's served offerings, at `at`."""
    table = source_offerings
    listing = (table.c.source.in_(OFFERING_SOURCES), table.c.state == ACTIVE)
    with reading(store.engine) as conn:
        # The served offerings' spellings by key: a row is read whole only where sources meet.
        served = {catalog_key(p, m): (p, m) for p, m in conn.execute(served_offerings())}
        held = apart(conn, sa.select(table.c.provider, table.c.model_id).where(*listing))
        offerings = mappings(conn, sa.select(*(table.c[c] for c in _OFFERING_COLUMNS))
                             .where(*listing).order_by(table.c.provider, table.c.model_id))
        # Only an offering that two sources list can have sources that disagree: the others'
        # rows are let go as read, and their intervals are not read.
        listed = {key: rows for key, rows in by_offering(offerings, held)
                  if key in served and len({r["source"] for r in rows}) > 1}
        rows_of_served = _catalog_rows(conn, [served[key] for key in listed])
    published = _limits(listed)
    keys = {(r["source"], r["source_key"]): catalog_key(r["provider"], r["model_id"])
            for rows in listed.values() for r in rows}
    in_force = []
    with reading(store.engine) as conn:
        if listed:
            in_force = [row for row in in_force_rows(conn, at=at)
                        if catalog_key(row["provider"] or "", row["model_id"] or "") in listed]
    for row in sorted(in_force, key=_row_rank):
        priced = keys.get((row["source"], row["source_key"]))
        if priced is not None:
            slot = Slot(row["component"], row["mode"], row["region"],
                        row["min_prompt_tokens"] or 0, row["window"])
            published.setdefault(priced, {}).setdefault(slot, {}).setdefault(row["source"],
                                                                             row["price"])
    found = []
    for key, slots in published.items():
        catalog_row = rows_of_served[key]
        found += compare(catalog_row["provider"], catalog_row["model_id"], slots,
                         price_tolerance=price_tolerance, limit_tolerance=limit_tolerance)
    if found:
        chosen = catalog_prices(store, at=at, offerings=[(d.provider, d.model_id)
                                                         for d in found], rows=in_force)
        for one in found:
            _choice(one, rows_of_served[catalog_key(one.provider, one.model_id)],
                    chosen.get(catalog_key(one.provider, one.model_id)))
    return sorted(found, key=lambda d: (d.provider, d.model_id.casefold(), d.slot.label))


def _catalog_rows(conn: sa.Connection, spelt: Sequence[tuple[str, str]]
                  ) -> dict[tuple[str, str], dict[str, Any]]:
    """The catalog rows of these offerings (provider, model id as stored) by catalog key, with
    what a comparison reads of them."""
    table = model_catalog
    columns = [table.c[c] for c in ("provider", "model_id", *LIMIT_FIELDS, "field_sources")]
    found = {}
    for start in range(0, len(spelt), KEYS_PER_QUERY):
        match = sa.tuple_(table.c.provider, table.c.model_id).in_(
            spelt[start:start + KEYS_PER_QUERY])
        for row in rows_of(conn, sa.select(*columns).where(match)):
            found[catalog_key(row["provider"], row["model_id"])] = row
    return found


def _limits(listed: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]
            ) -> dict[tuple[str, str], dict[Slot, dict[str, Any]]]:
    """Each offering's token limits by source (a source's shortest key first, as the merge)."""
    published: dict[tuple[str, str], dict[Slot, dict[str, Any]]] = {}
    for key, rows in listed.items():
        for row in sorted(rows, key=_row_rank):
            for name in LIMIT_FIELDS:
                if row.get(name) is not None:
                    published.setdefault(key, {}).setdefault(Slot(name), {}).setdefault(
                        row["source"], row[name])
    return published


def _row_rank(row: Mapping[str, Any]) -> tuple:
    return len(row["source_key"]), row["source_key"]


def _choice(found: Disagreement, catalog_row: Mapping[str, Any], merged: Merged | None) -> None:
    """What the catalog publishes for the slot, and from which source."""
    slot = found.slot
    if slot.kind == "token_limit":
        found.chosen_value = catalog_row.get(slot.field)
        found.chosen_source = (catalog_row.get("field_sources") or {}).get(slot.field)
        return
    chosen = merged.chosen.get((slot.mode or "standard", slot.region)) if merged else None
    for row in chosen.rows if chosen else ():
        if (row["component"], row["min_prompt_tokens"] or 0, row["window"]) == (
                slot.field, slot.min_prompt_tokens, slot.window):
            found.chosen_value, found.chosen_source = row["price"], row["source"]
