"""The Dagster definitions of model_sync: assembled here, defined in `model_sync.defs`."""

import dagster as dg

from model_sync.defs.catalog_assets import CATALOG, model_catalog
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.defs.schedules import build_schedule
from model_sync.defs.source_assets import build_source_asset
from model_sync.sources import SOURCES

source_assets = [build_source_asset(spec) for spec in SOURCES]

sync_all_job = dg.define_asset_job(
    name="sync_all_job",
    selection=dg.AssetSelection.groups("sources") | dg.AssetSelection.assets(CATALOG),
    description="Syncs every source, then rebuilds the catalog.",
)

defs = dg.Definitions(
    assets=[*source_assets, model_catalog],
    jobs=[sync_all_job],
    schedules=[build_schedule(spec) for spec in SOURCES],
    resources={
        "http": HttpClientResource(),
        "catalog_db": CatalogDatabase(),
    },
)
