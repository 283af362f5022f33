"""Jobs for operators."""

import dagster as dg

from model_sync.defs.catalog_assets import CATALOG
from model_sync.defs.source_assets import SOURCE_GROUP

full_resync = dg.define_asset_job(
    name="full_resync",
    selection=dg.AssetSelection.groups(SOURCE_GROUP) | dg.AssetSelection.assets(CATALOG),
    description="Re-reads every source now, whatever the change sensors last saw, then rebuilds "
                "the catalog. Every check still applies: a sync the audit blocks keeps its last "
                "good rows (launch with `max_drop_share` in a source's config to accept a large "
                "drop on purpose).",
    tags={"model_sync/trigger": "full_resync"},
)
