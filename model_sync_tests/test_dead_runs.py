"""A killed `model-sync sync` never freezes the next one; SIGTERM and Ctrl-C stop a sync cleanly;
a sync that waits for another's pool says so. The command runs as a subprocess with its own
Dagster instance (a copy of dagster.yaml) and catalog, replaying the recorded payloads; a FIFO as
its aliases file holds it mid-sync (after the fetch, before the audit and publish) on demand."""

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from model_sync.catalog.identity import ALIASES_ENV
from model_sync.catalog.store import CatalogStore
from model_sync.defs import runs
from model_sync.defs.resources import CatalogDatabase
from model_sync_tests.conftest import table_row

REPO = Path(__file__).resolve().parents[1]
MODEL_SYNC = Path(sys.executable).parent / "model-sync"
OPENROUTER = ["--select", "openrouter", "--min-rows", "5"]
POOLS = ["source_openrouter", "source_deepinfra"]
ONE_SLOT = {"concurrency": {"pools": {"default_limit": 1}}}
WAIT = 120  # seconds before a test gives up on an event that should come in a few


class Sync:
    """`model-sync sync` running as a subprocess; its output lines as they come."""

    started: list["Sync"] = []  # killed by the `_syncs` fixture if still running

    def __init__(self, env: dict[str, str], *args: str):
        self.started.append(self)
        self.proc = subprocess.Popen([str(MODEL_SYNC), "sync", *args], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=env["HOME"])
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue[tuple[list[str], str | None]] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                         for stream, into in ((self.proc.stdout, self.out),
                                              (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            self._lines.put((into, line.rstrip("\n")))
        self._lines.put((into, None))

    def wait_for(self, text: str, stderr: bool = False) -> str:
        """The first line holding `text` on stdout (or stderr), once the command prints it."""
        stream = self.err if stderr else self.out
        while True:
            try:
                into, line = self._lines.get(timeout=WAIT)
            except queue.Empty:
                into, line = stream, None
            if into is not stream:
                continue
            if line is None:
                pytest.fail(f"model-sync sync never printed {text!r}:\n{self.output}")
            if text in line:
                return line

    def finish(self) -> int:
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"model-sync sync did not end within {WAIT} s:\n{self.output}")
        for reader in self._readers:
            reader.join(timeout=WAIT)
        return code

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def output(self) -> str:
        return self.stdout + "".join(self.err)


class Gate:
    """A FIFO for a sync to read as its aliases file: the sync stops there until released."""

    HEADER = b"alias,canonical_id\n"

    def __init__(self, path: Path):
        os.mkfifo(path)
        self.path = path
        self._writer: int | None = None

    def reached(self) -> None:
        """Return once a sync has opened the FIFO: it is now stopped in it, mid-sync."""
        opened = threading.Event()

        def open_writer():  # opening one end of a FIFO waits for the other end
            self._writer = os.open(self.path, os.O_WRONLY)
            opened.set()

        threading.Thread(target=open_writer, daemon=True).start()
        if not opened.wait(WAIT):
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))  # ends the wait
            pytest.fail("no sync reached the gate")

    def release(self) -> None:
        """Let the sync go on; later reads (the catalog's build) find a plain file."""
        plain = self.path.with_suffix(".plain")
        plain.write_bytes(self.HEADER)
        plain.replace(self.path)  # the sync's open FIFO stays what it is
        os.write(self._writer, self.HEADER)
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None


@pytest.fixture(autouse=True)
def _syncs():
    # A child keeps a signal its parent ignores: pytest run as a shell's background job ignores
    # SIGINT, and so would every sync it starts. Caught here, it is at its default in them.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, ignored)
    while Sync.started:
        left = Sync.started.pop()
        if left.proc.poll() is None:
            left.proc.kill()
            left.proc.wait()


@pytest.fixture
def env(tmp_path, payloads) -> dict[str, str]:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
            "LANG": "C.UTF-8", "DAGSTER_HOME": str(home), "MODEL_SYNC_REPLAY_DIR": str(payloads),
            "MODEL_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}"}


@pytest.fixture
def gate(tmp_path):
    gate = Gate(tmp_path / "aliases.csv")
    yield gate
    gate.close()


def sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MODEL_SYNC), "sync", *(args or OPENROUTER)], env=env, text=True,
                          capture_output=True, timeout=WAIT, cwd=env["HOME"])


