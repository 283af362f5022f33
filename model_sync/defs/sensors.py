"""Sensors that materialize on change, and the declarative rebuild of the catalog.

Each source has a change sensor: a cheap conditional GET of its first page (ETag /
Last-Modified, else a content hash) that requests a sync only when the source changed. The
catalog is not targeted by any schedule or sensor: its automation condition rebuilds it once
after a burst of source updates, evaluated by `catalog_automation_sensor`.
"""

import json

import dagster as dg

from model_sync.cadence import Cadence
from model_sync.defs.resources import HttpClientResource
from model_sync.defs.tags import SOURCE_TAG, TRIGGER_TAG
from model_sync.http import FetchError
from model_sync.sources.base import SettingError, SourceSpec


def build_change_sensor(spec: SourceSpec, cadence: Cadence) -> dg.SensorDefinition:
    """The change sensor of one source: a run request only when the source's data changed."""

    @dg.sensor(
        name=f"{spec.name}_change_sensor",
        target=dg.AssetSelection.assets(spec.name),
        minimum_interval_seconds=cadence.probe_minutes * 60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Probes {spec.title} every {cadence.probe_minutes} min with a conditional "
                    "request (ETag / Last-Modified, else a content hash of the first page) and "
                    "syncs it when it changed.",
        tags={SOURCE_TAG: spec.name},
    )
    def _sensor(context: dg.SensorEvaluationContext, http: HttpClientResource):
        try:
            reason = http.skip_reason(spec)
        except (FileNotFoundError, ValueError) as exc:  # a bad replay setting
            reason = str(exc)
        if reason:
            return dg.SkipReason(reason)
        try:
            # The endpoint a sync reads: a configured URL, else the region's.
            override = http.url_override(spec)
            url, _region = http.endpoint(spec, override)
        except SettingError as exc:  # a URL or region in its variable that cannot be used
            return dg.SkipReason(str(exc))
        state = json.loads(context.cursor) if context.cursor else {}
        client = http.client(log=context.log)
        try:
            listing = spec.listing(api_key=http.api_key(spec), url=url, override=override)
            probe = client.probe(listing, previous=state.get("validators"))
        except FetchError as exc:
            return dg.SkipReason(f"probe failed, will retry next tick: {exc}")
        if not probe.changed:
            how = "304 Not Modified" if probe.status == 304 else "same content"
            return dg.SkipReason(f"{spec.name} unchanged ({how})")
        count = state.get("requests", 0) + 1
        cursor = json.dumps({"validators": probe.validators, "requests": count}, sort_keys=True)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(
                run_key=f"{spec.name}-{count}-{probe.version}",
                tags={SOURCE_TAG: spec.name, TRIGGER_TAG: "change_sensor"},
            )],
            cursor=cursor,
        )

    return _sensor


catalog_automation_sensor = dg.AutomationConditionSensorDefinition(
    "catalog_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,  # a catalog within seconds of its sources; cheap to evaluate
    description="Evaluates the catalog's automation condition: rebuilds model_catalog once after "
                "sources publish new rows. Running by default; it never syncs a source.",
)
