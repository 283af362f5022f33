"""What operators' own tools receive from Dagster runs: each failed sync or catalog build
reported to Sentry (a failure hook on every asset, in the step's own process), and the
catalog's metrics pushed to a Pushgateway once runs end (a sensor)."""

import json
import time
from datetime import UTC, datetime

import dagster as dg

from model_sync.defs.tags import TRIGGER_TAG
from model_sync.ops import sentry

PUSH_SENSOR = "metrics_push_sensor"
# Dagster's own tags, in the order that names what launched a run.
LAUNCHERS = (("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor"),
             ("dagster/backfill", "backfill"), ("dagster/from_automation_condition",
                                                "automation"))
ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
         dg.DagsterRunStatus.CANCELED]


def trigger_of(tags: dict[str, str]) -> str:
    """What started a run: model_sync's own trigger tag (cli, full_resync, change_sensor),
    else schedule, sensor, backfill or automation, else manual (the UI, the API)."""
    if tags.get(TRIGGER_TAG):
        return tags[TRIGGER_TAG]
    return next((kind for tag, kind in LAUNCHERS if tag in tags), "manual")


@dg.failure_hook(name="report_failure_to_sentry")
def report_failure(context: dg.HookContext) -> None:
    """A failed step (after its retries) as one Sentry event, when SENTRY_DSN is set: tagged
    with its source (or catalog table), run id and trigger; its error as raised underneath the
    step's one-line failure, every secret masked."""
    if not sentry.configured_dsn():
        return
    run = context.instance.get_run_by_id(context.run_id)
    tags = dict(run.tags) if run else {}
    failure = context.op_exception
    # The step raises a Failure `from None` to keep the log to one line; the error underneath
    # carries the stack worth grouping by.
    error = failure.__context__ if failure is not None and failure.__context__ else failure
    description = getattr(failure, "description", None) or str(failure or "")
    metadata = getattr(failure, "metadata", None) or {}
    traceback = getattr(metadata.get("traceback"), "value", None)
    source = context.op.name
    event_tags = {"source": source, "run_id": context.run_id, "trigger": trigger_of(tags)}
    for tag, kind in LAUNCHERS[:2]:
        if tag in tags:
            event_tags[kind] = tags[tag]
    try:
        event_id = sentry.report(error, description, tags=event_tags, group=source, context={
            "step": context.step_key, "job": context.job_name,
            **({"traceback": traceback} if traceback else {})})
    except Exception as exc:  # the report is a courtesy: never a second failure
        context.log.warning(f"{source}: not reported to Sentry: {type(exc).__name__}")
        return
    if event_id:
        context.log.info(f"{source}: failure reported to Sentry (event {event_id})")


@dg.sensor(
    name=PUSH_SENSOR,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pushes the catalog's metrics (model-sync metrics) to the Pushgateway in "
                "MODEL_SYNC_PUSHGATEWAY_URL after runs end, within 30 seconds. Skips while the "
                "variable is unset.",
)
def metrics_push_sensor(context: dg.SensorEvaluationContext):
    from model_sync.metrics import PUSHGATEWAY_ENV, push_metrics, pushgateway_url

    if not pushgateway_url():
        return dg.SkipReason(f"{PUSHGATEWAY_ENV} is not set: no metrics are pushed")
    mark = time.time()
    # The cursor: the newest end seen and the runs that ended then (the instance may keep
    # whole seconds, so a run ending in the same second is told apart by its id).
    cursor = json.loads(context.cursor) if context.cursor else None
    since = datetime.fromtimestamp(cursor["at"] - 1, UTC) if cursor else None
    ended = [(r.update_timestamp.timestamp(), r.dagster_run.run_id)
             for r in context.instance.get_run_records(
                 filters=dg.RunsFilter(statuses=ENDED, updated_after=since), limit=100)]
    new = [(at, run_id) for at, run_id in ended
           if cursor is None or at > cursor["at"] or (at == cursor["at"]
                                                      and run_id not in cursor["runs"])]
    if cursor is not None and not new:
        return dg.SkipReason("no run ended since the last push")
    line = push_metrics(here=False)  # this process is the code server: its keys are the runs'
    if line is None or line.startswith("metrics not"):
        context.log.warning(line or "not pushed")
        return dg.SkipReason(f"{line}; retried next tick")  # the cursor stays
    newest = max((at for at, _ in ended), default=cursor["at"] if cursor else mark)
    context.update_cursor(json.dumps(
        {"at": newest, "runs": sorted(run_id for at, run_id in ended if at == newest)}))
    return dg.SkipReason(f"{line}, {len(new)} runs ended since the last push")
