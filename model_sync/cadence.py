"""When each source syncs, and how stale it may get: its spec's defaults, overridable without code.

Overrides are read once, when the definitions load (schedules and freshness policies are
load-time objects), in this order, the first found winning:

1. environment: `MODEL_SYNC_SCHEDULE_<SOURCE>` (a cron string), `MODEL_SYNC_TIMEZONE_<SOURCE>`,
   `MODEL_SYNC_FRESHNESS_HOURS_<SOURCE>`, `MODEL_SYNC_PROBE_MINUTES_<SOURCE>`, then
   `MODEL_SYNC_TIMEZONE` for every source;
2. the YAML file named by `MODEL_SYNC_SCHEDULES_FILE` (see `schedules.example.yaml`);
3. the source's `SourceSpec` (`cron`, `timezone`, `freshness_hours`, `probe_minutes`).

Freshness follows the cadence: a source warns when it is a quarter hour past its longest gap
between two ticks (one sync late) and fails at its spec's window, never less than that gap plus
an hour, so an overridden cron never leaves a source permanently stale.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dagster._utils.schedules import cron_string_iterator, is_valid_cron_string

from model_sync.sources.base import SourceSpec

SCHEDULES_FILE_ENV = "MODEL_SYNC_SCHEDULES_FILE"
TIMEZONE_ENV = "MODEL_SYNC_TIMEZONE"
SCHEDULE_ENV_PREFIX = "MODEL_SYNC_SCHEDULE_"
TIMEZONE_ENV_PREFIX = "MODEL_SYNC_TIMEZONE_"
FRESHNESS_ENV_PREFIX = "MODEL_SYNC_FRESHNESS_HOURS_"
PROBE_ENV_PREFIX = "MODEL_SYNC_PROBE_MINUTES_"
LATE_GRACE = timedelta(minutes=15)
FAIL_GRACE = timedelta(hours=1)


class CadenceError(ValueError):
    """An override that cannot be used: names the source, the setting and where it came from."""


@dataclass(frozen=True)
class Cadence:
    """The effective schedule and freshness windows of one source."""

    source: str
    cron: str
    timezone: str
    warn_after: timedelta
    fail_after: timedelta
    probe_minutes: int  # how often its change sensor polls
    origin: str  # where the cron came from: spec, a file, or an environment variable

    @property
    def label(self) -> str:
        return f"`{self.cron}` ({self.timezone})"


def longest_gap(cron: str, timezone: str, ticks: int = 400) -> timedelta:
    """The longest time between two consecutive ticks of a cron schedule over the coming ticks."""
    start = datetime.now(UTC).timestamp()
    previous, gap = None, timedelta(0)
    for i, tick in enumerate(cron_string_iterator(start, cron, timezone)):
        if previous is not None:
            gap = max(gap, tick - previous)
        previous = tick
        if i >= ticks:
            break
    return gap


def validate_cron(cron: str, where: str) -> str:
    """A cron string Dagster accepts, with single spaces; else a CadenceError naming `where`."""
    cron = " ".join(str(cron).split())
    if not is_valid_cron_string(cron):
        raise CadenceError(f"{where}: {cron!r} is not a valid cron string (five fields: "
                           "minute hour day-of-month month day-of-week, e.g. '0 */6 * * *')")
    return cron


def validate_timezone(name: str, where: str) -> str:
    """An IANA time zone name; else a CadenceError naming `where`."""
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise CadenceError(f"{where}: {name!r} is not an IANA time zone (e.g. 'UTC', "
                           "'Europe/Berlin')") from None
    return str(name)


def _positive(value: Any, where: str, kind=float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number <= 0:
        raise CadenceError(f"{where}: expected a positive number, got {value!r}")
    return number


def read_overrides_file(path: str | Path) -> dict[str, Any]:
    """The YAML overrides file: `timezone` for every source and a `sources` mapping."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise CadenceError(f"{SCHEDULES_FILE_ENV}={path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise CadenceError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources", {}), dict):
        raise CadenceError(f"{path}: expected a mapping with an optional `timezone` and "
                           "`sources: {<source>: {cron, timezone, freshness_hours, "
                           "probe_minutes}}`")
    return data


def resolve_cadences(specs: Iterable[SourceSpec],
                     env: Mapping[str, str] | None = None) -> dict[str, Cadence]:
    """The cadence of every source, with the overrides from the environment and the YAML file."""
    env = os.environ if env is None else env
    specs = list(specs)
    file = env.get(SCHEDULES_FILE_ENV)
    data = read_overrides_file(file) if file else {}
    entries = data.get("sources") or {}
    unknown = set(entries) - {s.name for s in specs}
    if unknown:
        raise CadenceError(f"{file}: unknown sources {sorted(unknown)}; known: "
                           f"{', '.join(s.name for s in specs)}")
    return {spec.name: _cadence(spec, env, file, data, entries.get(spec.name) or {})
            for spec in specs}


def _cadence(spec: SourceSpec, env: Mapping[str, str], file: str | None, data: dict,
             entry: dict) -> Cadence:
    suffix = spec.name.upper()

    def pick(env_name: str | None, key: str, default: Any):
        if env_name and env.get(env_name):
            return env[env_name], env_name
        if key in entry:
            return entry[key], f"{file} (sources.{spec.name}.{key})"
        return default, "spec"

    cron, origin = pick(SCHEDULE_ENV_PREFIX + suffix, "cron", spec.cron)
    cron = validate_cron(cron, f"{spec.name} schedule from {origin}")
    tz, tz_origin = _timezone(spec, env, file, data, entry)
    tz = validate_timezone(tz, f"{spec.name} timezone from {tz_origin}")
    hours, hours_origin = pick(FRESHNESS_ENV_PREFIX + suffix, "freshness_hours",
                               spec.freshness_hours)
    hours = _positive(hours, f"{spec.name} freshness_hours from {hours_origin}")
    probe, probe_origin = pick(PROBE_ENV_PREFIX + suffix, "probe_minutes", spec.probe_minutes)
    probe = _positive(probe, f"{spec.name} probe_minutes from {probe_origin}", int)
    gap = longest_gap(cron, tz)
    fail = max(timedelta(hours=hours), gap + FAIL_GRACE)
    warn = min(gap + LATE_GRACE, fail - timedelta(minutes=1))
    return Cadence(source=spec.name, cron=cron, timezone=tz, warn_after=warn, fail_after=fail,
                   probe_minutes=probe, origin=origin)


def _timezone(spec: SourceSpec, env: Mapping[str, str], file: str | None, data: dict,
              entry: dict) -> tuple[Any, str]:
    """A source's timezone and where it came from: the environment (the source's variable, then
    `MODEL_SYNC_TIMEZONE`) wins over the file (the source's entry, then its global `timezone`),
    which wins over the spec."""
    per_source = TIMEZONE_ENV_PREFIX + spec.name.upper()
    for name in (per_source, TIMEZONE_ENV):
        if env.get(name):
            return env[name], name
    if "timezone" in entry:
        return entry["timezone"], f"{file} (sources.{spec.name}.timezone)"
    if data.get("timezone") is not None:
        return data["timezone"], f"{file} (timezone)"
    return spec.timezone, "spec"


def catalog_windows(cadences: Iterable[Cadence]) -> tuple[timedelta, timedelta]:
    """Warn and fail windows of the catalog: it is rebuilt after every source, so it is as
    fresh as the most frequently synced source."""
    cadences = list(cadences)
    return (min(c.warn_after for c in cadences), min(c.fail_after for c in cadences))


def health_windows(cadences: Mapping[str, Cadence],
                   catalog: str = "model_catalog") -> dict[str, tuple[timedelta, timedelta]]:
    """(warn, fail) freshness windows of every source and of the catalog, for health and alerts."""
    windows = {name: (c.warn_after, c.fail_after) for name, c in cadences.items()}
    windows[catalog] = catalog_windows(cadences.values())
    return windows
