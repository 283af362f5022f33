"""The cost of a request from the catalog database: the offering resolved, its components in
force at the request's time merged, the usage priced (`Pricer.cost`, `cost`)."""

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.clock import utcnow
from model_sync.catalog.contract import ARCHIVED
from model_sync.catalog.engine import DATABASE_URL_ENV, rows_of
from model_sync.catalog.money import format_decimal
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.providers import canonical_provider
from model_sync.catalog.schema import source_offerings
from model_sync.catalog.store import CatalogStore
from model_sync.pricing.calculator import Line, PricingError, line_json, price_usage, total
from model_sync.pricing.merge import merge_prices, ranking
from model_sync.pricing.resolve import Resolved, resolve
from model_sync.pricing.storage import price_rows
from model_sync.pricing.usage import read_usage
from model_sync.pricing.vocabulary import MODES
from model_sync.sources import SOURCES

PROVIDER_SOURCES = [s.name for s in SOURCES if s.role == "provider"]
OFFERING_SOURCES = [s.name for s in SOURCES if s.role in ("provider", "registry")]
_COLUMNS = ("source", "source_key", "provider", "model_id", "canonical_id", "hugging_face_id",
            "name", "state", "extra")


@dataclass(frozen=True)
class Cost:
    """The exact cost of one request: `total` (USD) and a line per component."""

    provider: str
    model: str
    model_id: str
    canonical_id: str | None
    at: datetime
    mode: str
    region: str | None
    total: Decimal
    components: list[Line] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """JSON values: decimals as exact text."""
        return {"provider": self.provider, "model": self.model, "model_id": self.model_id,
                "canonical_id": self.canonical_id, "at": self.at.isoformat(), "mode": self.mode,
                "region": self.region, "total": format_decimal(self.total),
                "components": [line_json(line) for line in self.components]}


class Pricer:
    """Prices requests from one catalog database."""

    def __init__(self, store: CatalogStore):
        self.store = store

    def offering_rows(self, provider: str) -> list[dict[str, Any]]:
        """The provider's offering rows still in the catalog, with what resolving them needs."""
        columns = [source_offerings.c[c] for c in _COLUMNS]
        query = sa.select(*columns).where(source_offerings.c.provider == provider,
                                          source_offerings.c.state != ARCHIVED,
                                          source_offerings.c.source.in_(OFFERING_SOURCES))
        with self.store.engine.connect() as conn:
            return rows_of(conn, query)

    def resolve(self, provider: str, model: str) -> tuple[str, Resolved]:
        """The provider's canonical id and the offering `model` names."""
        name = canonical_provider(provider) or ""
        rows = self.offering_rows(name)
        if not rows:
            raise PricingError(f"no provider {provider!r} in the catalog (as {name!r})")
        found = resolve(model, name, rows)
        if found is None:
            raise PricingError(f"{name}: no offering matches the model {model!r}")
        return name, found

    def overrides(self, provider: str, found: Resolved) -> list[dict[str, Any]]:
        """The overridden components of the offering the model string named (see `overlay`)."""
        ids = {r["model_id"].casefold() for r in found.rows if r["source_key"] in found.named}
        return [r for r in price_rows(self.store.engine, provider=provider, source=OVERRIDE)
                if (r["model_id"] or "").casefold() in ids]

    def cost(self, provider: str, model: str, usage: Any, at: datetime | None = None,
             mode: str = "standard", region: str | None = None) -> Cost:
        """The exact cost of `usage` on `model` at `provider`, at `at` (default now)."""
        if mode not in MODES:
            raise PricingError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        when = _utc(at) if at is not None else utcnow()
        name, found = self.resolve(provider, model)
        counts = read_usage(usage, name)
        region = region or found.region
        keys = [(r["source"], r["source_key"]) for r in found.rows]
        intervals = price_rows(self.store.engine, keys=keys) + self.overrides(name, found)
        label = f"{name}/{found.model_id}"
        if not intervals:
            raise PricingError(f"{label}: no source publishes a price for it (sources: "
                               f"{', '.join(sorted({r['source'] for r in found.rows}))})")
        merged = merge_prices(intervals, at=when, rank=ranking(PROVIDER_SOURCES, found.named))
        if not merged.chosen:
            raise PricingError(f"{label}: no price in force at {when.isoformat()}; "
                               f"{_span(intervals)}")
        lines = price_usage(merged, counts, mode=mode, region=region, at=when, offering=label)
        return Cost(name, model, found.model_id, found.canonical_id, when, mode, region,
                    total(lines), lines)


def cost(provider: str, model: str, usage: Any, at: datetime | None = None,
         mode: str = "standard", region: str | None = None, *,
         database_url: str | None = None) -> Cost:
    """The exact cost of one request, from the catalog at `database_url` (default
    `MODEL_SYNC_DATABASE_URL`, else `data/model_sync.db`)."""
    store = CatalogStore.from_url(database_url or os.environ.get(DATABASE_URL_ENV))
    try:
        return Pricer(store).cost(provider, model, usage, at=at, mode=mode, region=region)
    finally:
        store.dispose()


def _span(intervals: list[dict[str, Any]]) -> str:
    """When the prices known for an offering were in force, for an error message."""
    starts = [r["valid_from"] for r in intervals]
    ends = [r["valid_to"] for r in intervals]
    first = "before the catalog knew them" if None in starts else min(starts).isoformat()
    last = "now" if None in ends else max(ends).isoformat()
    return f"its prices are known from {first} until {last}"


def _utc(at: datetime | str) -> datetime:
    """An instant in UTC; a naive one is taken to be UTC already."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


__all__ = ["Cost", "Pricer", "PricingError", "cost"]
