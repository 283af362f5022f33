"""The `source_disagreements` asset: where independent sources publish different prices or
token limits for one offering, and what the catalog chose; it follows every catalog build and
build of the price components, as the other tables derived from the catalog."""

import time
from decimal import Decimal

import dagster as dg
from pydantic import Field

from model_sync.catalog import CATALOG
from model_sync.catalog.clock import utcnow
from model_sync.catalog.disagreement_store import STATES, build_disagreements, markdown_table
from model_sync.catalog.disagreements import LIMIT_TOLERANCE, PRICE_TOLERANCE
from model_sync.catalog.schema import source_disagreements as disagreements_table
from model_sync.defs.checks import results
from model_sync.defs.derived_assets import DISAGREEMENTS, PRICES, catalog_store, derived_asset
from model_sync.defs.metadata import columns_of
from model_sync.defs.resources import CatalogDatabase


class DisagreementsConfig(dg.Config):
    """Run options of the source disagreements: how far apart values may be and still agree."""

    price_tolerance: float = Field(
        default=float(PRICE_TOLERANCE), ge=0, description="Relative difference, (max - min) / "
        "min, up to which prices agree; 0: any difference is one.")
    limit_tolerance: float = Field(
        default=float(LIMIT_TOLERANCE), ge=0, description="The same for context windows and "
        "output limits; 0.05 lets 128,000 and 131,072 (128K written two ways) agree.")


@derived_asset(
    DISAGREEMENTS,
    (
        "Where independent sources disagree: one row per served offering and field (each price "
        "component with its mode, region, tier and time of day; context window; output limit) "
        "that two or more sources publish with different values, with each source's value, "
        "the catalog's choice and why (precedence or override), the relative difference, when "
        "first and last seen, and its triage state (open, acknowledged, resolved). Entries "
        "copied from another source are shown but not counted."
    ),
    columns_of(disagreements_table),
    deps=(CATALOG, PRICES),
)
def source_disagreements(context: dg.AssetExecutionContext, config: DisagreementsConfig,
                         catalog_db: CatalogDatabase):
    """Compare the sources of every served offering; record and report the disagreements."""
    started, clock = utcnow(), time.monotonic()
    with catalog_store(catalog_db, DISAGREEMENTS) as store:
        done, findings = build_disagreements(
            store, started=started, price_tolerance=Decimal(str(config.price_tolerance)),
            limit_tolerance=Decimal(str(config.limit_tolerance)))
    yield from results(DISAGREEMENTS, findings)
    counts = done.counts()
    current = done.current
    context.log.info(f"{DISAGREEMENTS}: {len(current):,} current ({len(done.opened):,} opened, "
                     f"{done.resolved:,} resolved by this build), {len(done.rows):,} recorded")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(len(done.rows)),
        "current": dg.MetadataValue.int(len(current)),
        "opened": dg.MetadataValue.int(len(done.opened)),
        "resolved_by_this_build": dg.MetadataValue.int(done.resolved),
        **{f"{kind}_{state}": dg.MetadataValue.int(counts.get((kind, state), 0))
           for kind in ("price", "token_limit") for state in STATES},
        "largest": dg.MetadataValue.md(markdown_table(current)),
        "duration_seconds": dg.MetadataValue.float(round(time.monotonic() - clock, 3)),
    })