@contextmanager
def instance(env: dict[str, str]):
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as opened:
        yield opened


def store(env: dict[str, str]) -> CatalogStore:
    return CatalogStore.from_url(env["MODEL_SYNC_DATABASE_URL"])


def rows(env: dict[str, str], source: str = "openrouter") -> list[dict]:
    catalog = store(env)
    try:
        return catalog.source_rows(source)
    finally:
        catalog.dispose()


def history(env: dict[str, str], source: str | None = "openrouter") -> list[dict]:
    catalog = store(env)
    try:
        return catalog.sync_history(source)
    finally:
        catalog.dispose()


def holders(opened: dg.DagsterInstance, pool: str) -> list[str]:
    """Runs holding a slot of the pool, or waiting in its queue."""
    info = opened.event_log_storage.get_concurrency_info(pool)
    return sorted({s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps})


def repriced(env: dict[str, str]) -> str:
    """A replay folder whose latest OpenRouter recording has one price changed: a payload no
    sync has read, so it is parsed (an unchanged one is not, and never reaches the gate)."""
    folder = Path(env["HOME"]) / "repriced"
    if not folder.exists():
        for recorded in (Path(env["MODEL_SYNC_REPLAY_DIR"]) / "openrouter").iterdir():
            (folder / "openrouter").mkdir(parents=True, exist_ok=True)
            shutil.copy(recorded, folder / "openrouter" / recorded.name)
        latest = max((folder / "openrouter").glob("????-??-??.json"))
        body = json.loads(latest.read_text())
        body["data"][0]["pricing"]["prompt"] = "0.0000123"
        latest.write_text(json.dumps(body))
        for other in Path(env["MODEL_SYNC_REPLAY_DIR"]).iterdir():
            if other.is_dir() and other.name != "openrouter":
                (folder / other.name).symlink_to(other)
    return str(folder)


def stopped_mid_sync(env: dict[str, str], gate: Gate, *args: str) -> tuple[Sync, dg.DagsterRun]:
    """A sync of a changed payload stopped at the gate, mid-sync, holding its pool slot."""
    stopped = Sync({**env, ALIASES_ENV: str(gate.path), "MODEL_SYNC_REPLAY_DIR": repriced(env)},
                   *(args or OPENROUTER))
    gate.reached()
    with instance(env) as opened:
        [run] = opened.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert run.tags[runs.PID_TAG] == str(stopped.proc.pid)
        assert [run.run_id] in [holders(opened, p) for p in POOLS]
    return stopped, run


# -- the command -----------------------------------------------------------------------------------


