"""`model-sync health`: each source's state from seeded sync histories, and its exit codes."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from model_sync.catalog.health import CRITICAL, OK, assess
from model_sync.catalog.schema import sync_runs
from model_sync.catalog.store import CatalogStore
from model_sync.cli import main
from model_sync.sources import SOURCES

ENABLED = [s.name for s in SOURCES if not (s.auth and s.auth.required)] + ["model_catalog"]


def seed(store: CatalogStore, source: str, *runs: tuple[str, float], took: float = 30):
    """Sync attempts of a source, oldest first: (status, hours ago)."""
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        for status, hours in runs:
            finished = now - timedelta(hours=hours)
            conn.execute(sa.insert(sync_runs).values(
                run_id=f"run-{source}-{hours}", source=source, status=status,
                started_at=finished - timedelta(seconds=took), finished_at=finished,
                rows_fetched=10, error=None if status == "success" else f"{source}: HTTP 503"))


@pytest.fixture
def store(db_url, monkeypatch):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", db_url)
    store = CatalogStore.from_url(db_url)
    for name in ENABLED:
        seed(store, name, ("success", 1))
    yield store
    store.dispose()


def health(capsys, *args) -> tuple[int, str]:
    code = main(["health", *args])
    return code, capsys.readouterr().out


def line(out: str, name: str) -> str:
    return next(x for x in out.splitlines() if x.startswith(name + " "))


def test_healthy_exits_0_and_prints_each_source(store, capsys):
    code, out = health(capsys)
    assert code == 0, out
    assert "ok" in line(out, "openrouter") and "1h00m" in line(out, "openrouter")
    assert "0/1" in line(out, "litellm")
    assert line(out, "groq").split()[1] == "disabled"
    assert "overall: ok (exit 0)" in out


@pytest.mark.parametrize(("runs", "message"), [
    ([("success", 7)], "openrouter is late: last successful sync 7h00m ago"),
    ([("success", 2), ("failed", 1)], "openrouter: the last sync failed: openrouter: HTTP 503"),
])
def test_warning_exits_1(store, capsys, runs, message):
    with store.engine.begin() as conn:
        conn.execute(sa.delete(sync_runs).where(sync_runs.c.source == "openrouter"))
    seed(store, "openrouter", *runs)
    code, out = health(capsys)
    assert code == 1, out
    assert "warning" in line(out, "openrouter") and message in line(out, "openrouter")


@pytest.mark.parametrize(("runs", "message"), [
    ([("success", 9)], "openrouter is stale: last successful sync 9h00m ago, over its 8h00m"),
    ([("success", 5), ("failed", 4), ("blocked", 3), ("failed", 2)],
     "openrouter: 3 consecutive syncs failed"),
    ([("failed", 8), ("failed", 7), ("success", 6), ("failed", 5), ("failed", 4), ("success", 3),
      ("failed", 2), ("success", 1)], "openrouter: 5 of its last 8 syncs failed (62%, over 50%)"),
])
def test_critical_exits_2(store, capsys, runs, message):
    with store.engine.begin() as conn:
        conn.execute(sa.delete(sync_runs).where(sync_runs.c.source == "openrouter"))
    seed(store, "openrouter", *runs)
    code, out = health(capsys)
    assert code == 2, out
    assert "critical" in line(out, "openrouter") and message in line(out, "openrouter")
    assert "overall: critical (exit 2)" in out


def test_select_reports_only_the_selected_sources(store, capsys):
    seed(store, "litellm", ("failed", 0.5), ("failed", 0.4), ("failed", 0.3))
    code, out = health(capsys, "--select", "openrouter", "models_dev")
    assert code == 0
    assert "litellm" not in out and "model_catalog" not in out
    assert health(capsys, "--select", "litellm")[0] == 2
    assert health(capsys, "--select", "nope")[0] == 2


def test_a_source_never_synced_is_critical_unless_disabled(db_url, monkeypatch, capsys):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", db_url)
    code, out = health(capsys, "--select", "deepinfra", "groq")
    assert code == 2
    assert "deepinfra has no successful sync yet" in out
    assert "GROQ_API_KEY" in line(out, "groq")


def test_failure_rate_needs_five_runs_and_counts_only_the_last_ten():
    now = datetime.now(UTC)

    def history(*statuses):
        return [{"status": s, "started_at": now, "finished_at": now, "error": "x"}
                for s in statuses]

    window = {"now": now, "warn_after": timedelta(hours=1), "fail_after": timedelta(hours=2)}
    few = assess("s", history("success", "failed", "failed", "success"), **window)
    assert few.level == OK and few.failures == 2 and few.runs == 4
    old_failures = history(*(["success"] * 10 + ["failed"] * 10))
    assert assess("s", old_failures, **window).level == OK
    exactly_half = history(*(["success", "failed"] * 5))
    assert "failure_rate" not in {f.rule for f in assess("s", exactly_half, **window).findings}
    assert assess("s", history("failed", "failed", "failed"), **window).level == CRITICAL


def test_a_source_whose_key_was_removed_is_disabled_not_stale(store, capsys, monkeypatch):
    """groq synced once, then failed three times and its key was removed: it reports as
    disabled at level ok; with the key back, the same history is critical again."""
    seed(store, "groq", ("success", 30), ("failed", 29), ("failed", 28), ("failed", 27))
    code, out = health(capsys)
    assert code == 0, out
    groq = line(out, "groq")
    assert groq.split()[1] == "disabled" and "GROQ_API_KEY" in groq
    assert "stale" not in groq and "consecutive" not in groq
    assert "overall: ok (exit 0)" in out

    monkeypatch.setenv("GROQ_API_KEY", "k")
    code, out = health(capsys, "--select", "groq")
    assert code == 2, out
    assert "groq is stale" in line(out, "groq") and "3 consecutive syncs failed" in out


def test_disabled_sources_raise_no_alerts(store):
    from model_sync.catalog.health import Thresholds
    from model_sync.defs.alerts import history_incidents

    seed(store, "groq", ("success", 30))
    assert not any(i.key.endswith(":groq") for i in history_incidents(store, Thresholds()))
    finished = datetime.now(UTC) - timedelta(hours=30)
    stale_late = assess("groq", [{"status": "success", "finished_at": finished,
                                  "started_at": finished - timedelta(seconds=20)}],
                        now=datetime.now(UTC), warn_after=timedelta(hours=1),
                        fail_after=timedelta(hours=2), disabled="groq is disabled")
    assert stale_late.level == OK and stale_late.findings == []
    assert stale_late.age > timedelta(hours=29)  # the last success is still reported
