"""The combined catalog: every source's last good rows merged into one row per offering."""

import time
from collections import Counter

import dagster as dg
from pydantic import Field

from model_sync.catalog import validate
from model_sync.catalog.clock import utcnow
from model_sync.catalog.history import ACTIVE, UNLISTED
from model_sync.catalog.identity import Resolver
from model_sync.catalog.merge import build_catalog
from model_sync.catalog.rollup import build_models
from model_sync.catalog.schema import CATALOG_FIELDS, LIFECYCLE_FIELDS
from model_sync.catalog.store import CATALOG, CatalogStore
from model_sync.defs.checks import CATALOG_RULES, results, specs
from model_sync.defs.metadata import preview, stats_metadata, table_schema
from model_sync.defs.resources import CatalogDatabase
from model_sync.defs.source_assets import OWNERS, record_quietly, unexpected_failure
from model_sync.redact import redact
from model_sync.sources import SOURCES
from model_sync.sources.base import OFFERING_ROLES

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


def resolve_all(store: CatalogStore, rows: list[dict]) -> int:
    """Recompute every row's canonical_id with all sources known; store the ones that moved."""
    resolver = Resolver(rows)
    mapping = {}
    for row in rows:
        row["canonical_id"] = resolver.canonical_id(row)
        mapping[(row["source"], row["source_key"])] = row["canonical_id"]
    return store.update_canonical_ids(mapping)


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
    check_specs=specs(CATALOG, CATALOG_RULES),
    automation_condition=CATALOG_CONDITION,
    metadata={
        "dagster/column_schema": table_schema(CATALOG_FIELDS + LIFECYCLE_FIELDS),
        "dagster/table_name": CATALOG,
    },
    pool="model_catalog",
)
def model_catalog(context: dg.AssetExecutionContext, config: CatalogConfig,
                  catalog_db: CatalogDatabase):
    started, clock = utcnow(), time.monotonic()
    run_id = context.run.run_id
    store = catalog_db.store()
    try:
        archived = store.archive_removed(now=started, grace_days=config.archive_after_days,
                                         run_id=run_id)
        everything = store.offerings()
        renamed = resolve_all(store, everything)
        by_role = {s.name: s.role for s in SOURCES}
        # Benchmarks and Hub metadata describe models, not offerings: never catalog rows.
        offerings = [r for r in everything if by_role.get(r["source"]) in OFFERING_ROLES]
        rows = build_catalog(offerings,
                             provider_sources=[s.name for s in SOURCES if s.role == "provider"],
                             built_at=started)
        active = [r for r in rows if r["state"] == ACTIVE]
        # What is published as served: unlisted offerings stay in the table, out of the checks.
        served = [r for r in rows if r["state"] != UNLISTED]
        findings = [
            validate.min_rows(active, config.min_rows, CATALOG),
            validate.unique_offerings(rows),
            validate.prices_non_negative(served),
            validate.prices_plausible(served),
            validate.output_price_present(active),
            validate.context_window_range(active),
        ]
        yield from results(CATALOG, findings)
        blocked = [f for f in findings if f.blocks]
        if blocked:
            reason = redact("; ".join(f.description for f in blocked))
            store.record_failure(CATALOG, run_id=run_id, started_at=started,
                                 status="blocked", error=reason, rows_fetched=len(rows))
            raise dg.Failure(description=f"{CATALOG}: not published, blocked by its checks: "
                                         f"{reason}. The previous catalog is kept.",
                             allow_retries=False)
        stats = store.publish_catalog(rows, run_id=run_id, started_at=started, now=started)
        rollup = build_models(
            rows,
            benchmarks=[r for r in everything if by_role.get(r["source"]) == "benchmarks"],
            hub=[r for r in everything if by_role.get(r["source"]) == "models"])
        models_written = store.publish_models(rollup, now=started)
        cleaned = store.cleanup(now=started, retention_days=config.retention_days)
    except dg.Failure:
        raise  # a blocked build, already recorded
    except Exception as exc:
        record_quietly(store, CATALOG, run_id, started, "failed",
                       redact(f"{CATALOG}: {type(exc).__name__}: {exc}; the previous catalog is "
                              "kept"), context.log)
        # Not the exception itself: its raw message and chain would reach the event log.
        raise unexpected_failure(CATALOG, exc) from None
    except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
        record_quietly(store, CATALOG, run_id, started, "interrupted",
                       f"{CATALOG}: the run was terminated mid-build; the previous catalog is "
                       "kept", context.log)
        raise
    finally:
        store.dispose()
    duration = time.monotonic() - clock
    by_price_source = Counter(r["price_source"] or "unpriced" for r in active)
    context.log.info(f"{CATALOG}: {stats.rows:,} offerings from {len(offerings):,} source rows "
                     f"({stats.added} added, {stats.updated} updated, {stats.removed} archived, "
                     f"{stats.unchanged} unchanged; {len(rows) - len(served):,} more unlisted by "
                     f"their provider's API); {len(rollup):,} models "
                     f"({models_written} written); {archived.removed} source rows archived; "
                     f"{renamed} canonical ids updated; cleanup deleted {cleaned} in "
                     f"{duration:.1f}s")
    yield dg.MaterializeResult(metadata={
        **stats_metadata(stats, duration),
        "providers": len({r["provider"] for r in active}),
        "models": len(rollup),
        "removed_in_grace_period": len(served) - len(active),
        "unlisted": len(rows) - len(served),
        "source_rows_archived": archived.removed,
        "canonical_ids_updated": renamed,
        "deleted_sync_runs": cleaned["sync_runs"],
        "deleted_changes": cleaned["catalog_changes"],
        "deleted_rejected_entries": cleaned["rejected_entries"],
        "source_rows": len(offerings),
        "unpriced": sum(1 for r in active if r["price_source"] is None),
        "rows_by_price_source": dg.MetadataValue.json(dict(sorted(by_price_source.items()))),
        "preview": preview(served),
    })