def test_a_sync_killed_mid_sync_does_not_block_the_next_one(env, gate):
    assert sync(env).returncode == 0
    before = rows(env)
    killed, run = stopped_mid_sync(env, gate)
    killed.proc.kill()
    assert killed.finish() == -signal.SIGKILL
    gate.close()
    assert rows(env) == before and len(before) == 414

    done = sync(env)
    assert done.returncode == 0, done.stdout + done.stderr
    said = (f"run {run.run_id[:8]} (openrouter) was left unfinished by a process that is gone "
            f"(pid {killed.proc.pid}): marked failed, its pool slots freed")
    assert done.stdout.splitlines().count(said) == 1
    assert table_row(done.stdout, "openrouter")[:3] == ["openrouter", "success", "414"]
    with instance(env) as opened:
        dead = opened.get_run_by_id(run.run_id)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        [failure] = opened.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert f"(pid {killed.proc.pid} on {socket.gethostname()}) is gone" in failure.message
        assert holders(opened, "source_openrouter") == []
    [recorded] = [r for r in history(env) if r["run_id"] == run.run_id]
    assert recorded["status"] == "failed"
    assert recorded["error"] == (f"openrouter: the process running this sync was killed (pid "
                                 f"{killed.proc.pid}); the previous rows are kept")
    assert [r["status"] for r in history(env)] == ["success", "failed", "success"]
    assert rows(env) == before


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_stop_a_sync_cleanly(env, gate, signum, code):
    assert sync(env).returncode == 0
    before = rows(env)
    stopped, run = stopped_mid_sync(env, gate, "--select", "openrouter", "deepinfra",
                                    "--min-rows", "5")
    stopped.proc.send_signal(signum)
    assert stopped.finish() == code, stopped.output
    assert stopped.out[-1] == "interrupted: the previous rows are kept\n"
    assert stopped.stdout.count("interrupted") == 1
    assert "Traceback" not in stopped.output
    with instance(env) as opened:
        assert opened.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert [holders(opened, p) for p in POOLS] == [[], []]
    assert rows(env) == before and rows(env, "deepinfra") == []
    # The step stopped mid-sync records it; the other source's step never starts (no retry).
    [recorded] = [r for r in history(env, None) if r["run_id"] == run.run_id]
    assert recorded["status"] == "interrupted"
    assert "terminated mid-sync; the previous rows are kept" in recorded["error"]

    gate.close()
    done = sync(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "left unfinished" not in done.stdout and "waits for pool" not in done.stdout


def test_a_sync_says_which_live_run_holds_its_pool_and_waits_for_it(env, gate):
    holder, run = stopped_mid_sync(env, gate)
    held = (f"waits for pool source_openrouter, held by run {run.run_id[:8]} (openrouter; "
            f"model-sync sync, pid {holder.proc.pid}; started): it starts when that run ends")

    # Another source goes first; openrouter's step then waits inside the run, until SIGTERM.
    inside = Sync(env, "--verbose", "--select", "deepinfra", "openrouter", "--min-rows", "5")
    assert inside.wait_for(held) == f"openrouter {held}"
    inside.wait_for("deepinfra: 142 rows: 142 added", stderr=True)  # Dagster's log
    inside.proc.send_signal(signal.SIGTERM)
    assert inside.finish() == 143, inside.output
    assert inside.out[-1] == "interrupted: the previous rows are kept\n"
    assert len(rows(env, "deepinfra")) == 142, inside.output  # synced before the wait
    with instance(env) as opened:
        assert holders(opened, "source_openrouter") == [run.run_id]

    # Only openrouter: the sync waits before it starts its run (Ctrl-C ends the wait) ...
    gave_up = Sync(env, *OPENROUTER)
    assert gave_up.wait_for(held) == f"openrouter {held}"
    gave_up.proc.send_signal(signal.SIGINT)
    assert gave_up.finish() == 130, gave_up.output
    assert gave_up.out[-1] == "interrupted: the previous rows are kept\n"

    # ... and runs when the holder ends.
    waiting = Sync(env, *OPENROUTER)
    assert waiting.wait_for(held) == f"openrouter {held}"
    gate.release()
    assert holder.finish() == 0, holder.output
    assert waiting.finish() == 0, waiting.output
    assert table_row(waiting.stdout, "openrouter")[:3] == ["openrouter", "success", "414"]
    assert [r["status"] for r in history(env)] == ["success", "success"]


# -- the pieces ------------------------------------------------------------------------------------


def exited_child() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_running_process_is_not_gone():
    me = runs.Process.current()
    assert me.gone() is False
    assert runs.Process.from_tags(me.tags()) == me
    assert me.start is not None and me.start == runs.start_time(os.getpid())


def test_a_process_that_exited_is_gone():
    assert runs.Process(socket.gethostname(), exited_child()).gone() is True


def test_a_process_that_exited_but_was_not_reaped_is_gone():
    child = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
        assert runs.Process(socket.gethostname(), child.pid).gone() is True
    finally:
        child.wait()


def test_a_reused_pid_is_another_process():
    me = runs.Process.current()
    assert runs.Process(me.host, me.pid, "12@another-boot").gone() is True
    assert runs.Process(me.host, me.pid, me.start).gone() is False


def test_a_process_of_another_host_cannot_be_told():
    assert runs.Process("elsewhere.example", os.getpid(), None).gone() is None


def test_without_proc_a_live_pid_counts_as_running(tmp_path):
    assert runs.Process(socket.gethostname(), os.getpid(), "1@x").gone(proc=tmp_path) is False
    assert runs.Process(socket.gethostname(), exited_child()).gone(proc=tmp_path) is True


def test_start_time_reads_past_a_command_name_with_spaces_and_parentheses(tmp_path):
    (tmp_path / "42").mkdir()
    fields = ["S", "1", *[str(n) for n in range(5, 22)], "987654", *["0"] * 30]
    (tmp_path / "42" / "stat").write_text("42 (a) b (c)) " + " ".join(fields) + "\n")
    assert runs.start_time(42, tmp_path) == "987654"
    (tmp_path / "sys" / "kernel" / "random").mkdir(parents=True)
    (tmp_path / "sys" / "kernel" / "random" / "boot_id").write_text("boot-1\n")
    assert runs.start_time(42, tmp_path) == "987654@boot-1"


def test_runs_without_the_tags_are_not_judged():
    assert runs.Process.from_tags({}) is None
    assert runs.Process.from_tags({runs.HOST_TAG: "h", runs.PID_TAG: "x"}) is None


def add_run(opened: dg.DagsterInstance, process: runs.Process, steps: list[str],
            config: dict | None = None) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="__ephemeral_asset_job__", run_config=config or {},
                        tags=process.tags(), step_keys_to_execute=steps,
                        status=dg.DagsterRunStatus.STARTED)
    return opened.add_run(run)


