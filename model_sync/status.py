"""`model-sync status`: what a person asks first when paged. Per source: enabled or why not,
its schedule and change sensor on or off (as the Dagster instance holds them), its last run and
outcome (from `sync_runs`), and the next tick of its schedule."""

import json
import os
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

from model_sync.cadence import Cadence, CadenceError, resolve_cadences
from model_sync.catalog import CATALOG
from model_sync.catalog.clock import utcnow
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.redact import redact
from model_sync.sources import SOURCES

LOCATION = "model_sync"  # the code location name of workspace.yaml and deploy/
WIDTH = 100


@dataclass
class Toggle:
    """A schedule or sensor: on or off, and whether the instance holds that or it is the
    definition's default (never toggled, or no instance to ask)."""

    name: str
    on: bool
    stored: bool


@dataclass
class SourceStatus:
    name: str
    enabled: str  # yes; no (its key is not set); skipped (replay mode, nothing recorded)
    reason: str | None = None  # why it is not synced now
    schedule: Toggle | None = None
    cron: str | None = None
    timezone: str | None = None
    sensor: Toggle | None = None
    last_run: dict[str, Any] | None = None  # the latest sync_runs row: run_id, status, times
    last_success: datetime | None = None
    next_tick: datetime | None = None


@dataclass
class Status:
    sources: list[SourceStatus] = field(default_factory=list)
    sensors: list[Toggle] = field(default_factory=list)  # the instance-wide ones
    instance: str | None = None  # DAGSTER_HOME, when the toggles were read from it


def toggles(instance: dg.DagsterInstance | None,
            defaults: Mapping[str, bool]) -> dict[str, Toggle]:
    """Every schedule and sensor of `defaults` (name -> on by default), as the instance holds
    it; a state of this code location wins over one of another."""
    held: dict[str, tuple[bool, Any]] = {}
    for state in instance.all_instigator_state() if instance is not None else []:
        if state.instigator_name not in defaults:
            continue
        ours = state.repository_selector.location_name == LOCATION
        if ours or state.instigator_name not in held:
            held[state.instigator_name] = (ours, state)
    found = {}
    for name, default in defaults.items():
        state = held.get(name, (False, None))[1]
        if state is None or state.status.value == "DECLARED_IN_CODE":
            found[name] = Toggle(name, default, stored=False)
        else:
            found[name] = Toggle(name, state.status.value == "RUNNING", stored=True)
    return found


def next_tick(cadence: Cadence, now: datetime) -> datetime:
    """The first tick of the source's cron strictly after `now`, in UTC."""
    for tick in cron_string_iterator(now.timestamp(), cadence.cron, cadence.timezone):
        if tick.timestamp() > now.timestamp():
            return tick.astimezone(UTC)
    raise AssertionError("a cron schedule always has a next tick")


def gather(instance: dg.DagsterInstance | None, store, http: HttpClientResource,
           cadences: Mapping[str, Cadence], now: datetime) -> Status:
    from model_sync.definitions import defs

    defaults = {s.name: s.default_status == dg.DefaultScheduleStatus.RUNNING
                for s in defs.schedules or []}
    defaults |= {s.name: s.default_status == dg.DefaultSensorStatus.RUNNING
                 for s in defs.sensors or []}
    held = toggles(instance, defaults)
    status = Status(instance=os.environ.get("DAGSTER_HOME") if instance is not None else None)
    for spec in SOURCES:
        cadence = cadences[spec.name]
        reason = http.skip_reason(spec)
        enabled = "no" if http.disabled_reason(spec) else "skipped" if reason else "yes"
        row = SourceStatus(spec.name, enabled=enabled, reason=reason,
                           schedule=held.get(f"{spec.name}_schedule"), cron=cadence.cron,
                           timezone=cadence.timezone,
                           sensor=held.get(f"{spec.name}_change_sensor"))
        _history(row, store)
        if row.schedule and row.schedule.on and enabled == "yes":
            row.next_tick = next_tick(cadence, now)
        status.sources.append(row)
    catalog = SourceStatus(CATALOG, enabled="yes")
    _history(catalog, store)
    status.sources.append(catalog)
    status.sensors = [t for name, t in held.items()
                      if not name.endswith(("_schedule", "_change_sensor"))]
    return status


def _history(row: SourceStatus, store) -> None:
    history = store.sync_history(row.name, limit=200)
    if history:
        last = history[0]
        row.last_run = {k: last[k] for k in ("run_id", "status", "started_at", "finished_at")}
        row.last_run["error"] = last["error"]
    row.last_success = next((r["finished_at"] for r in history if r["status"] == "success"),
                            None)


def _when(value: datetime | None) -> str:
    if value is None:
        return "never"
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M")


def render(status: Status, width: int = WIDTH) -> str:
    """One line per source within `width` columns, then the reasons and last errors."""
    def line(name, enabled, schedule, sensor, last, outcome, tick) -> str:
        return (f"{name:<20} {enabled:<8} {schedule:<8} {sensor:<6} {last:<16}  {outcome:<11} "
                f"{tick}").rstrip()

    lines = [line("source", "enabled", "schedule", "sensor", "last run UTC", "outcome",
                  "next tick UTC")]
    notes = []
    for s in status.sources:
        last = s.last_run or {}
        lines.append(line(s.name, s.enabled, _on(s.schedule), _on(s.sensor),
                          _when(last.get("finished_at") or last.get("started_at"))
                          if last else "never", last.get("status", "-"),
                          _when(s.next_tick) if s.next_tick else "-"))
        if s.reason:
            notes.append(f"{s.name}: {s.reason}")
        if last and last["status"] != "success" and last.get("error"):
            notes.append(f"{s.name}: last run {last['status']}: {' '.join(last['error'].split())}")
    if notes:
        lines.append("")
        lines += [wrapped for note in notes for wrapped in textwrap.wrap(
            note, width, initial_indent="- ", subsequent_indent="  ")]
    lines.append("")
    lines += textwrap.wrap("automation: " + ", ".join(f"{t.name} {_on(t)}" for t in status.sensors),
                           width, subsequent_indent="  ", break_on_hyphens=False)
    lines.append(f"schedules and sensors as held by the Dagster instance in {status.instance}"
                 if status.instance else "DAGSTER_HOME is not set: schedules and sensors are "
                 "shown at their defaults")
    return "\n".join(lines)


def _on(toggle: Toggle | None) -> str:
    return "-" if toggle is None else ("on" if toggle.on else "off")


def as_json(status: Status) -> dict[str, Any]:
    """`model-sync status --json`: times in ISO 8601, UTC."""
    def plain(value):
        if isinstance(value, datetime):
            return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(asdict(status))


def command(as_json_output: bool, now: datetime | None = None,
            instance: dg.DagsterInstance | None = None) -> int:
    """The `model-sync status` command: 0, or 2 on a bad setting."""
    try:
        cadences = resolve_cadences(SOURCES)
        http = HttpClientResource()
        http.validate()
        owned = instance is None and bool(os.environ.get("DAGSTER_HOME"))
        if owned:
            instance = dg.DagsterInstance.get()
    except (CadenceError, ValueError, dg.DagsterError) as exc:
        print(redact(f"model-sync: {exc}"), file=sys.stderr)
        return 2
    store = CatalogDatabase().store()
    try:
        status = gather(instance, store, http, cadences, now or utcnow())
    finally:
        store.dispose()
        if owned and instance is not None:
            instance.dispose()
    # The last errors come from sync_runs, which may predate redaction.
    print(redact(json.dumps(as_json(status), indent=2) if as_json_output else render(status)))
    return 0
