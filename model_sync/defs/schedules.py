"""One schedule per source, from its cadence (spec defaults or overrides); stopped until turned on.

A schedule syncs only its source: the catalog rebuilds itself when a source updates (see
`model_sync.defs.sensors`). A source whose API key is not set is skipped by its schedule with the
reason, instead of failing every tick.
"""

import dagster as dg

from model_sync.cadence import Cadence
from model_sync.defs.resources import HttpClientResource
from model_sync.defs.tags import SOURCE_TAG
from model_sync.sources.base import SourceSpec


def build_schedule(spec: SourceSpec, cadence: Cadence) -> dg.ScheduleDefinition:
    key_note = (f" Skipped while `{spec.auth.env_var}` is not set."
                if spec.auth and spec.auth.required else "")
    origin = "" if cadence.origin == "spec" else f" Cron from {cadence.origin}."

    @dg.schedule(
        name=f"{spec.name}_schedule",
        cron_schedule=cadence.cron,
        execution_timezone=cadence.timezone,
        target=dg.AssetSelection.assets(spec.name),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Syncs {spec.title} ({cadence.label}); the catalog follows by declarative "
                    f"automation.{origin}{key_note}",
        tags={SOURCE_TAG: spec.name},
    )
    def _schedule(context: dg.ScheduleEvaluationContext, http: HttpClientResource):
        try:
            reason = http.skip_reason(spec)
        except (FileNotFoundError, ValueError) as exc:  # a bad replay setting
            reason = str(exc)
        if reason:
            return dg.SkipReason(reason)
        return dg.RunRequest(tags={SOURCE_TAG: spec.name})

    return _schedule
