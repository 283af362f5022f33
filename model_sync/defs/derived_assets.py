"""Tables derived from the catalog, each an asset of the `catalog` group: the `models` rollup,
the price history (`price_history`), the change feed (`catalog_changes`) and the price
components (`prices`).

Source syncs write the history and the events as they publish; these assets show them in the
lineage, hold them to their rules (repairing the price history where it drifted) and plot what
each build added.

They follow the catalog by declarative automation (`eager`): a catalog build is followed by
their builds, and "Materialize all" builds them after it in the same run.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from model_sync.catalog import CATALOG
from model_sync.catalog.clock import utcnow
from model_sync.catalog.rules import rules
from model_sync.catalog.schema import MODEL_FIELDS
from model_sync.catalog.schema import catalog_changes as changes_table
from model_sync.catalog.schema import price_history as history_table
from model_sync.catalog.schema import prices as prices_table
from model_sync.catalog.store import CatalogStore
from model_sync.defs.checks import results, specs
from model_sync.defs.metadata import columns_of, table_schema
from model_sync.defs.reporting import report_failure
from model_sync.defs.resources import CatalogDatabase
from model_sync.defs.source_assets import OWNERS, unexpected_failure
from model_sync.ingest.derived import (
    build_models_table,
    reconcile_price_history,
    summarize_changes,
)
from model_sync.pricing.catalog import KINDS, build_prices

MODELS, PRICE_HISTORY, CHANGES, PRICES = "models", "price_history", "catalog_changes", "prices"
DISAGREEMENTS = "source_disagreements"  # below the price components (defs/disagreements.py)
DERIVED = (MODELS, PRICE_HISTORY, CHANGES, PRICES, DISAGREEMENTS)  # built after the catalog


class ModelsConfig(dg.Config):
    """Run options of the models rollup."""

    min_rows: int = Field(default=500, description="Fewest models accepted in the rollup.")


@contextmanager
def catalog_store(catalog_db: CatalogDatabase, name: str) -> Iterator[CatalogStore]:
    """A store of the catalog for one build, disposed after; an unexpected error leaves as
    one Failure with every secret masked."""
    store = catalog_db.store()
    try:
        yield store
    except Exception as exc:
        raise unexpected_failure(name, exc) from None
    finally:
        store.dispose()


def derived_asset(name: str, description: str, schema: dg.TableSchema, *,
                  deps: tuple[str, ...] = (CATALOG,), kinds: frozenset[str] = frozenset(
                      {"sqlalchemy"})):
    """The asset of a table derived from the catalog: group `catalog`, its rules as checks,
    built eagerly after what it reads, one at a time with the catalog (pool), failures
    reported."""
    return dg.asset(
        name=name, group_name="catalog", description=description, deps=list(deps),
        kinds=set(kinds), owners=OWNERS, check_specs=specs(name, rules(name)),
        automation_condition=dg.AutomationCondition.eager(),
        metadata={"dagster/column_schema": schema, "dagster/table_name": name},
        pool="model_catalog", hooks={report_failure})


@derived_asset(
    MODELS,
    (
        "One row per canonical model, rolled up across every provider serving it (unlisted "
        "offerings left out): the largest context window, the cheapest input and output price "
        "and who offers them, the providers, and the Hugging Face and Artificial Analysis "
        "figures of the sources that describe models."
    ),
    table_schema(MODEL_FIELDS),
    kinds=frozenset({"pandas", "sqlalchemy"}),
)
def models(context: dg.AssetExecutionContext, config: ModelsConfig, catalog_db: CatalogDatabase):
    """Build the rollup through `model_sync.ingest.derived`; its outcome, for Dagster."""
    started, clock = utcnow(), time.monotonic()
    with catalog_store(catalog_db, MODELS) as store:
        rollup = build_models_table(store, started=started, min_rows=config.min_rows)
    yield from results(MODELS, rollup.findings)
    if rollup.blocked:
        reason = "; ".join(f.description for f in rollup.blocked)
        raise dg.Failure(description=f"{MODELS}: not published, blocked by its checks: {reason}. "
                                     "The previous rollup is kept.", allow_retries=False)
    shared = rollup.shared
    context.log.info(f"{MODELS}: {rollup.rows:,} models ({rollup.written:,} written), "
                     f"{shared:,} served by more than one provider, in "
                     f"{time.monotonic() - clock:.1f}s")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(rollup.rows),
        "rows": dg.MetadataValue.int(rollup.rows),
        "written": dg.MetadataValue.int(rollup.written),
        "served_by_several_providers": dg.MetadataValue.int(shared),
        "duration_seconds": dg.MetadataValue.float(round(time.monotonic() - clock, 3)),
    })


@derived_asset(
    PRICE_HISTORY,
    (
        "Every price set an offering had, as validity intervals (`valid_from`, `valid_to`; an "
        "open interval is in force), written by each source sync and seeded from genai-prices' "
        "dated price lists. A build checks that every listed, priced offering has one open "
        "interval with its current prices, and repairs what does not."
    ),
    columns_of(history_table),
)
def price_history(context: dg.AssetExecutionContext, catalog_db: CatalogDatabase):
    """Reconcile the price history with the rows it describes; report what it holds."""
    started = utcnow()
    with catalog_store(catalog_db, PRICE_HISTORY) as store:
        repair, findings = reconcile_price_history(store, started=started,
                                                   run_id=context.run.run_id)
        counts = store.table_counts()
        open_now = store.open_price_intervals()
    yield from results(PRICE_HISTORY, findings)
    context.log.info(f"{PRICE_HISTORY}: {counts[PRICE_HISTORY]:,} intervals, {open_now:,} in "
                     f"force; {len(repair.offerings):,} of {repair.checked:,} offerings "
                     "repaired")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(counts[PRICE_HISTORY]),
        "intervals": dg.MetadataValue.int(counts[PRICE_HISTORY]),
        "in_force": dg.MetadataValue.int(open_now),
        "repaired": dg.MetadataValue.int(len(repair.offerings)),
    })


@derived_asset(
    CHANGES,
    (
        "The change feed: one event per offering added, removed, restored or archived, and per "
        "price or context-window change, written by each source sync (with the old and new "
        "value). A build counts what happened since the last one, by kind, and flags a mass "
        "removal."
    ),
    columns_of(changes_table),
)
def catalog_changes(context: dg.AssetExecutionContext, catalog_db: CatalogDatabase):
    """Count the change events since this asset was last built; report and check them."""
    last = context.instance.get_latest_materialization_event(dg.AssetKey(CHANGES))
    since = (datetime.fromtimestamp(last.timestamp, tz=UTC) if last is not None else None)
    with catalog_store(catalog_db, CHANGES) as store:
        counts, latest, findings = summarize_changes(store, since=since)
    yield from results(CHANGES, findings)
    context.log.info(f"{CHANGES}: {sum(counts.values()):,} events since "
                     f"{since.isoformat() if since else 'the start'}: {dict(counts)}")
    yield dg.MaterializeResult(metadata={
        "events": dg.MetadataValue.int(sum(counts.values())),
        **{f"events_{kind}": dg.MetadataValue.int(counts.get(kind, 0))
           for kind in ("added", "removed", "price_changed", "context_changed", "restored",
                        "archived")},
        "latest": dg.MetadataValue.md(_events_table(latest)),
    })


@derived_asset(
    PRICES,
    (
        "Every price component of every offering (component, unit, mode, region, long-context "
        "tier, time of day), as validity intervals written by each source sync and seeded from "
        "genai-prices' dated lists. A build holds the intervals to the source rows, merges each "
        "served offering's components (one source per mode and region, in the catalog's price "
        "order) and counts what they include."
    ),
    columns_of(prices_table),
)
def prices(context: dg.AssetExecutionContext, catalog_db: CatalogDatabase):
    """Repair and merge the price components; report what the served offerings' prices hold."""
    started, clock = utcnow(), time.monotonic()
    with catalog_store(catalog_db, PRICES) as store:
        build = build_prices(store, started=started, run_id=context.run.run_id)
    yield from results(PRICES, build.findings)
    context.log.info(f"{PRICES}: {build.components:,} components of {build.priced:,} of "
                     f"{build.offerings:,} served offerings ({build.merged:,} merged again); "
                     f"{dict(build.counts)}; intervals opened {build.writes.opened:,}, ended "
                     f"{build.writes.ended:,}")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(build.components),
        "components": dg.MetadataValue.int(build.components),
        "priced_offerings": dg.MetadataValue.int(build.priced),
        "offerings_merged": dg.MetadataValue.int(build.merged),
        **{f"offerings_{kind}": dg.MetadataValue.int(build.counts.get(kind, 0))
           for kind in KINDS},
        "components_by_source": dg.MetadataValue.json(dict(sorted(build.by_source.items()))),
        "intervals_opened": dg.MetadataValue.int(build.writes.opened),
        "intervals_ended": dg.MetadataValue.int(build.writes.ended),
        "duration_seconds": dg.MetadataValue.float(round(time.monotonic() - clock, 3)),
    })


def _events_table(events) -> str:
    if not events:
        return "No change since the last build."
    lines = ["| when | change | offering | field | old → new |", "|---|---|---|---|---|"]
    for e in reversed(events):
        move = f"{e['old_value'] or ''} → {e['new_value'] or ''}" if e["field"] else ""
        lines.append(f"| {e['detected_at']:%Y-%m-%d %H:%M} | {e['change']} | "
                     f"{e['provider']}/{e['model_id']} | {e['field'] or ''} | {move} |")
    return "\n".join(lines)
