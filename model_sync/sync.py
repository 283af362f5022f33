"""A full sync, in-process: what `model-sync sync` runs, with a summary of what happened."""

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from model_sync.catalog import CATALOG
from model_sync.catalog.store import CatalogStore, CatalogUnavailable
from model_sync.defs import interrupts, runs
from model_sync.defs.derived_assets import DERIVED, DISAGREEMENTS
from model_sync.defs.resources import REPLAY_DIR_ENV, CatalogDatabase, HttpClientResource
from model_sync.defs.tags import TRIGGER_TAG
from model_sync.sources import SOURCES
from model_sync.sources.base import SettingError, SourceSpec

OFFLINE_HINT = ("No network? Replay recorded responses instead: "
                f"{REPLAY_DIR_ENV}=../shared/payloads model-sync sync")


class SettingsError(ValueError):
    """A setting that stops every sync before it starts: a missing replay directory, a bad
    replay date, a catalog database that cannot be opened, a malformed overrides file."""


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
    offline: bool = False  # failed because the host could not be reached at all


@dataclass
class SyncReport:
    """What a sync did: one line per source and the catalog, the checks, and an exit code."""

    steps: list[StepReport] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)
    checks_passed: int = 0
    checks_not_evaluated: int = 0  # the warnings of a sync that failed before its audit
    database: str = ""

    @property
    def exit_code(self) -> int:
        bad = any(s.status in ("failed", "blocked") for s in self.steps)
        return 1 if bad or self.failed_checks else 0

    def render(self, width: int | None = None) -> str:
        """The report as a table, one line per asset; lines are cut at `width` (a terminal's)."""
        lines = [f"{'asset':<20} {'status':<8} {'rows':>7} {'added':>6} {'removed':>7} "
                 f"{'repriced':>8} {'secs':>5}  note"]
        for s in self.steps:
            lines.append(f"{s.name:<20} {s.status:<8} {_n(s.rows):>7} {_n(s.added):>6} "
                         f"{_n(s.removed):>7} {_n(s.repriced):>8} "
                         f"{'' if s.seconds is None else f'{s.seconds:.1f}':>5}  {s.note}")
        total = self.checks_passed + len(self.failed_checks) + len(self.warned_checks)
        untested = self.checks_not_evaluated
        lines.append(f"\nchecks: {self.checks_passed} of {total} passed"
                     + (f" ({untested} not evaluated)" if untested else ""))
        lines += [f"  FAILED {c}" for c in self.failed_checks]
        lines += [f"  WARN   {c}" for c in self.warned_checks]
        if any(s.status in ("failed", "blocked") for s in self.steps):
            lines.append("\nFailed and blocked sources keep their previous rows.")
        if any(s.offline for s in self.steps):
            lines.append(OFFLINE_HINT)
        if width:
            lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
        return "\n".join(lines)


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def short_reason(spec: SourceSpec, http: HttpClientResource) -> str | None:
    """Why a source is skipped, in a few words for the table; None when it can sync."""
    if http.disabled_reason(spec):
        return f"disabled: {spec.auth.env_var} is not set"
    if http.not_recorded_reason(spec):
        when = http.resolved_replay_date()
        return f"no recording{' on or before ' + when if when else ''}"
    return None


def check_settings(http: HttpClientResource, catalog_db: CatalogDatabase) -> CatalogStore:
    """Check what every sync needs before any starts; returns the opened catalog."""
    try:
        http.validate()
        catalog_db.overrides()  # a catalog built without them would publish what they correct
    except ValueError as exc:  # OverridesError too
        raise SettingsError(str(exc)) from None
    try:
        return catalog_db.store()
    except CatalogUnavailable as exc:
        raise SettingsError(str(exc)) from None


