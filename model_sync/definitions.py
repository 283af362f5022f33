"""The Dagster definitions of model_sync: assembled here, defined in `model_sync.defs`.

Cadences (schedules and freshness) are resolved once, at load, from the sources' specs and the
overrides described in `model_sync.cadence`.
"""

import gc
from datetime import timedelta

import dagster as dg

from model_sync.cadence import catalog_windows, resolve_cadences
from model_sync.catalog import CATALOG
from model_sync.defs.alerts import AlertWebhook, alert_sensor
from model_sync.defs.catalog_assets import model_catalog
from model_sync.defs.derived_assets import catalog_changes, models, price_history, prices
from model_sync.defs.digest import ChangeDigest, change_digest_sensor
from model_sync.defs.disagreements import source_disagreements
from model_sync.defs.jobs import build_full_resync
from model_sync.defs.reporting import metrics_push_sensor
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.defs.schedules import build_schedule
from model_sync.defs.sensors import build_change_sensor, catalog_automation_sensor
from model_sync.defs.source_assets import build_source_asset
from model_sync.sources import SOURCES

CADENCES = resolve_cadences(SOURCES)


def freshness(warn: timedelta, fail: timedelta) -> dg.FreshnessPolicy:
    """A time-window freshness policy: warn after `warn`, fail after `fail` without an update."""
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def _apply_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    name = spec.key.to_user_string()
    if name == CATALOG:
        return dg.apply_freshness_policy(spec, freshness(*catalog_windows(CADENCES.values())))
    cadence = CADENCES[name]
    return dg.apply_freshness_policy(spec, freshness(cadence.warn_after, cadence.fail_after))


# Steps run in their own processes, forked from a server that has imported the project once:
# a step starts in milliseconds instead of re-importing Dagster and model_sync for seconds.
EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["model_sync.definitions"]}}})

HTTP = HttpClientResource()  # one resource for the assets, sensors, schedules and the job

defs = dg.Definitions(
    assets=[*dg.map_asset_specs(
        _apply_freshness,
        [*(build_source_asset(s, CADENCES[s.name]) for s in SOURCES), model_catalog]),
        models, price_history, catalog_changes, prices, source_disagreements],
    jobs=[build_full_resync(http=HTTP)],  # the sources that can sync when the definitions load
    schedules=[build_schedule(s, CADENCES[s.name]) for s in SOURCES],
    sensors=[*(build_change_sensor(s, CADENCES[s.name]) for s in SOURCES),
             catalog_automation_sensor, alert_sensor, change_digest_sensor,
             metrics_push_sensor],
    executor=EXECUTOR,
    resources={
        "http": HTTP,
        "catalog_db": CatalogDatabase(),
        "alert_webhook": AlertWebhook(),
        "change_digest": ChangeDigest(),
    },
)

# What is alive once the definitions are loaded (Dagster, model_sync, these definitions) lives as
# long as the process: frozen out of the cyclic collector's passes, so each full collection
# during a run walks only what the run allocated (a pass over the whole heap costs ~0.2 s).
gc.freeze()
