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

A sync is a run, not an attempt: the attempts of one run (a step retried by its `RetryPolicy`
writes a row per attempt, with the same run id) count once, as their last attempt did.

A source that is not expected to sync (`disabled`: its required key is not set; `skipped`: in
replay mode, nothing recorded) gets none of these rules. It is reported at level ok (0), with
its reason, its last success and rows, so a source whose key was removed on purpose does not
alarm forever.
"""

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from model_sync.catalog import CATALOG
from model_sync.catalog.clock import utcnow

OK, WARNING, CRITICAL = 0, 1, 2
LEVEL_NAMES = {OK: "ok", WARNING: "warning", CRITICAL: "critical"}
SUCCESS = "success"
FAILED_STATUSES = frozenset({"failed", "blocked"})
# Rules that page someone (the alert sensor); the others only show in `model-sync health`.
ALERT_RULES = frozenset({"stale", "consecutive_failures", "failure_rate"})
WIDTH = 100  # columns of the `model-sync health` table


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
    note: str = ""  # the short form shown in the table


@dataclass(frozen=True)
class Skip:
    """Why a source is not expected to sync: `status` is `disabled` (its key is not set) or
    `skipped` (nothing recorded to replay); `note` is the short form of `reason`."""

    status: str
    reason: str
    note: str
    # Set where the key may be missing only here (the CLI's shell, not the code server): a
    # success within the fail window then wins, and the rules apply, with this message.
    unset_here: str | None = None


@dataclass
class Health:
    """What `model-sync health` prints for one source (or the catalog)."""

    name: str
    last_success: datetime | None = None
    age: timedelta | None = None
    rows: int | None = None
    failed_syncs: int = 0
    syncs: int = 0
    consecutive_failures: int = 0
    skip: Skip | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def level(self) -> int:
        return max((f.level for f in self.findings), default=OK)

    @property
    def status(self) -> str:
        return self.skip.status if self.skip else LEVEL_NAMES[self.level]

    @property
    def failure_rate(self) -> float | None:
        return self.failed_syncs / self.syncs if self.syncs else None

    def as_json(self) -> dict[str, Any]:
        """One source for `model-sync health --json`."""
        return {
            "name": self.name, "level": LEVEL_NAMES[self.level], "status": self.status,
            "reason": self.skip.reason if self.skip else None,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "age_seconds": int(self.age.total_seconds()) if self.age is not None else None,
            "rows": self.rows, "syncs": self.syncs, "failed_syncs": self.failed_syncs,
            "consecutive_failures": self.consecutive_failures,
            "findings": [{"rule": f.rule, "level": LEVEL_NAMES[f.level], "message": f.message}
                         for f in self.findings],
        }


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


def syncs(history: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """Each sync's last attempt and its number of attempts, newest first, from attempt rows
    newest first: rows of one run id are one sync, a row without one is a sync of its own.
    Interrupted attempts and unknown statuses are neither success nor failure: left out."""
    found: dict[Any, list] = {}
    for i, row in enumerate(history):
        if row["status"] != SUCCESS and row["status"] not in FAILED_STATUSES:
            continue
        entry = found.setdefault(row.get("run_id") or ("row", i), [row, 0])
        entry[1] += 1
    return [(row, attempts) for row, attempts in found.values()]


def assess(name: str, history: Sequence[Mapping[str, Any]], *, now: datetime,
           warn_after: timedelta, fail_after: timedelta, rows: int | None = None,
           skip: Skip | None = None, thresholds: Thresholds = Thresholds()) -> Health:
    """The health of one source from its sync attempts, newest first (see `syncs`). A source
    with a `skip` gets no findings, unless `skip.unset_here` and it succeeded within
    `fail_after`."""
    runs = syncs(history)
    health = Health(name=name, rows=rows)
    last = next((row for row, _ in runs if row["status"] == SUCCESS), None)
    if last is not None:
        health.last_success = _utc(last["finished_at"])
        health.age = now - health.last_success
    if skip is not None:
        if not (skip.unset_here and health.age is not None and health.age <= fail_after):
            health.skip = skip
        else:
            health.findings.append(Finding("key_not_set", OK, skip.unset_here,
                                           "key not set here"))

    def add(finding: Finding) -> None:
        if health.skip is None:
            health.findings.append(finding)

    if last is None:
        add(Finding("never_synced", CRITICAL, f"{name} has no successful sync yet",
                    "never synced"))
    else:
        if health.age > fail_after:
            add(Finding("stale", CRITICAL, f"{name} is stale: last successful sync "
                        f"{human(health.age)} ago, over its {human(fail_after)} freshness window",
                        f"stale {human(health.age)}"))
        elif health.age > warn_after:
            add(Finding("late", WARNING, f"{name} is late: last successful sync "
                        f"{human(health.age)} ago (expected within {human(warn_after)})",
                        f"late {human(health.age)}"))
        took = _utc(last["finished_at"]) - _utc(last["started_at"])
        if took > thresholds.long_run:
            add(Finding("slow", WARNING, f"{name}: the last sync took {human(took)}, over "
                        f"{human(thresholds.long_run)}", f"slow {human(took)}"))
    streak = 0
    for row, _ in runs:
        if row["status"] not in FAILED_STATUSES:
            break
        streak += 1
    health.consecutive_failures = streak
    if streak:
        row, attempts = runs[0]
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if streak >= thresholds.consecutive_failures:
            add(Finding("consecutive_failures", CRITICAL,
                        f"{name}: {streak} consecutive syncs failed; last error{tries}: "
                        f"{_short(row.get('error'))}", f"{streak} failed in a row"))
        else:
            add(Finding("last_failed", WARNING, f"{name}: the last sync {row['status']}{tries}: "
                        f"{_short(row.get('error'))}", f"last sync {row['status']}"))
    recent = runs[: thresholds.failure_rate_window]
    health.syncs = len(recent)
    health.failed_syncs = sum(1 for row, _ in recent if row["status"] in FAILED_STATUSES)
    rate = health.failure_rate
    if (rate is not None and health.syncs >= thresholds.failure_rate_min_runs
            and rate > thresholds.max_failure_rate):
        add(Finding("failure_rate", CRITICAL,
                    f"{name}: {health.failed_syncs} of its last {health.syncs} syncs failed "
                    f"({rate:.0%}, over {thresholds.max_failure_rate:.0%})",
                    f"{rate:.0%} failed"))
    return health


def _short(error: str | None, limit: int = 200) -> str:
    if not error:
        return "(no error recorded)"
    error = " ".join(error.split())
    return _cut(error, limit)


def _cut(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def exit_code(report: Sequence[Health]) -> int:
    """0 healthy, 1 warning, 2 critical: the worst level of the report."""
    return max((h.level for h in report), default=OK)


def render(report: Sequence[Health], width: int = WIDTH) -> str:
    """The table `model-sync health` prints, one line per source within `width` columns; the
    findings in full under it."""
    name_width = max([len("source"), *(len(h.name) for h in report)])

    def row(name, status, when, age, rows, failed) -> str:
        return f"{name:<{name_width}} {status:<8} {when:<16} {age:>6} {rows:>7} {failed:>6}  "

    head = row("source", "status", "last success UTC", "age", "rows", "failed")
    lines = [head + "notes"]
    for h in report:
        when = h.last_success.strftime("%Y-%m-%d %H:%M") if h.last_success else "never"
        rows = "" if h.rows is None else f"{h.rows:,}"
        failed = f"{h.failed_syncs}/{h.syncs}" if h.syncs else "-"
        start = row(h.name, h.status, when, human(h.age) if h.age else "", rows, failed)
        notes = "; ".join(f.note or f.rule for f in h.findings) or (h.skip.note if h.skip else "")
        lines.append((start + _cut(notes, width - len(start))).rstrip())
    messages = [f.message for h in report for f in h.findings]
    if messages:
        lines.append("")
        lines.extend(line for message in messages for line in textwrap.wrap(
            message, width, initial_indent="- ", subsequent_indent="  "))
    worst = exit_code(report)
    lines.append(f"\noverall: {LEVEL_NAMES[worst]} (exit {worst})")
    return "\n".join(lines)


def report_json(report: Sequence[Health]) -> dict[str, Any]:
    """`model-sync health --json`: the overall level and one object per source."""
    return {"level": LEVEL_NAMES[exit_code(report)], "sources": [h.as_json() for h in report]}


def skips(http, specs: Iterable, *, here: bool = False) -> dict[str, Skip]:
    """The sources an `HttpClientResource` will not sync now, by name, from its `skip_reason`.
    `here`: the environment is only this process's (the CLI's), not the code server's, so a
    recent success outweighs a missing key. A bad replay directory or date raises."""
    found = {}
    for spec in specs:
        reason = http.skip_reason(spec)
        if reason is None:
            continue
        if http.disabled_reason(spec):
            env = spec.auth.env_var
            found[spec.name] = Skip(
                "disabled", reason, f"set {env}",
                f"{spec.name}: {env} is not set in this shell; reported from its sync history, "
                f"as it synced within its freshness window" if here else None)
        else:
            found[spec.name] = Skip("skipped", reason, "no recording to replay")
    return found


def health_report(store, windows: Mapping[str, tuple[timedelta, timedelta]], *,
                  now: datetime | None = None, skipped: Mapping[str, Skip] | None = None,
                  thresholds: Thresholds = Thresholds()) -> list[Health]:
    """The health of every name in `windows` (source or catalog -> (warn, fail)), read from a
    `CatalogStore`: its sync history and its current row count."""
    now = now or utcnow()
    skipped = skipped or {}
    report = []
    for name, (warn, fail) in windows.items():
        rows = store.catalog_count() if name == CATALOG else store.source_count(name)
        report.append(assess(name, store.sync_history(name, limit=200), now=now,
                             warn_after=warn, fail_after=fail, rows=rows,
                             skip=skipped.get(name), thresholds=thresholds))
    return report

