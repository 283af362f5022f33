"""Shared fixtures: the recorded payloads in ../shared, temporary databases, replayed resources."""

import itertools
import logging
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.sources import SOURCES
from model_sync.sources.base import ParseContext
from model_sync_tests.servers import PostgresServer, postgres_bin_dir

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_payloads() -> Path:
    """The recorded responses: $MODEL_SYNC_SHARED_PAYLOADS, else ../shared/payloads."""
    return Path(os.environ.get("MODEL_SYNC_SHARED_PAYLOADS", REPO.parent / "shared" / "payloads"))


SHARED = shared_payloads()
# In CI every test runs: what a test needs (../shared, PostgreSQL, Chromium) missing there is a
# failure, never a skip. Elsewhere such tests are skipped with the reason.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir() and not IN_CI,
    reason=f"recorded payloads not found at {SHARED} (set MODEL_SYNC_SHARED_PAYLOADS)",
)


def unavailable(reason: str):
    """Skip a test whose requirement is missing; in CI, fail it instead."""
    if IN_CI:
        pytest.fail(f"{reason}; in CI every test must run", pytrace=False)
    pytest.skip(reason)


def pytest_sessionstart(session):
    if IN_CI and not SHARED.is_dir():
        raise pytest.UsageError(f"CI: the recorded payloads are not at {SHARED}: the suite "
                                "needs ../shared/payloads (or MODEL_SYNC_SHARED_PAYLOADS)")


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failed suite: nothing passes by skipping."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"CI: {skipped} tests were skipped; every test must run here",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def shared_files(source: str | None = None) -> list[Path]:
    if not SHARED.is_dir():
        return []
    pattern = f"{source}/*.json" if source else "*/*.json"
    return sorted(SHARED.glob(pattern))


@pytest.fixture
def payloads() -> Path:
    if not SHARED.is_dir():
        unavailable(f"recorded payloads not found at {SHARED} (set MODEL_SYNC_SHARED_PAYLOADS)")
    return SHARED


# Sources whose recordings are the fixtures of this folder (no recorded response is shared).
FIXTURE_SOURCES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
# Fixtures are small: syncs of them accept any non-empty listing.
FIXTURE_CONFIG = {"ops": {name: {"config": {"min_rows": 1}} for name in FIXTURE_SOURCES}}
SETTINGS = ("FIREWORKS_ACCOUNT_ID", "ALIBABA_CLOUD_REGION", "MODEL_SYNC_ALERT_WEBHOOK_URL",
            "SENTRY_DSN", "SENTRY_ENVIRONMENT", "MODEL_SYNC_PUSHGATEWAY_URL",
            "MODEL_SYNC_ALIASES_FILE", "MODEL_SYNC_HTTP_TIMEOUT_SECONDS",
            "MODEL_SYNC_HTTP_MAX_RETRIES", "MODEL_SYNC_HTTP_BACKOFF_SECONDS",
            "MODEL_SYNC_HTTP_MAX_RESPONSE_MB", "MODEL_SYNC_OVERRIDES_FILE")
# Cadence overrides are read when the definitions are imported, before any fixture runs: the
# developer's own overrides must not change what the tests see.
for _name in [n for n in os.environ if n.startswith((
        "MODEL_SYNC_SCHEDULE", "MODEL_SYNC_TIMEZONE", "MODEL_SYNC_FRESHNESS_HOURS",
        "MODEL_SYNC_PROBE_MINUTES"))]:
    del os.environ[_name]


def isolated_variables() -> list[str]:
    """The variables no test sees from the developer's environment."""
    keys = {s.auth.env_var for s in SOURCES if s.auth} | {s.url_env for s in SOURCES}
    return ["MODEL_SYNC_REPLAY_DIR", "MODEL_SYNC_REPLAY_DATE", "MODEL_SYNC_DATABASE_URL",
            "DAGSTER_HOME", *SETTINGS, *sorted(keys)]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's keys, source URLs, replay settings or database."""
    for name in isolated_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def replay_root(payloads, tmp_path) -> Path:
    """One replay dir: the shared recordings and this folder's fixtures, linked (never copied)."""
    root = tmp_path / "replay"
    root.mkdir()
    for folder in sorted([*payloads.iterdir(), *FIXTURES.iterdir()]):
        if folder.is_dir():
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    return root


