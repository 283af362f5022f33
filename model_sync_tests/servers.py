"""Real local servers for the integration tests: PostgreSQL and `dagster dev`.

Each server runs in its own process group on 127.0.0.1 and a free port, and is stopped by the
fixture that started it, whatever the test did.
"""

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_USER = "model_sync"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.5) -> Any:
    """Poll `condition` until it returns a truthy value; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def live_group_members(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies waiting to be reaped excluded)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGINT the process group (`dagster dev` ignores SIGTERM), then SIGKILL after `grace`."""
    pgid = process.pid  # started with start_new_session: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    deadline = time.monotonic() + grace
    while live_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    # Children (code server, daemon, run workers) may outlive the leader: kill what is left.
    if live_group_members(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # A killed process takes a moment to exit: the leader reaped says nothing of the others.
    deadline = time.monotonic() + grace
    while live_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


# -- PostgreSQL ------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The server binaries of the newest installed PostgreSQL (Debian: /usr/lib/postgresql/N)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                        else 0)
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster: its own data directory, port and password."""

    bin_dir: Path
    root: Path
    port: int
    password: str
    process_user: str | None  # the user the server runs as when the tests run as root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.process_user:
            command = ["runuser", "-u", self.process_user, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True,
                              cwd=self.root, **kwargs)

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        self._run("initdb", "-D", str(self.data_dir), "-U", PG_USER, f"--pwfile={pwfile}",
                  "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8")
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                  "-l", str(self.root / "server.log"), "-o", options)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "stop", "-m", "fast", "-w", "-t", "60", "-D",
                          str(self.data_dir))
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _chown(self, path: Path) -> None:
        if self.process_user:
            user = pwd.getpwnam(self.process_user)
            os.chown(path, user.pw_uid, user.pw_gid)

    @classmethod
    def create(cls, bin_dir: Path) -> "PostgresServer":
        process_user = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            process_user = "postgres"
            pwd.getpwnam(process_user)  # KeyError: Debian's postgresql package creates it
        root = Path(tempfile.mkdtemp(prefix="model-sync-pg-"))
        server = cls(bin_dir=bin_dir, root=root, port=free_port(),
                     password=secrets.token_urlsafe(18), process_user=process_user)
        server._chown(root)
        return server


# -- Dagster services -----------------------------------------------------------------------------


@dataclass
class Service:
    """A server started in its own process group, its output in a log file."""

    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> "Service":
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
                # SIGINT must work even when the tests run with it ignored (nohup, `cmd &`).
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
        return cls(process=process, log=log)

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        stop_process_group(self.process)
        assert not live_group_members(self.process.pid), f"{self.log.stem} left processes behind"


@dataclass
class Webserver(Service):
    """A Dagster webserver on 127.0.0.1 (`dagster dev` or `dagster-webserver`) and its API."""

    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.base_url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def server_info(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/server_info", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return None

    def location_loaded(self, name: str = "model_sync") -> bool:
        data = self.graphql("""{ workspaceOrError { ... on Workspace { locationEntries {
            name locationOrLoadError { __typename } } } } }""")
        return any(e["name"] == name and e["locationOrLoadError"] and
                   e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                   for e in data["workspaceOrError"]["locationEntries"])

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait for /server_info and the code location; fail with the log if it exits."""
        wait_until(lambda: not self.running() or self.server_info(), timeout,
                   "the webserver's /server_info")
        assert self.running(), f"the webserver exited:\n{self.log_tail()}"
        wait_until(self.location_loaded, timeout, "the model_sync code location")

    @classmethod
    def launch(cls, command: list[str], port: int, cwd: Path, env: dict[str, str],
               log: Path) -> "Webserver":
        service = Service.start(command, cwd, env, log)
        return cls(process=service.process, log=log, port=port)

    @classmethod
    def dev(cls, workspace: Path, home: Path, env: dict[str, str], bin_dir: Path) -> "Webserver":
        """`dagster dev` run from `home` (so no stray .env is read) on 127.0.0.1:<free port>."""
        port = free_port()
        command = [str(bin_dir / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                   "-w", str(workspace)]
        return cls.launch(command, port, home, env, home / "dagster-dev.log")
