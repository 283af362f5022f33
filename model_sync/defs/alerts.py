"""The alert sensor: posts incidents to MODEL_SYNC_ALERT_WEBHOOK_URL, once each, and recoveries.

What it watches, each tick:
- runs: the latest finished run of each target failed (`run_failed`), cleared only by a later
  successful run of the same target; a run has been running longer than the threshold, 5
  minutes by default (`long_run`);
- asset checks: the latest evaluation of a check failed, with its severity and metadata
  (`check_failed`);
- sync history (`model_sync.ops.health`, the rules of `model-sync health`): a source or the
  catalog is past its freshness window (`stale`), failed 3 times in a row
  (`consecutive_failures`), or more than half of its last 10 syncs failed (`failure_rate`).
"""

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from model_sync.cadence import health_windows, resolve_cadences
from model_sync.catalog import CATALOG
from model_sync.catalog.rules import RULES
from model_sync.defs.checks import check_name
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.defs.tags import SOURCE_TAG
from model_sync.ops import webhook
from model_sync.ops.health import ALERT_RULES, CRITICAL, Thresholds, health_report, human, skips
from model_sync.redact import redact
from model_sync.sources import SOURCES

RECENT_RUNS = 100  # finished runs read each tick (one page)
LOOKBACK_RUNS = 1000  # how far back the target of an open run incident is looked for
RUN_FAILED = "run_failed:"


class AlertWebhook(dg.ConfigurableResource):
    """Where alerts go: a Slack- or Discord-compatible incoming webhook. The URL is a secret,
    read from MODEL_SYNC_ALERT_WEBHOOK_URL at run time and never logged."""

    url: str | None = Field(default=None, description=f"Default ${webhook.WEBHOOK_ENV}.")
    long_run_minutes: float = Field(default=5.0, description="Alert on a run running longer.")

    def resolved_url(self) -> str | None:
        return self.url or dg.EnvVar(webhook.WEBHOOK_ENV).get_value() or None

    def post(self, text: str) -> None:
        url = self.resolved_url()
        if not url:
            raise webhook.WebhookError(f"{webhook.WEBHOOK_ENV} is not set")
        webhook.post(url, text)


def run_subject(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """What a run was about: its source, its job, or the assets it selected or planned (runs
    executed in-process, like `model-sync sync`'s, record no selection)."""
    if run.tags.get(SOURCE_TAG):
        return run.tags[SOURCE_TAG]
    if run.job_name and not run.job_name.startswith("__"):
        return run.job_name
    keys = run.asset_selection or {
        record.dagster_event.asset_key for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)}
    return ", ".join(sorted(k.to_user_string() for k in keys)) or run.job_name


def _run_error(instance: dg.DagsterInstance, run_id: str) -> str:
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data
        user = data.user_failure_data
        message = user.description if user and user.description else data.error.message
        return f"{record.dagster_event.step_key}: {' '.join(str(message).split())[:500]}"
    return "see the run's logs"


def latest_finished_runs(instance: dg.DagsterInstance,
                         wanted: Iterable[str] = ()) -> dict[str, dg.DagsterRun]:
    """The latest finished (succeeded or failed) run of each target among the most recent
    finished runs; for the `wanted` targets not among them, looked for further back, up to
    LOOKBACK_RUNS runs."""
    latest: dict[str, dg.DagsterRun] = {}
    missing = set(wanted)
    cursor, read = None, 0
    while True:
        page = instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS,
                                            dg.DagsterRunStatus.FAILURE]),
            limit=RECENT_RUNS, cursor=cursor)
        for record in sorted(page, key=lambda r: r.end_time or r.update_timestamp.timestamp(),
                             reverse=True):
            subject = run_subject(instance, record.dagster_run)
            if read == 0 or subject in missing:  # older pages: only the targets looked for
                latest.setdefault(subject, record.dagster_run)
                missing.discard(subject)
        read += len(page)
        if not missing or len(page) < RECENT_RUNS or read >= LOOKBACK_RUNS:
            return latest
        cursor = page[-1].dagster_run.run_id


def run_incidents(instance: dg.DagsterInstance, now: float, long_run: timedelta,
                  announced: Mapping[str, str] | None = None) -> list[webhook.Incident]:
    """Failed and long runs. A `run_failed` incident already announced stays open until a later
    run of its target succeeds, even once its failed run is no longer among the recent ones."""
    announced = announced or {}
    open_subjects = {key.removeprefix(RUN_FAILED): title for key, title in announced.items()
                     if key.startswith(RUN_FAILED)}
    found = []
    latest = latest_finished_runs(instance, open_subjects)
    for subject, run in latest.items():
        if run.status == dg.DagsterRunStatus.FAILURE:
            found.append(webhook.Incident(
                f"{RUN_FAILED}{subject}", f"run of {subject} failed",
                f"run {run.run_id}: {_run_error(instance, run.run_id)}"))
    for subject, title in open_subjects.items():
        if subject not in latest:  # no run of it found at all: nothing has recovered
            found.append(webhook.Incident(f"{RUN_FAILED}{subject}", title))
    running = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=RECENT_RUNS)
    for record in running:
        if record.start_time and now - record.start_time > long_run.total_seconds():
            run = record.dagster_run
            took = timedelta(seconds=now - record.start_time)
            found.append(webhook.Incident(
                f"long_run:{run.run_id}",
                f"run {run.run_id} of {run_subject(instance, run)} is running long",
                f"running for {human(took)}, over the {human(long_run)} threshold"))
    return found