@dataclass(frozen=True)
class Replayed:
    """One full replayed sync of every source and the catalog, made once per test session:
    its run's result, and a SQLite catalog file to copy."""

    result: dg.ExecuteInProcessResult
    database: Path


@pytest.fixture(scope="session")
def replayed(tmp_path_factory) -> Replayed:
    """The shared full sync: tests that only read its tables (or build on them) start from a
    copy instead of syncing every source again."""
    if not SHARED.is_dir():
        unavailable(f"recorded payloads not found at {SHARED} (set MODEL_SYNC_SHARED_PAYLOADS)")
    from model_sync.definitions import defs

    folder = tmp_path_factory.mktemp("replayed")
    root = folder / "replay"
    root.mkdir()
    for source in sorted([*SHARED.iterdir(), *FIXTURES.iterdir()]):
        if source.is_dir():
            (root / source.name).symlink_to(source, target_is_directory=True)
    url = f"sqlite:///{folder / 'catalog.db'}"
    with pytest.MonkeyPatch.context() as env:  # as isolated as any test
        for name in isolated_variables():
            env.delenv(name, raising=False)
        result = dg.materialize(list(defs.assets), instance=dg.DagsterInstance.ephemeral(),
                                resources={"http": HttpClientResource(replay_dir=str(root)),
                                           "catalog_db": CatalogDatabase(url=url)},
                                raise_on_error=False, run_config=FIXTURE_CONFIG)
    return Replayed(result=result, database=folder / "catalog.db")


@pytest.fixture
def replayed_db(replayed, tmp_path) -> CatalogDatabase:
    """A catalog holding the shared full sync, this test's own copy."""
    copy = tmp_path / "replayed.db"
    # SQLite's online backup: a whole, consistent copy, whatever is still in the WAL file.
    with closing(sqlite3.connect(replayed.database)) as source, \
            closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return CatalogDatabase(url=f"sqlite:///{copy}")


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def catalog_db(db_url) -> CatalogDatabase:
    return CatalogDatabase(url=db_url)


@pytest.fixture
def replay_http(replay_root) -> HttpClientResource:
    return HttpClientResource(replay_dir=str(replay_root))


@pytest.fixture
def fixtures_http() -> HttpClientResource:
    """Replays this folder's fixtures only (no shared recordings needed)."""
    return HttpClientResource(replay_dir=str(FIXTURES))


def fetch(spec, http: HttpClientResource, params=None, log=None, *, store=None, client=None,
          url=None, **options):
    """Fetch a source as its asset does, through `http`: its rows, rejections and metadata."""
    from model_sync.ingest import fetch_rows, named_repositories

    log = log or logging.getLogger("model_sync.tests")
    access = http.access(spec, url, log=log, client=client)
    return fetch_rows(spec, access, params or {}, log,
                      hugging_face_ids=named_repositories(spec, store), **options)


class Clock:
    """An injected clock: `utcnow` of the modules a test patches; the test moves `now`."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def table_row(report: str, name: str) -> list[str]:
    """The words of an asset's line in the table `model-sync sync` prints (name, status, ...)."""
    lines = report.splitlines()
    header = next((i for i, line in enumerate(lines) if line.split()[:2] == ["asset", "status"]),
                  len(lines))
    for line in lines[header + 1:]:
        words = line.split()
        if words and words[0] == name:
            return words
    raise AssertionError(f"no line for {name} in:\n{report}")


def ctx(source: str, when: str = "2026-08-01") -> ParseContext:
    return ParseContext(source=source, fetched_at=datetime.fromisoformat(when).replace(tzinfo=UTC))


# Runs started from test threads must not capture compute logs: the capture redirects the
# process's file descriptors and can stall a run that ends while another test thread runs.
NO_COMPUTE_LOGS = {"compute_logs": {"module": "dagster.core.storage.noop_compute_log_manager",
                                    "class": "NoOpComputeLogManager"}}


# -- real servers (integration tests) --------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on 127.0.0.1 for the whole session, stopped at the end."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed: install "
                    "Debian's postgresql package, as .ci/run does")
    server = PostgresServer.create(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


_databases = itertools.count(1)


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A new empty PostgreSQL database for one test (postgresql+psycopg URL)."""
    return postgres_server.create_database(f"test_{os.getpid()}_{next(_databases)}")
