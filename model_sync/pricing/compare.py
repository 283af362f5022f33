"""Which provider is cheapest for a workload: every served offering of one canonical model,
priced for the same usage, cheapest first."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.contract import ACTIVE
from model_sync.catalog.engine import rows_of
from model_sync.catalog.identity import Resolver
from model_sync.catalog.schema import model_catalog, models, source_offerings
from model_sync.pricing.calculator import PricingError
from model_sync.pricing.lookup import OFFERING_SOURCES, Pricer


@dataclass(frozen=True)
class Option:
    """One provider's offering of the model: its limits, and its cost or why it has none."""

    provider: str
    model_id: str
    context_window: int | None
    max_output_tokens: int | None
    supports_tools: bool | None
    total: Decimal | None
    error: str | None = None
    sources: str | None = None


@dataclass(frozen=True)
class Comparison:
    canonical_id: str
    output_tokens_per_second: float | None
    options: list[Option]


def canonical_of(pricer: Pricer, model: str) -> str | None:
    """The canonical model a model string names: a canonical id itself, an offering's exact
    model id, else what the identity rules make of it."""
    with pricer.store.engine.connect() as conn:
        if conn.execute(sa.select(models.c.canonical_id).where(
                models.c.canonical_id == model)).first():
            return model
        columns = [source_offerings.c[c] for c in ("source", "model_id", "hugging_face_id",
                                                   "name", "canonical_id")]
        rows = rows_of(conn, sa.select(*columns).where(
            source_offerings.c.source.in_(OFFERING_SOURCES)))
    for form in (model, model.split("/", 1)[-1]):
        exact = {r["canonical_id"] for r in rows
                 if r["model_id"].casefold() == form.casefold() and r["canonical_id"]}
        if exact:
            return min(exact, key=len)
    wanted = Resolver(rows).canonical_id({"model_id": model})
    return wanted if any(r["canonical_id"] == wanted for r in rows) else None


def compare(pricer: Pricer, model: str, usage: Any, *, at: datetime | None = None,
            mode: str = "standard", min_context: int | None = None,
            tools: bool = False) -> Comparison:
    """Every served offering of `model`'s canonical model meeting the limits, priced for
    `usage`: the priced ones cheapest first, then the ones that cannot be priced, with why."""
    canonical = canonical_of(pricer, model)
    if canonical is None:
        raise PricingError(f"no model in the catalog matches {model!r}")
    with pricer.store.engine.connect() as conn:
        offers = rows_of(conn, sa.select(model_catalog).where(
            model_catalog.c.canonical_id == canonical, model_catalog.c.state == ACTIVE))
        speed = conn.execute(sa.select(models.c.output_tokens_per_second).where(
            models.c.canonical_id == canonical)).scalar()
    options = []
    for offer in offers:
        if min_context and (offer["context_window"] or 0) < min_context:
            continue
        if tools and offer["supports_tools"] is not True:
            continue
        limits = (offer["provider"], offer["model_id"], offer["context_window"],
                  offer["max_output_tokens"], offer["supports_tools"])
        try:
            cost = pricer.cost(offer["provider"], offer["model_id"], usage, at=at, mode=mode)
        except PricingError as exc:  # a bad usage (UsageError) is the caller's: it propagates
            options.append(Option(*limits, None, str(exc)))
            continue
        sources = ", ".join(sorted({line.source for line in cost.components}))
        options.append(Option(*limits, cost.total, sources=sources))
    options.sort(key=lambda o: (o.total is None, o.total or 0, o.provider))
    return Comparison(canonical, speed, options)
