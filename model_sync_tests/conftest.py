"""Shared fixtures: the recorded payloads in ../shared, temporary databases, replayed resources."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.sources.base import ParseContext

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_payloads() -> Path:
    """The recorded responses: $MODEL_SYNC_SHARED_PAYLOADS, else ../shared/payloads."""
    return Path(os.environ.get("MODEL_SYNC_SHARED_PAYLOADS", REPO.parent / "shared" / "payloads"))


SHARED = shared_payloads()
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"recorded payloads not found at {SHARED} (set MODEL_SYNC_SHARED_PAYLOADS)",
)


def shared_files(source: str | None = None) -> list[Path]:
    if not SHARED.is_dir():
        return []
    pattern = f"{source}/*.json" if source else "*/*.json"
    return sorted(SHARED.glob(pattern))


@pytest.fixture
def payloads() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"recorded payloads not found at {SHARED} (set MODEL_SYNC_SHARED_PAYLOADS)")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's keys, replay settings or database."""
    for name in ("MODEL_SYNC_REPLAY_DIR", "MODEL_SYNC_REPLAY_DATE", "MODEL_SYNC_DATABASE_URL",
                 "GROQ_API_KEY", "ARTIFICIAL_ANALYSIS_API_KEY", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def catalog_db(db_url) -> CatalogDatabase:
    return CatalogDatabase(url=db_url)


@pytest.fixture
def replay_http(payloads) -> HttpClientResource:
    return HttpClientResource(replay_dir=str(payloads))


def ctx(source: str, when: str = "2026-08-01") -> ParseContext:
    return ParseContext(source=source, fetched_at=datetime.fromisoformat(when).replace(tzinfo=UTC))


# Runs started from test threads must not capture compute logs: the capture redirects the
# process's file descriptors and can stall a run that ends while another test thread runs.
NO_COMPUTE_LOGS = {"compute_logs": {"module": "dagster.core.storage.noop_compute_log_manager",
                                    "class": "NoOpComputeLogManager"}}
