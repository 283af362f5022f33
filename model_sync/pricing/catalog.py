"""The catalog's price components: each served offering's sets in force now, merged from the
`prices` intervals of its source rows; the counts the UI shows; the audit of what was withheld.
Plain Python: the `prices` asset, the exports and the command line use it alike."""

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.build_digests import code_digest, held, table_stamp
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.contract import ARCHIVED, UNLISTED
from model_sync.catalog.engine import reading
from model_sync.catalog.grouped import apart, by_offering, mappings
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.rules import Finding, PricesAudit, audit
from model_sync.catalog.schema import model_catalog, prices
from model_sync.catalog.store import CatalogStore
from model_sync.pricing.lookup import OFFERING_SOURCES, PROVIDER_SOURCES
from model_sync.pricing.merge import Merged, contradictions, merge_prices, ranking
from model_sync.pricing.storage import PriceWrites, price_rows, reconcile_prices
from model_sync.pricing.vocabulary import COMPONENTS

MODALITIES = frozenset(name for name, c in COMPONENTS.items()
                       if c.dims.get("modality") or name in ("input_images", "output_images"))
PRICES = "prices"  # the build's name in `build_digests`
# The counts of offerings shown in the asset's metadata, by what their prices include.
KINDS = ("tiered", "batch", "flex", "priority", "fast", "regional", "time_of_day",
         "modality", "request_fee", "web_search")


def catalog_prices(store: CatalogStore, *, at: datetime,
                   offerings: Iterable[tuple[str, str]] | None = None,
                   rows: Iterable[dict[str, Any]] | None = None
                   ) -> dict[tuple[str, str], Merged]:
    """The merged sets in force at `at` of every catalog offering (or of those given, as
    `(provider, model_id)`), keyed like the catalog: provider and case-folded model id. `rows`:
    the intervals in force at `at`, when already read."""
    wanted = None if offerings is None else {catalog_key(p, m) for p, m in offerings}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in price_rows(store.engine, at=at) if rows is None else rows:
        key = catalog_key(row["provider"] or "", row["model_id"] or "")
        if (row["source"] in OFFERING_SOURCES or row["source"] == OVERRIDE) and (
                wanted is None or key in wanted):
            grouped.setdefault(key, []).append(row)
    rank = ranking(PROVIDER_SOURCES)
    return {key: merge_prices(rows, at=at, rank=rank) for key, rows in grouped.items()}


def published(merged: Merged) -> list[dict[str, Any]]:
    """An offering's components as exported: each chosen set's rows, with their source."""
    out = []
    for (mode, region), chosen in sorted(merged.chosen.items(),
                                         key=lambda item: (item[0][0], item[0][1] or "")):
        for row in sorted(chosen.rows, key=lambda r: (list(COMPONENTS).index(r["component"]),
                                                      r["min_prompt_tokens"], r["window"] or "")):
            out.append({k: v for k, v in {
                "component": row["component"], "unit": row["unit"], "mode": mode,
                "region": region, "min_prompt_tokens": row["min_prompt_tokens"] or None,
                "window": row["window"], "price": row["price"], "source": row["source"],
                "valid_from": row["valid_from"], "valid_to": row["valid_to"]}.items()
                if v is not None})
    return out


def kinds(merged: Merged) -> set[str]:
    """What an offering's published prices include (see KINDS)."""
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


@dataclass
class PricesBuild:
    """What a build of the catalog's price components found."""

    writes: PriceWrites
    offerings: int = 0
    priced: int = 0
    components: int = 0
    counts: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)


def build_prices(store: CatalogStore, *, started: datetime, run_id: str | None) -> PricesBuild:
    """Hold every source's intervals to its rows (repairing what a sync could not write, and
    ending archived rows'), then merge and audit the served offerings' components (unless the
    served offerings and the intervals in force are those the last build merged)."""
    writes = reconcile_prices(store.engine, now=started, run_id=run_id)
    with store.engine.begin() as conn:
        digest, offerings = _inputs_digest(conn)
        found = held(conn, PRICES, digest, now=started)
    if found is None:
        found = _merged(store, started)
        with store.engine.begin() as conn:
            record_digest(conn, PRICES, digest, now=started, outcome=found)
    build = PricesBuild(writes, offerings=offerings, priced=found["priced"],
                        components=found["components"], counts=Counter(found["counts"]),
                        by_source=Counter(found["by_source"]))
    build.findings = audit("prices", PricesAudit(build.priced, found["withheld"],
                                                 found["contradicting"]))
    return build


def _served() -> sa.Select:
    """The served offerings (neither archived nor unlisted), in catalog order."""
    return sa.select(model_catalog.c.provider, model_catalog.c.model_id).where(
        model_catalog.c.state.not_in([ARCHIVED, UNLISTED])).order_by(
        model_catalog.c.provider, model_catalog.c.model_id)


def _merged(store: CatalogStore, at: datetime) -> dict[str, Any]:
    """What the served offerings' merged components hold, as `build_prices` reports it: the
    intervals in force read in offering order, one offering merged at a time."""
    counts: Counter = Counter()
    by_source: Counter = Counter()
    priced = components = 0
    noted: list[tuple[tuple[str, str], list[str], list[str]]] = []
    rank = ranking(PROVIDER_SOURCES)
    mine = (prices.c.source.in_([*OFFERING_SOURCES, OVERRIDE]),
            sa.or_(prices.c.valid_from.is_(None), prices.c.valid_from <= at),
            sa.or_(prices.c.valid_to.is_(None), prices.c.valid_to > at))
    with reading(store.engine) as conn:
        served = {catalog_key(p, m) for p, m in conn.execute(_served())}
        held = apart(conn, sa.select(prices.c.provider, prices.c.model_id).where(*mine))
        rows = mappings(conn, sa.select(prices).where(*mine).order_by(
            prices.c.provider, prices.c.model_id, prices.c.id))
        for (provider, model_id), group in by_offering(rows, held):
            if (provider, model_id) not in served:
                continue
            one = merge_prices(sorted(group, key=itemgetter("id")), at=at, rank=rank)
            priced += 1
            counts.update(kinds(one))
            for chosen in one.chosen.values():
                components += len(chosen.rows)
                by_source[chosen.source] += len(chosen.rows)
            together = [row for chosen in one.chosen.values() for row in chosen.rows]
            withheld = [f"{provider}/{model_id} ({row['source']}): {why}"
                        for row, why in one.withheld]
            contradicting = [f"{provider}/{model_id}: {why}"
                             for _, why in contradictions(together)]
            if withheld or contradicting:
                noted.append(((provider, model_id), withheld, contradicting))
    noted.sort(key=itemgetter(0))  # named in key order
    return {"priced": priced, "components": components, "counts": dict(counts),
            "by_source": dict(by_source),
            "withheld": [line for _, lines, _ in noted for line in lines],
            "contradicting": [line for _, _, lines in noted for line in lines]}


def _inputs_digest(conn: sa.Connection) -> tuple[str, int]:
    """What a merge reads: the catalog's rows (the served offerings) and the intervals (`held`
    sees one begin or end since); and how many offerings are served."""
    served = conn.execute(sa.select(sa.func.count()).select_from(
        _served().order_by(None).subquery())).scalar_one()
    digest = hashlib.sha256(f"{code_digest()}\n{table_stamp(conn, model_catalog)}\n"
                            f"{table_stamp(conn, prices)}\n".encode())
    return digest.hexdigest(), served


def count_rows(rows: Iterable[Mapping[str, Any]]) -> Counter:
    """Intervals per source and component."""
    return Counter((r["source"], r["component"]) for r in rows)
