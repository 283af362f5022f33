"""Tables derived from the catalog, each an asset of the `catalog` group: the `models` rollup.

They follow the catalog by declarative automation (`eager`): a catalog build is followed by
their builds, and "Materialize all" builds them after it in the same run.
"""

import time

import dagster as dg
from pydantic import Field

from model_sync.catalog import CATALOG
from model_sync.catalog.clock import utcnow
from model_sync.catalog.rules import rules
from model_sync.catalog.schema import MODEL_FIELDS
from model_sync.defs.checks import results, specs
from model_sync.defs.metadata import table_schema
from model_sync.defs.resources import CatalogDatabase
from model_sync.defs.source_assets import OWNERS, unexpected_failure
from model_sync.ingest.catalog import build_models_table

MODELS = "models"
DERIVED = (MODELS,)  # built after the catalog, in this order


class ModelsConfig(dg.Config):
    """Run options of the models rollup."""

    min_rows: int = Field(default=500, description="Fewest models accepted in the rollup.")


@dg.asset(
    name=MODELS,
    group_name="catalog",
    description=(
        "One row per canonical model, rolled up across every provider serving it (unlisted "
        "offerings left out): the largest context window, the cheapest input and output price "
        "and who offers them, the providers, and the Hugging Face and Artificial Analysis "
        "figures of the sources that describe models."
    ),
    deps=[CATALOG],
    kinds={"pandas", "sqlalchemy"},
    owners=OWNERS,
    check_specs=specs(MODELS, rules("models")),
    automation_condition=dg.AutomationCondition.eager(),
    metadata={"dagster/column_schema": table_schema(MODEL_FIELDS),
              "dagster/table_name": MODELS},
    pool="model_catalog",
)
def models(context: dg.AssetExecutionContext, config: ModelsConfig, catalog_db: CatalogDatabase):
    """Build the rollup through `model_sync.ingest.catalog`; its outcome, for Dagster."""
    started, clock = utcnow(), time.monotonic()
    store = catalog_db.store()
    try:
        rollup = build_models_table(store, started=started, min_rows=config.min_rows)
    except Exception as exc:
        raise unexpected_failure(MODELS, exc) from None
    finally:
        store.dispose()
    yield from results(MODELS, rollup.findings)
    if rollup.blocked:
        reason = "; ".join(f.description for f in rollup.blocked)
        raise dg.Failure(description=f"{MODELS}: not published, blocked by its checks: {reason}. "
                                     "The previous rollup is kept.", allow_retries=False)
    shared = sum(1 for r in rollup.rows if (r.get("providers") or 0) > 1)
    context.log.info(f"{MODELS}: {len(rollup.rows):,} models ({rollup.written:,} written), "
                     f"{shared:,} served by more than one provider, in "
                     f"{time.monotonic() - clock:.1f}s")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(len(rollup.rows)),
        "rows": dg.MetadataValue.int(len(rollup.rows)),
        "written": dg.MetadataValue.int(rollup.written),
        "served_by_several_providers": dg.MetadataValue.int(shared),
        "duration_seconds": dg.MetadataValue.float(round(time.monotonic() - clock, 3)),
    })
