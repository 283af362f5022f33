"""A full sync, in-process: what `model-sync sync` runs, with a summary of what happened."""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from model_sync.defs import interrupts, runs
from model_sync.defs.catalog_assets import CATALOG
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.defs.source_assets import TRIGGER_TAG
from model_sync.http import ReplayTransport
from model_sync.sources import SOURCES


@dataclass
class StepReport:
    name: str
    status: str  # success, failed, blocked, skipped
    rows: int | None = None
    added: int | None = None
    removed: int | None = None
    repriced: int | None = None
    seconds: float | None = None
    note: str = ""


@dataclass
class SyncReport:
    """What a sync did: one line per source and the catalog, the checks, and an exit code."""

    steps: list[StepReport] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)
    checks_passed: int = 0
    database: str = ""

    @property
    def exit_code(self) -> int:
        bad = any(s.status in ("failed", "blocked") for s in self.steps)
        return 1 if bad or self.failed_checks else 0

    def render(self) -> str:
        lines = [f"{'asset':<22} {'status':<8} {'rows':>7} {'added':>6} {'removed':>7} "
                 f"{'repriced':>8} {'secs':>6}  note"]
        for s in self.steps:
            lines.append(f"{s.name:<22} {s.status:<8} {_n(s.rows):>7} {_n(s.added):>6} "
                         f"{_n(s.removed):>7} {_n(s.repriced):>8} "
                         f"{'' if s.seconds is None else f'{s.seconds:.1f}':>6}  {s.note}")
        total = self.checks_passed + len(self.failed_checks) + len(self.warned_checks)
        lines.append(f"\nchecks: {self.checks_passed} of {total} passed")
        lines += [f"  FAILED {c}" for c in self.failed_checks]
        lines += [f"  WARN   {c}" for c in self.warned_checks]
        return "\n".join(lines)


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def run_sync(select: Sequence[str] | None = None, *, dry_run: bool = False,
             echo: Callable[[str], None] = lambda _: None,
             http: HttpClientResource | None = None, catalog_db: CatalogDatabase | None = None,
             instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
             min_rows: int | None = None) -> SyncReport:
    """Materialize the selected sources, then the catalog; never raises on a source's failure."""
    from model_sync.definitions import defs

    http = http or HttpClientResource()
    catalog_db = catalog_db or CatalogDatabase()
    report = SyncReport(database=catalog_db.store().url)
    specs = [s for s in SOURCES if select is None or s.name in select]
    runnable = []
    replay_root = http.resolved_replay_dir()
    replay = ReplayTransport(replay_root, http.resolved_replay_date()) if replay_root else None
    for spec in specs:
        reason = http.disabled_reason(spec)
        if reason is None and replay is not None and replay.choose(spec.name) is None:
            when = http.resolved_replay_date()
            reason = (f"no recorded snapshot of {spec.name}"
                      f"{' on or before ' + when if when else ''} in {replay_root}")
        if reason:
            echo(f"skipping {spec.name}: {reason}")
            report.steps.append(StepReport(spec.name, "skipped", note=reason))
        else:
            runnable.append(spec.name)
    if instance is None:
        home = bool(os.environ.get("DAGSTER_HOME"))
        instance = dg.DagsterInstance.get() if home else dg.DagsterInstance.ephemeral()
    assets = list(defs.assets or [])
    resources = {"http": http, "catalog_db": catalog_db}
    config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    source_config = {**({"dry_run": True} if dry_run else {}),
                     **({"min_rows": min_rows} if min_rows is not None else {})}
    if source_config:
        config["ops"] = {name: {"config": source_config} for name in runnable}
    if runnable:
        echo(f"syncing {', '.join(runnable)}{' (dry run)' if dry_run else ''} ...")
        with runs.guard(instance, assets, runnable, catalog_db, echo) as process:
            result = dg.materialize(assets, selection=runnable, instance=instance,
                                    resources=resources, raise_on_error=False, run_config=config,
                                    tags={TRIGGER_TAG: "cli", **process})
        interrupts.stop_if_interrupted(result)
        _collect(result, runnable, report)
    succeeded = [s for s in report.steps if s.status == "success"]
    catalog_config = ({"ops": {CATALOG: {"config": {"min_rows": min_rows}}}}
                      if min_rows is not None else {})
    if succeeded and not dry_run:
        echo("rebuilding the catalog ...")
        with runs.guard(instance, assets, [CATALOG], catalog_db, echo) as process:
            result = dg.materialize(assets, selection=[CATALOG], instance=instance,
                                    resources=resources, raise_on_error=False,
                                    run_config={"loggers": config["loggers"], **catalog_config},
                                    tags={TRIGGER_TAG: "cli", **process})
        interrupts.stop_if_interrupted(result)
        _collect(result, [CATALOG], report)
    return report


def _collect(result: dg.ExecuteInProcessResult, names: Sequence[str], report: SyncReport) -> None:
    materialized = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        materialized[mat.asset_key.to_user_string()] = (mat.metadata, event.step_key)
    for event in result.get_asset_observation_events():  # dry runs observe, never materialize
        seen = event.asset_observation_data.asset_observation
        if "dry_run" in seen.metadata:
            materialized[seen.asset_key.to_user_string()] = (seen.metadata, event.step_key)
    failures = {e.step_key: e for e in result.get_step_failure_events()}
    blocked_assets = set()
    for evaluation in result.get_asset_check_evaluations():
        name = evaluation.check_name
        detail = f"{name}: {evaluation.description or ''}".strip()
        if evaluation.passed:
            report.checks_passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
            report.failed_checks.append(detail)
            blocked_assets.add(evaluation.asset_key.to_user_string())
        else:
            report.warned_checks.append(detail)
    for name in names:
        if name in materialized:
            meta, _ = materialized[name]
            value = {k: getattr(v, "value", v) for k, v in meta.items()}
            report.steps.append(StepReport(
                name, "success", rows=value.get("rows"), added=value.get("added"),
                removed=value.get("removed"), repriced=value.get("repriced"),
                seconds=value.get("duration_seconds"),
                note="dry run, nothing written" if value.get("dry_run") else
                str(value.get("replayed_snapshots") or "")))
            continue
        failure = failures.get(name)
        note = ""
        if failure is not None:
            error = failure.step_failure_data.user_failure_data
            note = (error.description if error is not None and error.description
                    else str(failure.step_failure_data.error.message).strip())
        status = "blocked" if name in blocked_assets else "failed"
        report.steps.append(StepReport(name, status, note=note.splitlines()[0] if note else ""))
