"""The combined catalog: every source's last good rows merged into one row per offering."""

import time

import dagster as dg
from pydantic import Field

from model_sync.catalog import CATALOG
from model_sync.catalog.clock import utcnow
from model_sync.catalog.overrides import OverridesError
from model_sync.catalog.rules import rules
from model_sync.catalog.schema import CATALOG_FIELDS, LIFECYCLE_FIELDS
from model_sync.defs.checks import results, specs
from model_sync.defs.metadata import (
    overrides_metadata,
    preview,
    stats_metadata,
    table_schema,
)
from model_sync.defs.reporting import report_failure
from model_sync.defs.resources import CatalogDatabase
from model_sync.defs.source_assets import OWNERS, unexpected_failure
from model_sync.ingest.catalog import build_catalog_tables
from model_sync.redact import redact
from model_sync.sources import SOURCES

CATALOG_CONDITION = (
    (dg.AutomationCondition.newly_missing()
     | dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
     .with_label("any_source_updated"))
    .since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild_after_source_updates")
"""Rebuild when a source published new rows since the catalog was last requested or built, once
no source sync is still running and no catalog build is in progress: a burst of source updates
gives one build. A blocked sync publishes nothing (write-audit-publish), so it never triggers one.
Unlike `eager()`: a source that never synced (its key is not set) does not hold the catalog back,
and a run that planned the catalog but skipped it (one of its sources failed) is followed by a
build, since the catalog merges whatever the sources last published."""


class CatalogConfig(dg.Config):
    """Run options of a catalog build."""

    min_rows: int = Field(default=2000, description="Fewest offerings accepted in the catalog.")
    archive_after_days: float = Field(default=7, description="Grace period before an offering "
                                      "missing from its source is archived.")
    retention_days: float = Field(default=90, description="Sync records and change events older "
                                  "than this are deleted (price history never is).")


@dg.asset(
    name=CATALOG,
    group_name="catalog",
    description=(
        "The combined catalog: one row per provider x model_id, merged from every source's last "
        "good rows. Each field comes from the first source that has it (the provider's own API, "
        "then models.dev, LiteLLM, genai-prices); prices come as one set from one source. Curated "
        "offerings that a provider's synced own API does not list are kept as unlisted, out of "
        "the active catalog."
    ),
    deps=[spec.name for spec in SOURCES],
    kinds={"pandas", "sqlalchemy"},
    owners=OWNERS,
    check_specs=specs(CATALOG, rules("catalog")),
    automation_condition=CATALOG_CONDITION,
    metadata={
        "dagster/column_schema": table_schema(CATALOG_FIELDS + LIFECYCLE_FIELDS),
        "dagster/table_name": CATALOG,
    },
    pool="model_catalog",
    hooks={report_failure},
)
def model_catalog(context: dg.AssetExecutionContext, config: CatalogConfig,
                  catalog_db: CatalogDatabase):
    """Build the catalog through `model_sync.ingest.catalog`; its outcome, for Dagster."""
    started, clock = utcnow(), time.monotonic()
    store = catalog_db.store()
    try:
        build = build_catalog_tables(store, run_id=context.run.run_id, started=started,
                                     log=context.log, min_rows=config.min_rows,
                                     archive_after_days=config.archive_after_days,
                                     retention_days=config.retention_days,
                                     overrides_file=catalog_db.resolved_overrides_file())
    except OverridesError as exc:  # expected: one line, no traceback, no retry
        raise dg.Failure(description=redact(f"{CATALOG}: not built: {exc}. The previous catalog "
                                            "is kept."), allow_retries=False) from None
    except Exception as exc:
        # Not the exception itself: its raw message and chain would reach the event log.
        raise unexpected_failure(CATALOG, exc) from None
    finally:
        store.dispose()
    yield from results(CATALOG, build.findings)
    if build.blocked:
        reason = redact("; ".join(f.description for f in build.blocked))
        raise dg.Failure(description=f"{CATALOG}: not published, blocked by its checks: "
                                     f"{reason}. The previous catalog is kept.",
                         allow_retries=False)
    duration = time.monotonic() - clock
    stats, tally = build.stats, build.tally
    context.log.info(f"{CATALOG}: {stats.rows:,} offerings from {build.source_rows:,} source "
                     f"rows ({stats.added} added, {stats.updated} updated, {stats.removed} "
                     f"archived, {stats.unchanged} unchanged; {tally.rows - tally.served:,} more "
                     f"unlisted by their provider's API); {build.archived.removed} source rows "
                     f"archived; {build.renamed} canonical ids updated; cleanup deleted "
                     f"{build.cleaned} in {duration:.1f}s")
    yield dg.MaterializeResult(metadata={
        **stats_metadata(stats, duration),
        "providers": len(tally.providers),
        "removed_in_grace_period": tally.served - tally.active,
        "unlisted": tally.rows - tally.served,
        "source_rows_archived": build.archived.removed,
        "canonical_ids_updated": build.renamed,
        "deleted_sync_runs": build.cleaned["sync_runs"],
        "deleted_changes": build.cleaned["catalog_changes"],
        "deleted_rejected_entries": build.cleaned["rejected_entries"],
        "source_rows": build.source_rows,
        "unpriced": tally.unpriced,
        "rows_by_price_source": dg.MetadataValue.json(dict(sorted(tally.by_price_source.items()))),
        **overrides_metadata(build.overrides),
        "preview": preview(tally.first),
    })
