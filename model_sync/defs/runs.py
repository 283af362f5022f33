"""The in-process runs of `model-sync sync`: each is tagged with the process running it, so a run
whose process is gone (killed) is marked failed and frees its pool slots instead of blocking the
next sync, and a sync that waits for a pool says which run holds it."""

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from model_sync.catalog import CATALOG
from model_sync.defs import interrupts
from model_sync.defs.resources import CatalogDatabase
from model_sync.sources import SOURCES_BY_NAME

HOST_TAG = "model_sync/host"
PID_TAG = "model_sync/pid"
START_TAG = "model_sync/process_start"
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED,
              dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING]
PROC = Path("/proc")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Process:
    """The process running a sync: host, pid and start time (a reused pid starts later)."""

    host: str
    pid: int
    start: str | None = None  # None where there is no /proc to read it from

    @classmethod
    def current(cls) -> "Process":
        return cls(socket.gethostname(), os.getpid(), start_time(os.getpid()))

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> "Process | None":
        """The process a run's tags name; None for runs `model-sync sync` did not start."""
        try:
            return cls(tags[HOST_TAG], int(tags[PID_TAG]), tags.get(START_TAG) or None)
        except (KeyError, ValueError):
            return None

    def tags(self) -> dict[str, str]:
        return {HOST_TAG: self.host, PID_TAG: str(self.pid),
                **({START_TAG: self.start} if self.start else {})}

    def gone(self, proc: Path = PROC) -> bool | None:
        """True once the process has exited (or its pid is another process's), False while it
        runs, None when it ran on another host (nothing here can tell)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # another user's process: it exists
        stat = _stat(self.pid, proc)
        if stat is None:
            return False  # no /proc: a live pid is taken for the same process
        state, start = stat
        return state in ("Z", "X") or (self.start is not None and start != self.start)


def start_time(pid: int, proc: Path = PROC) -> str | None:
    """When a process started: clock ticks since boot, with the boot id (`ticks@boot`)."""
    stat = _stat(pid, proc)
    return stat[1] if stat else None


def _stat(pid: int, proc: Path) -> tuple[str, str] | None:
    """A process's state letter and start time from /proc/<pid>/stat; None without it."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and ")"
    try:
        boot = (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        boot = ""
    return fields[0], f"{fields[19]}@{boot}" if boot else fields[19]  # fields 3 and 22


# -- runs whose process is gone ------------------------------------------------------------------


def clear_dead_runs(instance: dg.DagsterInstance, catalog_db: CatalogDatabase,
                    echo: Echo) -> list[str]:
    """Mark failed the unfinished runs of this host whose process is gone, free their pool slots
    and record their unrecorded assets as failed in sync_runs; returns their run ids."""
    records = instance.get_run_records(dg.RunsFilter(
        statuses=UNFINISHED, tags={HOST_TAG: socket.gethostname()}))
    return [r.dagster_run.run_id for r in records if release(instance, r, catalog_db, echo)]


def release(instance: dg.DagsterInstance, record: dg.RunRecord, catalog_db: CatalogDatabase,
            echo: Echo) -> bool:
    """End a run of `model-sync sync` whose process is gone; False while it runs (or when its
    process cannot be told)."""
    run = record.dagster_run
    process = Process.from_tags(run.tags)
    if process is None or not process.gone():
        return False
    storage = instance.event_log_storage
    # Slots first and the run's status last: an interruption in between leaves the run unfinished,
    # to be found again by the next sync.
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run.run_id)
    label = _label(instance, run)
    if run.is_finished:
        echo(f"run {label} had ended, but its pool slots were still held after its process "
             f"(pid {process.pid}) was gone: freed")
        return True
    _record_killed(instance, record, catalog_db, process)
    instance.report_run_failed(run, f"The process running this run (pid {process.pid} on "
                                    f"{process.host}) is gone: marked failed by the next "
                                    "model-sync sync, its pool slots freed.")
    echo(f"run {label} was left unfinished by a process that is gone (pid {process.pid}): "
         "marked failed, its pool slots freed")
    return True


