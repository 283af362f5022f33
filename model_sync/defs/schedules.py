"""One schedule per source, from its spec's cron and timezone; each is stopped until turned on.

A schedule syncs its source and rebuilds the catalog. A source whose API key is not set is
skipped by its schedule with the reason, instead of failing every tick.
"""

import dagster as dg

from model_sync.defs.catalog_assets import CATALOG
from model_sync.defs.resources import HttpClientResource
from model_sync.sources.base import SourceSpec


def build_schedule(spec: SourceSpec) -> dg.ScheduleDefinition:
    key_note = (f" Skipped while `{spec.auth.env_var}` is not set."
                if spec.auth and spec.auth.required else "")

    @dg.schedule(
        name=f"{spec.name}_schedule",
        cron_schedule=spec.cron,
        execution_timezone=spec.timezone,
        target=dg.AssetSelection.assets(spec.name, CATALOG),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Syncs {spec.title} ({spec.cadence}) and rebuilds the catalog.{key_note}",
        tags={"model_sync/source": spec.name},
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        reason = HttpClientResource().disabled_reason(spec)
        if reason:
            return dg.SkipReason(reason)
        return dg.RunRequest()

    return _schedule
