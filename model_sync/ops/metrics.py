"""Prometheus metrics of the catalog, read from its database at each scrape, so that every
process that syncs (daemon runs, `model-sync sync`) is counted.

Label values are bounded: source names (and `model_catalog`), sync statuses, offering states and
change kinds, never model ids. Counters count what the tables hold: the catalog's retention
(`retention_days`) deletes old sync records and change events, which Prometheus reads as a reset.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from model_sync.catalog import CATALOG
from model_sync.catalog.contract import ACTIVE, ARCHIVED, REMOVED, UNLISTED
from model_sync.catalog.schema import (
    catalog_changes,
    model_catalog,
    rejected_entries,
    source_offerings,
    sync_runs,
)
from model_sync.ops.health import FAILED_STATUSES, SUCCESS, Health
from model_sync.redact import redact

PREFIX = "model_sync"
STATUSES = (SUCCESS, *sorted(FAILED_STATUSES), "interrupted")
STATES = (ACTIVE, REMOVED, ARCHIVED, UNLISTED)
CHANGES = ("added", "removed", "price_changed", "context_changed", "restored", "archived")
# Seconds: a replayed sync takes under one, a large live source minutes; over 5 is `slow`.
BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

log = logging.getLogger("model_sync.metrics")


@dataclass
class Reading:
    """What one scrape reads of the catalog database."""

    now: datetime
    names: Sequence[str]  # the sources and the catalog, in the order health reports them
    syncs: Counter = field(default_factory=Counter)  # (source, status) -> attempts
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    last_success: dict[str, datetime] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # source -> active rows
    rejected: dict[str, int] = field(default_factory=dict)  # by the source's latest sync
    offerings: Counter = field(default_factory=Counter)  # state -> catalog rows
    changes: Counter = field(default_factory=Counter)  # change kind -> events
    health: Sequence[Health] = ()
    windows: Mapping[str, tuple[timedelta, timedelta]] = field(default_factory=dict)
    min_offerings: int | None = None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read(engine: sa.Engine, *, names: Sequence[str], now: datetime) -> Reading:
    """The counts and times of the catalog database, in a few grouped queries."""
    reading = Reading(now=now, names=names)
    with engine.connect() as conn:
        for source, status, count in conn.execute(
                sa.select(sync_runs.c.source, sync_runs.c.status, sa.func.count())
                .group_by(sync_runs.c.source, sync_runs.c.status)):
            reading.syncs[(source, status)] = count
        for source, started, finished in conn.execute(
                sa.select(sync_runs.c.source, sync_runs.c.started_at, sync_runs.c.finished_at)
                .where(sync_runs.c.finished_at.is_not(None))):
            reading.durations[source].append(
                max(0.0, (_utc(finished) - _utc(started)).total_seconds()))
        for source, finished in conn.execute(
                sa.select(sync_runs.c.source, sa.func.max(sync_runs.c.finished_at))
                .where(sync_runs.c.status == SUCCESS).group_by(sync_runs.c.source)):
            if finished is not None:
                reading.last_success[source] = _utc(finished)
        reading.rows = dict(conn.execute(
            sa.select(source_offerings.c.source, sa.func.count())
            .where(source_offerings.c.state == ACTIVE).group_by(source_offerings.c.source)).all())
        reading.rejected = _latest_rejections(conn)
        reading.offerings.update(dict(conn.execute(
            sa.select(model_catalog.c.state, sa.func.count())
            .group_by(model_catalog.c.state)).all()))
        reading.changes.update(dict(conn.execute(
            sa.select(catalog_changes.c.change, sa.func.count())
            .group_by(catalog_changes.c.change)).all()))
    return reading


def _latest_rejections(conn: sa.Connection) -> dict[str, int]:
    """Per source, the entries its latest recorded sync set aside (0 when it rejected none)."""
    newest = (sa.select(sync_runs.c.source, sa.func.max(sync_runs.c.id).label("id"))
              .group_by(sync_runs.c.source).subquery())
    latest = dict(conn.execute(
        sa.select(sync_runs.c.source, sync_runs.c.run_id)
        .join(newest, sync_runs.c.id == newest.c.id)).all())
    found = {source: 0 for source in latest}
    runs = [run_id for run_id in latest.values() if run_id]
    if runs:
        for source, run_id, count in conn.execute(
                sa.select(rejected_entries.c.source, rejected_entries.c.run_id, sa.func.count())
                .where(rejected_entries.c.run_id.in_(runs))
                .group_by(rejected_entries.c.source, rejected_entries.c.run_id)):
            if latest.get(source) == run_id:
                found[source] = count
    return found


def families(reading: Reading) -> Iterator[Metric]:
    """The metric families of one reading, every known label value present (0 when none)."""
    names = list(reading.names)
    known = names + sorted({s for s, _ in reading.syncs} - set(names))
    sources = [n for n in names if n != CATALOG]

    syncs = CounterMetricFamily(f"{PREFIX}_source_syncs", "Sync attempts recorded in sync_runs, "
                                "by source (or model_catalog) and status.",
                                labels=["source", "status"])
    statuses = list(STATUSES) + sorted({st for _, st in reading.syncs} - set(STATUSES))
    for name in known:
        for status in statuses:
            syncs.add_metric([name, status], reading.syncs.get((name, status), 0))
    yield syncs

    durations = HistogramMetricFamily(f"{PREFIX}_source_sync_duration_seconds",
                                      "How long each finished sync attempt took.",
                                      labels=["source"])
    for name in known:
        seconds = reading.durations.get(name, [])
        buckets = [(_le(bound), sum(1 for s in seconds if s <= bound)) for bound in BUCKETS]
        durations.add_metric([name], [*buckets, ("+Inf", len(seconds))], sum(seconds))
    yield durations

    yield _gauge("source_last_success_timestamp_seconds", "When the last successful sync "
                 "finished (Unix time).", "source",
                 {n: reading.last_success[n].timestamp() for n in names
                  if n in reading.last_success})
    yield _gauge("source_rows", "Rows a source currently lists (active).", "source",
                 {n: reading.rows.get(n, 0) for n in sources})
    yield _gauge("source_rejected_entries", "Entries the source's latest sync set aside "
                 "(rejected_entries).", "source", {n: reading.rejected.get(n, 0) for n in sources})
    yield _gauge("offerings", "Rows of the catalog by state.", "state",
                 {s: reading.offerings.get(s, 0)
                  for s in [*STATES, *sorted(set(reading.offerings) - set(STATES))]})
    changes = CounterMetricFamily(f"{PREFIX}_catalog_changes", "Change events recorded in "
                                  "catalog_changes, by kind.", labels=["change"])
    for kind in [*CHANGES, *sorted(set(reading.changes) - set(CHANGES))]:
        changes.add_metric([kind], reading.changes.get(kind, 0))
    yield changes
    if CATALOG in reading.last_success:
        yield GaugeMetricFamily(f"{PREFIX}_catalog_age_seconds", "Seconds since the catalog "
                                "was last built successfully.",
                                value=(reading.now - reading.last_success[CATALOG])
                                .total_seconds())
    if reading.min_offerings is not None:
        yield GaugeMetricFamily(f"{PREFIX}_catalog_min_offerings", "The fewest active "
                                "offerings a catalog build publishes (its min_rows check).",
                                value=reading.min_offerings)
    yield from _health_families(reading)


def _health_families(reading: Reading) -> Iterator[Metric]:
    """The health of `model-sync health`, and what the alerting rules compare."""
    report = list(reading.health)
    yield _gauge("source_health_level", "Health by the rules of model-sync health: 0 ok, "
                 "1 warning, 2 critical (a disabled or skipped source is 0).", "source",
                 {h.name: h.level for h in report})
    yield _gauge("source_enabled", "1 when the source is expected to sync here; 0 when it is "
                 "disabled (no key) or skipped (nothing to replay).", "source",
                 {h.name: 0 if h.skip else 1 for h in report})
    yield _gauge("source_consecutive_failures", "Syncs in a row that failed or were blocked "
                 "(a run and its retries are one sync).", "source",
                 {h.name: h.consecutive_failures for h in report})
    yield _gauge("source_recent_syncs", "Syncs among the last 10 (a run and its retries are "
                 "one).", "source", {h.name: h.syncs for h in report})
    yield _gauge("source_recent_failed_syncs", "Failed or blocked syncs among the last 10.",
                 "source", {h.name: h.failed_syncs for h in report})
    yield _gauge("source_freshness_warn_window_seconds", "Age of the last success past which "
                 "the source is late (warning).", "source",
                 {n: w.total_seconds() for n, (w, _) in reading.windows.items()})
    yield _gauge("source_freshness_fail_window_seconds", "Age of the last success past which "
                 "the source is stale (critical).", "source",
                 {n: f.total_seconds() for n, (_, f) in reading.windows.items()})


def _gauge(name: str, documentation: str, label: str,
           values: Mapping[str, float]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=[label])
    for value_label, value in values.items():
        gauge.add_metric([value_label], value)
    return gauge


def _le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else str(bound)


class CatalogCollector(Collector):
    """Reads the catalog at each collection through `reader`. A database that cannot be read
    gives `model_sync_catalog_up 0` instead of a failed scrape, and one log line each time it
    stops or starts being readable."""

    def __init__(self, reader: Callable[[], Reading],
                 report: Callable[[str], None] | None = None):
        self.reader = reader
        self.report = report or log.error
        self.failing = False

    def collect(self) -> Iterable[Metric]:
        try:
            reading = self.reader()
        except Exception as exc:  # unreachable, refused, a missing table: up 0
            if not self.failing:
                self.report(redact(f"model-sync metrics: the catalog cannot be read: "
                                 f"{type(exc).__name__}: {exc}"))
            self.failing = True
            return [_up(0)]
        if self.failing:
            self.report("model-sync metrics: the catalog can be read again")
        self.failing = False
        return [_up(1), *families(reading)]


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_catalog_up", "1 when the catalog database could be "
                             "read for this collection, else 0.", value=value)


def registry(reader: Callable[[], Reading],
             report: Callable[[str], None] | None = None) -> CollectorRegistry:
    """A registry holding only the catalog's metrics (no process or platform metrics, so a
    push or a textfile carries nothing of the process that made it); `report` gets the line
    saying the catalog cannot be read (default: the log)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(CatalogCollector(reader, report))
    return found
