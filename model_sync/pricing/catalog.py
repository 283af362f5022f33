"""The catalog's price components: each served offering's sets in force now, merged from the
`prices` intervals of its source rows; the build whose counts the UI shows and whose audit
names what was withheld (the counts kept by offering in `report`). Plain Python: the `prices`
asset, the exports and the command line use it alike."""

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from model_sync.catalog.build_digests import code_digest, held, table_stamp
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.merge import catalog_key
from model_sync.catalog.overrides import OVERRIDE
from model_sync.catalog.rules import Finding, PricesAudit, audit
from model_sync.catalog.schema import model_catalog, prices
from model_sync.catalog.store import CatalogStore
from model_sync.pricing.lookup import OFFERING_SOURCES, PROVIDER_SOURCES
from model_sync.pricing.merge import Merged, merge_prices, ranking
from model_sync.pricing.report import PRICES, report, served_offerings
from model_sync.pricing.storage import PriceWrites, price_rows, reconcile_prices
from model_sync.pricing.vocabulary import COMPONENTS

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


@dataclass
class PricesBuild:
    """What a build of the catalog's price components found."""

    writes: PriceWrites
    offerings: int = 0
    merged: int = 0  # the offerings merged again (their intervals in force changed)
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
    merged = 0
    if found is None:
        found = report(store.engine, started)
        merged = found.pop("merged")
        with store.engine.begin() as conn:
            record_digest(conn, PRICES, digest, now=started, outcome=found)
    build = PricesBuild(writes, offerings=offerings, merged=merged, priced=found["priced"],
                        components=found["components"], counts=Counter(found["counts"]),
                        by_source=Counter(found["by_source"]))
    build.findings = audit("prices", PricesAudit(build.priced, found["withheld"],
                                                 found["contradicting"]))
    return build


def _inputs_digest(conn: sa.Connection) -> tuple[str, int]:
    """What a merge reads: the catalog's rows (the served offerings) and the intervals (`held`
    sees one begin or end since); and how many offerings are served."""
    served = conn.execute(sa.select(sa.func.count()).select_from(
        served_offerings().order_by(None).subquery())).scalar_one()
    digest = hashlib.sha256(f"{code_digest()}\n{table_stamp(conn, model_catalog)}\n"
                            f"{table_stamp(conn, prices)}\n".encode())
    return digest.hexdigest(), served


def count_rows(rows: Iterable[Mapping[str, Any]]) -> Counter:
    """Intervals per source and component."""
    return Counter((r["source"], r["component"]) for r in rows)