def test_dead_runs_are_failed_their_slots_freed_and_their_sources_recorded(db_url):
    catalog_db = CatalogDatabase(url=db_url)
    dead = runs.Process(socket.gethostname(), exited_child(), "1@gone")
    said: list[str] = []
    with dg.instance_for_test(overrides=ONE_SLOT) as opened:
        storage = opened.event_log_storage
        killed = add_run(opened, dead, ["openrouter", "deepinfra", "model_catalog"])
        dry = add_run(opened, dead, ["groq"], {"ops": {"groq": {"config": {"dry_run": True}}}})
        alive = add_run(opened, runs.Process.current(), ["litellm"])
        for run, step in [(killed, "openrouter"), (alive, "litellm")]:
            storage.initialize_concurrency_limit_to_default(f"source_{step}")
            assert storage.claim_concurrency_slot(f"source_{step}", run.run_id, step).is_claimed
        catalog = catalog_db.store()
        catalog.record_failure("openrouter", run_id=killed.run_id, started_at=datetime.now(UTC),
                               status="interrupted", error="recorded before the kill")

        cleared = runs.clear_dead_runs(opened, catalog_db, said.append)

        assert sorted(cleared) == sorted([killed.run_id, dry.run_id])
        gone = (f"was left unfinished by a process that is gone (pid {dead.pid}): marked failed, "
                "its pool slots freed")
        assert sorted(said) == sorted([
            f"run {killed.run_id[:8]} (openrouter, deepinfra, model_catalog) {gone}",
            f"run {dry.run_id[:8]} (groq) {gone}"])
        statuses = {r.run_id: r.status for r in opened.get_runs()}
        assert statuses[killed.run_id] == statuses[dry.run_id] == dg.DagsterRunStatus.FAILURE
        assert statuses[alive.run_id] == dg.DagsterRunStatus.STARTED
        assert holders(opened, "source_openrouter") == []
        assert holders(opened, "source_litellm") == [alive.run_id]
        # Recorded once: the attempt already in sync_runs keeps its row; a dry run records none.
        assert {(r["source"], r["status"]) for r in catalog.sync_history()} == {
            ("openrouter", "interrupted"), ("deepinfra", "failed"), ("model_catalog", "failed")}
        assert runs.clear_dead_runs(opened, catalog_db, said.append) == []
        catalog.dispose()


def test_a_dead_run_assigned_a_slot_it_never_claimed_is_released(db_url):
    """A slot freed while a run waited is assigned to it: dead, it would never claim it."""
    said: list[str] = []
    dead = runs.Process(socket.gethostname(), exited_child(), "1@gone")
    with dg.instance_for_test(overrides=ONE_SLOT) as opened:
        storage = opened.event_log_storage
        storage.initialize_concurrency_limit_to_default("source_openrouter")
        waiter = add_run(opened, dead, ["openrouter"])
        assert storage.claim_concurrency_slot("source_openrouter", "live", "s").is_claimed
        assert not storage.claim_concurrency_slot("source_openrouter", waiter.run_id,
                                                  "openrouter").is_claimed
        storage.free_concurrency_slot_for_step("live", "s")  # assigns the slot to the waiter
        opened.report_run_failed(waiter, "ended elsewhere")  # finished, yet holding it
        watch = runs.PoolWatch(opened, {"source_openrouter": ["openrouter"]},
                               CatalogDatabase(url=db_url), said.append)
        assert watch.full(["source_openrouter"]) == set()
        assert holders(opened, "source_openrouter") == []
        assert said == [f"run {waiter.run_id[:8]} (openrouter) had ended, but its pool slots were "
                        f"still held after its process (pid {dead.pid}) was gone: freed"]