def run_sync(select: Sequence[str] | None = None, *, dry_run: bool = False,
             echo: Callable[[str], None] = lambda _: None,
             http: HttpClientResource | None = None, catalog_db: CatalogDatabase | None = None,
             instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
             min_rows: int | None = None,
             tolerances: dict[str, float] | None = None) -> SyncReport:
    """Materialize the selected sources, then the catalog; never raises on a source's failure.

    A bad setting that would fail every source (see `check_settings`) raises SettingsError
    before anything runs.
    """
    from model_sync.definitions import defs

    http = http or HttpClientResource()
    catalog_db = catalog_db or CatalogDatabase()
    store = check_settings(http, catalog_db)
    report = SyncReport(database=store.url)
    store.dispose()
    specs = [s for s in SOURCES if select is None or s.name in select]
    runnable = []
    for spec in specs:
        reason = short_reason(spec, http)
        if reason:
            report.steps.append(StepReport(spec.name, "skipped", note=reason))
            continue
        try:
            http.endpoint(spec)  # its URL and region settings, checked before any run starts
        except SettingError as exc:
            report.steps.append(StepReport(spec.name, "failed", note=_without(spec.name,
                                                                              str(exc))))
            continue
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
    built = [CATALOG, *DERIVED]  # the catalog and the tables derived from it, in one run
    # `tolerances`: the disagreements' run config (price_tolerance, limit_tolerance).
    ops = {name: {"config": {"min_rows": min_rows}} for name in built
           if min_rows is not None and name != DISAGREEMENTS}
    if tolerances:
        ops[DISAGREEMENTS] = {"config": tolerances}
    catalog_config = {"ops": ops} if ops else {}
    if succeeded and not dry_run:
        echo("rebuilding the catalog ...")
        with runs.guard(instance, assets, built, catalog_db, echo) as process:
            result = dg.materialize(assets, selection=built, instance=instance,
                                    resources=resources, raise_on_error=False,
                                    run_config={"loggers": config["loggers"], **catalog_config},
                                    tags={TRIGGER_TAG: "cli", **process})
        interrupts.stop_if_interrupted(result)
        _collect(result, built, report)
    elif not dry_run:
        report.steps.append(StepReport(CATALOG, "skipped", note="no source synced; the "
                                       "previous catalog is kept"))
    return report


def _without(name: str, text: str) -> str:
    """A failure's message as the table shows it: without the leading `name: ` and request
    (the first column says which source) nor the reminder that its rows are kept (the table's
    footer says so once)."""
    text = text.removeprefix(f"{name}: ")
    text = re.sub(r"^GET \S+: ", "", text)
    return text.removesuffix(" The previous rows are kept.").removesuffix(".")


def _collect(result: dg.ExecuteInProcessResult, names: Sequence[str], report: SyncReport) -> None:
    materialized = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        materialized[mat.asset_key.to_user_string()] = (mat.metadata, event.step_key)
    skipped = {}
    for event in result.get_asset_observation_events():  # dry runs and skips observe
        seen = event.asset_observation_data.asset_observation
        if "dry_run" in seen.metadata:
            materialized[seen.asset_key.to_user_string()] = (seen.metadata, event.step_key)
        if "skipped" in seen.metadata:
            skipped[seen.asset_key.to_user_string()] = seen.metadata["skipped"].value
    failures = {e.step_key: e for e in result.get_step_failure_events()}
    blocked_assets = set()
    for evaluation in result.get_asset_check_evaluations():
        name = evaluation.check_name
        detail = f"{name}: {evaluation.description or ''}".strip()
        if evaluation.metadata.get("evaluated") is not None:  # False: not evaluated
            report.checks_not_evaluated += 1
        elif evaluation.passed:
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
            rejected = value.get("rejected_entries")
            note = ("dry run, nothing written" if value.get("dry_run") else
                    str(value.get("replayed_snapshots") or ""))
            if rejected:
                entries = "entry" if rejected == 1 else "entries"
                note = f"{rejected:,} {entries} rejected; {note}".rstrip("; ")
            report.steps.append(StepReport(
                name, "success", rows=value.get("rows"), added=value.get("added"),
                removed=value.get("removed"), repriced=value.get("repriced"),
                seconds=value.get("duration_seconds"), note=note))
            continue
        if name in skipped and name not in failures:
            report.steps.append(StepReport(name, "skipped", note=skipped[name]))
            continue
        failure = failures.get(name)
        note, offline = "", False
        if failure is not None:
            error = failure.step_failure_data.user_failure_data
            note = (error.description if error is not None and error.description
                    else str(failure.step_failure_data.error.message).strip())
            offline = bool(error is not None and error.metadata.get("offline"))
        status = "blocked" if name in blocked_assets else "failed"
        line = note.splitlines()[0] if note else ""
        report.steps.append(StepReport(name, status, note=_without(name, line), offline=offline))
