"""The health of each source and of the catalog, from its sync history (`sync_runs`).

One set of rules and thresholds for the `model-sync health` command and the alert sensor:

| rule | level |
|---|---|
| no successful sync yet | critical |
| last success older than the fail window of its freshness policy (`stale`) | critical |
| last success older than the warn window (`late`) | warning |
| 3 or more consecutive failed or blocked syncs (`consecutive_failures`) | critical |
| 1 or 2 consecutive failed or blocked syncs (`last_failed`) | warning |
| more than 50% of the last 10 syncs failed, with at least 5 syncs (`failure_rate`) | critical |
| the last successful sync took longer than 5 minutes (`slow`) | warning |

A disabled source (its required key is not set) is not expected to sync: none of these rules
applies to it. It is reported as `disabled` at level ok (0), with its last success and rows, so a
source whose key was removed on purpose does not alarm forever.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

OK, WARNING, CRITICAL = 0, 1, 2
LEVEL_NAMES = {OK: "ok", WARNING: "warning", CRITICAL: "critical"}
FAILED_STATUSES = frozenset({"failed", "blocked"})
# Rules that page someone (the alert sensor); the others only show in `model-sync health`.
ALERT_RULES = frozenset({"stale", "consecutive_failures", "failure_rate"})


@dataclass(frozen=True)
class Thresholds:
    """Where warning ends and critical begins; shared by health and alerts."""

    consecutive_failures: int = 3
    failure_rate_window: int = 10
    failure_rate_min_runs: int = 5
    max_failure_rate: float = 0.5
    long_run: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Finding:
    rule: str
    level: int
    message: str


@dataclass
class Health:
    """What `model-sync health` prints for one source (or the catalog)."""

    name: str
    last_success: datetime | None = None
    age: timedelta | None = None
    rows: int | None = None
    failures: int = 0
    runs: int = 0
    consecutive_failures: int = 0
    disabled: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def level(self) -> int:
        return max((f.level for f in self.findings), default=OK)

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.runs if self.runs else None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def assess(name: str, history: Sequence[Mapping[str, Any]], *, now: datetime,
           warn_after: timedelta, fail_after: timedelta, rows: int | None = None,
           disabled: str | None = None, thresholds: Thresholds = Thresholds()) -> Health:
    """The health of one source from its sync history, newest first. A sync interrupted by
    terminating its run is neither a success nor a failure: it is left out. A disabled source
    (`disabled` is the reason) gets no findings: it is not expected to sync."""
    history = [r for r in history if r["status"] != "interrupted"]
    health = Health(name=name, rows=rows, disabled=disabled)

    def add(finding: Finding) -> None:
        if disabled is None:
            health.findings.append(finding)

    successes = [r for r in history if r["status"] == "success"]
    last = successes[0] if successes else None
    if last is None:
        add(Finding("never_synced", CRITICAL, f"{name} has no successful sync yet"))
    else:
        health.last_success = _utc(last["finished_at"])
        health.age = now - health.last_success
        if health.age > fail_after:
            add(Finding("stale", CRITICAL, f"{name} is stale: last successful sync "
                        f"{human(health.age)} ago, over its {human(fail_after)} freshness window"))
        elif health.age > warn_after:
            add(Finding("late", WARNING, f"{name} is late: last successful sync "
                        f"{human(health.age)} ago (expected within {human(warn_after)})"))
        took = _utc(last["finished_at"]) - _utc(last["started_at"])
        if took > thresholds.long_run:
            add(Finding("slow", WARNING, f"{name}: the last sync took {human(took)}, over "
                        f"{human(thresholds.long_run)}"))
    streak = 0
    for run in history:
        if run["status"] not in FAILED_STATUSES:
            break
        streak += 1
    health.consecutive_failures = streak
    if streak >= thresholds.consecutive_failures:
        add(Finding("consecutive_failures", CRITICAL,
                    f"{name}: {streak} consecutive syncs failed; last error: "
                    f"{_short(history[0].get('error'))}"))
    elif streak:
        add(Finding("last_failed", WARNING, f"{name}: the last sync {history[0]['status']}: "
                    f"{_short(history[0].get('error'))}"))
    recent = list(history[: thresholds.failure_rate_window])
    health.runs = len(recent)
    health.failures = sum(1 for r in recent if r["status"] in FAILED_STATUSES)
    rate = health.failure_rate
    if (rate is not None and health.runs >= thresholds.failure_rate_min_runs
            and rate > thresholds.max_failure_rate):
        add(Finding("failure_rate", CRITICAL,
                    f"{name}: {health.failures} of its last {health.runs} syncs failed "
                    f"({rate:.0%}, over {thresholds.max_failure_rate:.0%})"))
    return health


def _short(error: str | None, limit: int = 200) -> str:
    if not error:
        return "(no error recorded)"
    error = " ".join(error.split())
    return error if len(error) <= limit else error[: limit - 1] + "…"


def exit_code(report: Sequence[Health]) -> int:
    """0 healthy, 1 warning, 2 critical: the worst level of the report."""
    return max((h.level for h in report), default=OK)


def render(report: Sequence[Health]) -> str:
    """The table `model-sync health` prints."""
    lines = [f"{'source':<22} {'status':<9} {'last success (UTC)':<17} {'age':>7} {'rows':>7} "
             f"{'failed':>7}  notes"]
    for h in report:
        when = h.last_success.strftime("%Y-%m-%d %H:%M") if h.last_success else "never"
        rows = "" if h.rows is None else f"{h.rows:,}"
        failed = f"{h.failures}/{h.runs}" if h.runs else "-"
        status = "disabled" if h.disabled and not h.findings else LEVEL_NAMES[h.level]
        notes = "; ".join(f.message for f in h.findings) or (h.disabled or "")
        lines.append(f"{h.name:<22} {status:<9} {when:<17} {human(h.age) if h.age else '':>7} "
                     f"{rows:>7} {failed:>7}  {notes}")
    worst = exit_code(report)
    lines.append(f"\noverall: {LEVEL_NAMES[worst]} (exit {worst})")
    return "\n".join(lines)


def health_report(store, windows: Mapping[str, tuple[timedelta, timedelta]], *,
                  now: datetime | None = None, disabled: Mapping[str, str | None] | None = None,
                  thresholds: Thresholds = Thresholds()) -> list[Health]:
    """The health of every name in `windows` (source or catalog -> (warn, fail)), read from a
    `CatalogStore`: its sync history and its current row count."""
    now = now or datetime.now(UTC)
    disabled = disabled or {}
    counts = store.table_counts()
    report = []
    for name, (warn, fail) in windows.items():
        rows = counts.get(name) if name == CATALOG else store.source_count(name)
        report.append(assess(name, store.sync_history(name, limit=200), now=now,
                             warn_after=warn, fail_after=fail, rows=rows,
                             disabled=disabled.get(name), thresholds=thresholds))
    return report


CATALOG = "model_catalog"