def check_keys() -> Iterable[dg.AssetCheckKey]:
    """Every check of every asset, from the rule registry: each source's, the catalog's and
    its derived tables'."""
    for rule in RULES:
        if rule.scope == "source":
            assets = [spec.name for spec in SOURCES]
        else:
            assets = [CATALOG if rule.scope == "catalog" else rule.scope]
        for asset in assets:
            yield dg.AssetCheckKey(dg.AssetKey(asset), check_name(asset, rule.name))


def check_incidents(instance: dg.DagsterInstance) -> list[webhook.Incident]:
    found = []
    for key in check_keys():
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record else None
        if evaluation is None or evaluation.passed:
            continue
        asset = key.asset_key.to_user_string()
        severity = evaluation.severity.value
        meta = "; ".join(f"{k}: {getattr(v, 'value', v)}" for k, v in evaluation.metadata.items())
        detail = "\n".join(x for x in (evaluation.description, meta and f"metadata: {meta}",
                                       f"run {record.run_id}") if x)
        found.append(webhook.Incident(f"check_failed:{asset}/{key.name}",
                                     f"{severity} check {key.name} failed on asset {asset}",
                                     detail))
    return found


def history_incidents(store, thresholds: Thresholds) -> list[webhook.Incident]:
    try:
        skipped = skips(HttpClientResource(), SOURCES)
    except (FileNotFoundError, ValueError):  # a bad replay setting: its runs fail and alert
        skipped = {}
    report = health_report(store, health_windows(resolve_cadences(SOURCES)), skipped=skipped,
                           thresholds=thresholds)
    return [webhook.Incident(f"{f.rule}:{h.name}", f.message)
            for h in report for f in h.findings if f.rule in ALERT_RULES and f.level == CRITICAL]


def current_incidents(instance: dg.DagsterInstance, store, webhook: AlertWebhook,
                      now: float | None = None,
                      announced: Mapping[str, str] | None = None) -> dict[str, webhook.Incident]:
    long_run = timedelta(minutes=webhook.long_run_minutes)
    found = [*run_incidents(instance, now or time.time(), long_run, announced),
             *check_incidents(instance),
             *history_incidents(store, Thresholds(long_run=long_run))]
    return {i.key: i for i in found}


@dg.sensor(
    name="alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts to the webhook in MODEL_SYNC_ALERT_WEBHOOK_URL (Slack/Discord JSON) when "
                "a run fails, a check fails, a source is stale, fails 3 times in a row or more "
                "than half of its last 10 syncs, or a run runs over 5 minutes; once per "
                "incident, with a recovery message when it clears. Skips while the variable "
                "is unset.",
)
def alert_sensor(context: dg.SensorEvaluationContext, catalog_db: CatalogDatabase,
                 alert_webhook: AlertWebhook):
    if not alert_webhook.resolved_url():
        return dg.SkipReason(f"{webhook.WEBHOOK_ENV} is not set: no alerts are sent")
    announced = webhook.load_cursor(context.cursor)
    store = catalog_db.store()
    try:
        current = current_incidents(context.instance, store, alert_webhook,
                                    announced=announced)
    finally:
        store.dispose()
    changes = webhook.compare(announced, current)
    posted, failed = [], 0
    for incident in changes.new:
        try:
            alert_webhook.post(webhook.alert_text(incident))
        except webhook.WebhookError as exc:
            failed += 1
            context.log.warning(redact(f"alert {incident.key} not sent, retried next tick: "
                                       f"{exc}"))
            continue
        announced[incident.key] = incident.title
        posted.append(incident.key)
    for key, title in changes.cleared.items():
        try:
            alert_webhook.post(webhook.recovery_text(title))
        except webhook.WebhookError as exc:
            failed += 1
            context.log.warning(redact(f"recovery of {key} not sent, retried next tick: {exc}"))
            continue
        del announced[key]
        posted.append(f"resolved {key}")
    context.update_cursor(webhook.dump_cursor(announced))
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    summary = (f"{stamp}: {len(current)} open incidents; posted {len(posted)}"
               + (f" ({', '.join(posted)})" if posted else "") + (f"; {failed} failed" if failed
                                                                  else ""))
    context.log.info(summary)
    return dg.SkipReason(summary)