def planned_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The sources (and the catalog) a run set out to materialize."""
    steps = run.step_keys_to_execute
    if steps is None and run.execution_plan_snapshot_id:
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        steps = plan.step_keys_to_execute
    return [s for s in steps or [] if s in SOURCES_BY_NAME or s == CATALOG]


def _record_killed(instance: dg.DagsterInstance, record: dg.RunRecord,
                   catalog_db: CatalogDatabase, process: Process) -> None:
    run = record.dagster_run
    ops = run.run_config.get("ops", {}) if run.run_config else {}
    # A dry run leaves no trace in the sync history, killed or not.
    names = [n for n in planned_assets(instance, run)
             if not ops.get(n, {}).get("config", {}).get("dry_run")]
    if not names:
        return
    started = (datetime.fromtimestamp(record.start_time, UTC) if record.start_time
               else record.create_timestamp)
    store = catalog_db.store()
    try:
        recorded = store.recorded_sources(run.run_id)
        for name in names:
            if name not in recorded:
                store.record_failure(name, run_id=run.run_id, started_at=started,
                                     status="failed",
                                     error=f"{name}: the process running this sync was killed "
                                           f"(pid {process.pid}); the previous rows are kept")
    finally:
        store.dispose()


def _label(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    return f"{run.run_id[:8]} ({', '.join(planned_assets(instance, run)) or run.job_name})"


# -- pools held by other runs --------------------------------------------------------------------


class PoolWatch:
    """The pools a sync's assets need, and the other runs holding them: says once which run a
    sync waits for, and frees the pools of runs whose process is gone."""

    def __init__(self, instance: dg.DagsterInstance, pools: dict[str, list[str]],
                 catalog_db: CatalogDatabase, echo: Echo):
        self.instance, self.pools, self.catalog_db, self.echo = instance, pools, catalog_db, echo
        self.mine: set[str] = set()  # this process's runs
        self._said: set[tuple[str, str]] = set()

    def full(self, pools: Iterable[str]) -> set[str]:
        """Of `pools`, those whose every slot other runs hold (claimed, or assigned to a step of
        theirs); holders whose process is gone are released on the way."""
        storage = self.instance.event_log_storage
        full = set()
        for pool, info in storage.get_concurrency_infos(sorted(pools)).items():
            taken = ({(p.run_id, p.step_key) for p in info.pending_steps if p.assigned_timestamp}
                     | {(s.run_id, s.step_key) for s in info.claimed_slots})
            holders = sorted({run_id for run_id, _ in taken} - self.mine)
            if info.limit is None or len(taken) < info.limit or not holders:
                continue
            if [h for h in holders if self._release(h)]:
                continue  # slots were freed: claimable now
            full.add(pool)
            for holder in holders:
                self._say(pool, holder)
        return full

    def waited_for(self) -> set[str]:
        """The pools in which a step of this process's runs waits for a slot."""
        storage = self.instance.event_log_storage
        return {pool for pool, info in storage.get_concurrency_infos(sorted(self.pools)).items()
                if any(p.run_id in self.mine and not p.assigned_timestamp
                       for p in info.pending_steps)}

    def _release(self, run_id: str) -> bool:
        record = self.instance.get_run_record_by_id(run_id)
        return record is not None and release(self.instance, record, self.catalog_db, self.echo)

    def _say(self, pool: str, run_id: str) -> None:
        if (pool, run_id) in self._said:
            return
        self._said.add((pool, run_id))
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            who = f"run {run_id[:8]} (not a run of this Dagster instance)"
        else:
            process = Process.from_tags(run.tags)
            by = (f"model-sync sync, pid {process.pid}"
                  + ("" if process.host == socket.gethostname() else f" on {process.host}")
                  if process is not None
                  else run.tags.get("dagster/schedule_name")
                  or run.tags.get("dagster/sensor_name") or run.job_name)
            assets = ", ".join(planned_assets(self.instance, run))
            who = (f"run {run_id[:8]} ({assets + '; ' if assets else ''}{by}; "
                   f"{run.status.value.lower()})")
        names = ", ".join(self.pools.get(pool, [pool]))
        self.echo(f"{names} waits for pool {pool}, held by {who}: it starts when that run ends")


@contextmanager
def guard(instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition],
          names: Sequence[str], catalog_db: CatalogDatabase, echo: Echo,
          poll: float = 1.0) -> Iterator[dict[str, str]]:
    """Around one in-process run of `names`: clear dead runs, wait while other runs hold every
    pool it needs, then watch the run; yields the tags that name this process."""
    me = Process.current()
    pools: dict[str, list[str]] = {}
    for asset in assets:
        name = asset.key.to_user_string()
        if name in names and isinstance(asset, dg.AssetsDefinition) and asset.op.pool:
            pools.setdefault(asset.op.pool, []).append(name)
    watch = None
    if not instance.is_ephemeral:  # an ephemeral instance is this process's alone
        clear_dead_runs(instance, catalog_db, echo)
        watch = PoolWatch(instance, pools, catalog_db, echo)
        # Waiting here rather than in the run: a run waiting for a slot spins (Dagster's
        # in-process executor polls without sleeping) and holds back Ctrl-C until it gets one.
        while pools and watch.full(pools) == set(pools):
            time.sleep(poll)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(watch, me, stop, poll), daemon=True)
    with interrupts.interruptible():
        watcher.start()
        try:
            yield me.tags()
        finally:
            stop.set()
            watcher.join()


def _watch(watch: PoolWatch | None, me: Process, stop: threading.Event, poll: float) -> None:
    """While the run goes on: say which run holds a pool it waits for, free pools whose holder
    is gone, and end the run once it idles with an interrupt held back."""
    next_look = time.monotonic() + poll
    while not stop.wait(0.05):
        interrupts.end_idle_run()
        if watch is None or time.monotonic() < next_look:
            continue
        next_look = time.monotonic() + poll
        try:
            watch.mine = {r.run_id for r in watch.instance.get_runs(
                dg.RunsFilter(tags=me.tags(), statuses=UNFINISHED))}
            waiting = watch.waited_for() if watch.mine else set()
            if waiting:
                watch.full(waiting)
        except Exception:
            continue  # e.g. the instance database is busy: the next look tries again
