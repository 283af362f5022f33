"""The combined catalog: every source's last good rows merged into one row per offering."""

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from model_sync.catalog import validate
from model_sync.catalog.merge import build_catalog
from model_sync.catalog.schema import CATALOG_FIELDS
from model_sync.defs.checks import CATALOG_RULES, results, specs
from model_sync.defs.metadata import preview, stats_metadata, table_schema
from model_sync.defs.resources import CatalogDatabase
from model_sync.defs.source_assets import OWNERS
from model_sync.sources import SOURCES
from model_sync.sources.base import OFFERING_ROLES

CATALOG = "model_catalog"
CATALOG_FRESHNESS_HOURS = 8  # the fastest source is synced every 6 hours


class CatalogConfig(dg.Config):
    """Run options of a catalog build."""

    min_rows: int = Field(default=2000, description="Fewest offerings accepted in the catalog.")


@dg.asset(
    name=CATALOG,
    group_name="catalog",
    description=(
        "The combined catalog: one row per provider x model_id, merged from every source's last "
        "good rows. Each field comes from the first source that has it (the provider's own API, "
        "then models.dev, LiteLLM, genai-prices); prices come as one set from one source."
    ),
    deps=[spec.name for spec in SOURCES],
    kinds={"pandas", "sqlalchemy"},
    owners=OWNERS,
    check_specs=specs(CATALOG, CATALOG_RULES),
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=CATALOG_FRESHNESS_HOURS)),
    metadata={
        "dagster/column_schema": table_schema(CATALOG_FIELDS),
        "dagster/table_name": CATALOG,
    },
    pool="model_catalog",
)
def model_catalog(context: dg.AssetExecutionContext, config: CatalogConfig,
                  catalog_db: CatalogDatabase):
    started, clock = datetime.now(UTC), time.monotonic()
    store = catalog_db.store()
    try:
        # Benchmarks and Hub metadata describe models, not offerings: never catalog rows.
        offering_sources = [s.name for s in SOURCES if s.role in OFFERING_ROLES]
        offerings = store.offerings(offering_sources)
        rows = build_catalog(offerings,
                             provider_sources=[s.name for s in SOURCES if s.role == "provider"],
                             built_at=started)
        findings = [
            validate.min_rows(rows, config.min_rows, CATALOG),
            validate.unique_offerings(rows),
            validate.prices_non_negative(rows),
            validate.output_price_present(rows),
            validate.context_window_range(rows),
        ]
        yield from results(CATALOG, findings)
        blocked = [f for f in findings if f.blocks]
        if blocked:
            reason = "; ".join(f.description for f in blocked)
            store.record_failure(CATALOG, run_id=context.run.run_id, started_at=started,
                                 status="blocked", error=reason, rows_fetched=len(rows))
            raise dg.Failure(description=f"{CATALOG}: not published, blocked by its checks: "
                                         f"{reason}. The previous catalog is kept.",
                             allow_retries=False)
        stats = store.publish_catalog(rows, run_id=context.run.run_id, started_at=started)
    finally:
        store.dispose()
    duration = time.monotonic() - clock
    by_price_source = Counter(r["price_source"] or "unpriced" for r in rows)
    context.log.info(f"{CATALOG}: published {stats.rows:,} offerings from "
                     f"{len(offerings):,} source rows in {duration:.1f}s")
    yield dg.MaterializeResult(metadata={
        **stats_metadata(stats, duration),
        "providers": len({r["provider"] for r in rows}),
        "source_rows": len(offerings),
        "unpriced": by_price_source.get("unpriced", 0),
        "rows_by_price_source": dg.MetadataValue.json(dict(sorted(by_price_source.items()))),
        "preview": preview(rows),
    })
