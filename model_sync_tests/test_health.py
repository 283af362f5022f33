"""`model-sync health`: each source's state from seeded sync histories, and its exit codes."""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from model_sync.catalog.schema import sync_runs
from model_sync.catalog.store import CatalogStore
from model_sync.cli import main
from model_sync.ops.health import CRITICAL, OK, WARNING, Skip, assess
from model_sync.sources import SOURCES
from model_sync_tests.conftest import FIXTURES

ENABLED = [s.name for s in SOURCES if not (s.auth and s.auth.required)] + ["model_catalog"]
NOW = datetime(2026, 8, 19, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now(monkeypatch):
    """Health reads the time from the catalog clock: fixed, so ages are exact."""
    monkeypatch.setattr("model_sync.ops.health.utcnow", lambda: NOW)


def seed(store: CatalogStore, source: str, *runs: tuple[str, float], took: float = 30,
         run_id: str | None = None, error: str | None = None):
    """Sync attempts of a source, oldest first: (status, hours ago); all of one run with
    `run_id`, else one run each."""
    with store.engine.begin() as conn:
        for status, hours in runs:
            finished = NOW - timedelta(hours=hours)
            conn.execute(sa.insert(sync_runs).values(
                run_id=run_id or f"run-{source}-{hours}", source=source, status=status,
                started_at=finished - timedelta(seconds=took), finished_at=finished,
                rows_fetched=10,
                error=None if status == "success" else error or f"{source}: HTTP 503"))


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


def flat(out: str) -> str:
    """The output with its wrapped lines joined: the messages listed under the table."""
    return " ".join(out.split())


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
    assert "warning" in line(out, "openrouter") and message in flat(out)


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
    assert "critical" in line(out, "openrouter") and message in flat(out)
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
    assert few.level == OK and few.failed_syncs == 2 and few.syncs == 4
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
    assert "groq" not in out.split("\n\n", 1)[1]  # no finding listed under the table
    assert "overall: ok (exit 0)" in out

    monkeypatch.setenv("GROQ_API_KEY", "k")
    code, out = health(capsys, "--select", "groq")
    assert code == 2, out
    assert "stale" in line(out, "groq") and "groq is stale" in out
    assert "3 consecutive syncs failed" in out


def test_disabled_sources_raise_no_alerts(store):
    from model_sync.defs.alerts import history_incidents
    from model_sync.ops.health import Thresholds

    seed(store, "groq", ("success", 30))
    assert not any(i.key.endswith(":groq") for i in history_incidents(store, Thresholds()))
    finished = datetime.now(UTC) - timedelta(hours=30)
    stale_late = assess("groq", [{"status": "success", "finished_at": finished,
                                  "started_at": finished - timedelta(seconds=20)}],
                        now=datetime.now(UTC), warn_after=timedelta(hours=1),
                        fail_after=timedelta(hours=2),
                        skip=Skip("disabled", "groq is disabled", "set GROQ_API_KEY"))
    assert stale_late.level == OK and stale_late.findings == []
    assert stale_late.age > timedelta(hours=29)  # the last success is still reported


# -- syncs, not attempts -------------------------------------------------------------------------


def test_the_retries_of_one_failed_run_are_one_failed_sync(store, capsys):
    """A step retried three times writes four failed rows with one run id: one failed sync
    (a warning), not four in a row (critical)."""
    seed(store, "openrouter", ("failed", 0.4), ("failed", 0.3), ("failed", 0.2), ("failed", 0.1),
         run_id="run-retried")
    code, out = health(capsys, "--select", "openrouter")
    assert code == 1, out
    assert line(out, "openrouter").split()[1] == "warning"
    assert "1/2" in line(out, "openrouter") and "last sync failed" in line(out, "openrouter")
    assert "openrouter: the last sync failed (4 attempts): openrouter: HTTP 503" in flat(out)
    assert "consecutive" not in out

    seed(store, "openrouter", ("failed", 0.05), ("blocked", 0.04))
    code, out = health(capsys, "--select", "openrouter")
    assert code == 2, out
    assert "openrouter: 3 consecutive syncs failed" in flat(out)
    assert "3/4" in line(out, "openrouter")


def test_a_run_whose_last_attempt_succeeded_is_one_successful_sync(store, capsys):
    seed(store, "openrouter", ("failed", 0.5), ("failed", 0.4), ("success", 0.3),
         run_id="run-recovered")
    code, out = health(capsys, "--select", "openrouter")
    assert code == 0, out
    assert "0/2" in line(out, "openrouter") and "18m" in line(out, "openrouter")


def test_rows_without_run_id_count_one_each_and_unknown_statuses_not_at_all():
    finished = NOW - timedelta(minutes=10)

    def row(status, run_id=None):
        return {"status": status, "run_id": run_id, "started_at": finished,
                "finished_at": finished, "error": "HTTP 503"}

    window = {"now": NOW, "warn_after": timedelta(hours=1), "fail_after": timedelta(hours=2)}
    # newest first: an unknown status between failures neither breaks nor extends the streak
    three = assess("s", [row("failed"), row("skipped"), row("failed"), row("interrupted"),
                         row("failed"), row("success")], **window)
    assert three.consecutive_failures == 3 and three.syncs == 4 and three.failed_syncs == 3
    assert three.level == CRITICAL
    retried = assess("s", [row("failed", "r2"), row("failed", "r2"), row("failed", "r1"),
                           row("success")], **window)
    assert retried.consecutive_failures == 2 and retried.level == WARNING
    assert assess("s", [row("skipped")], **window).findings[0].rule == "never_synced"


def test_json_output_for_monitors(store, capsys):
    seed(store, "openrouter", ("failed", 0.5), ("failed", 0.4), run_id="run-a")
    with store.engine.begin() as conn:
        conn.execute(sa.delete(sync_runs).where(sync_runs.c.source == "litellm"))
    seed(store, "litellm", ("success", 30))
    code, out = health(capsys, "--json")
    assert code == 2
    report = json.loads(out)
    assert report["level"] == "critical"
    by_name = {s["name"]: s for s in report["sources"]}
    assert set(by_name) == {s.name for s in SOURCES} | {"model_catalog"}
    openrouter = by_name["openrouter"]
    assert openrouter == {
        "name": "openrouter", "level": "warning", "status": "warning", "reason": None,
        "last_success": "2026-08-19T02:00:00+00:00", "age_seconds": 3600, "rows": 0,
        "syncs": 2, "failed_syncs": 1, "consecutive_failures": 1,
        "findings": [{"rule": "last_failed", "level": "warning",
                      "message": "openrouter: the last sync failed (2 attempts): "
                                 "openrouter: HTTP 503"}]}
    assert by_name["litellm"]["level"] == "critical"
    assert [f["rule"] for f in by_name["litellm"]["findings"]] == ["stale"]
    groq = by_name["groq"]
    assert groq["level"] == "ok" and groq["status"] == "disabled" and groq["findings"] == []
    assert "GROQ_API_KEY" in groq["reason"] and groq["last_success"] is None
    assert by_name["deepinfra"]["findings"] == [] and by_name["deepinfra"]["status"] == "ok"


def test_the_table_fits_100_columns_with_long_errors(store, capsys, monkeypatch):
    monkeypatch.setenv("ARTIFICIAL_ANALYSIS_API_KEY", "k")  # the longest name, enabled
    error = ("HTTP 502 from https://openrouter.ai/api/v1/models?" + "x" * 150 + " " +
             "upstream says: " + "bad gateway " * 40)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(sync_runs).where(sync_runs.c.source == "openrouter"))
    seed(store, "openrouter", ("success", 9), took=900)
    for source in ("openrouter", "artificial_analysis", "model_catalog"):
        seed(store, source, *[("failed", h / 10) for h in range(5, 0, -1)], error=error)
    code, out = health(capsys)
    assert code == 2
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 100, max(lines, key=len)
    for name in [s.name for s in SOURCES] + ["model_catalog"]:
        assert sum(x.startswith(name + " ") for x in lines) == 1, name
    assert line(out, "openrouter").endswith("…")  # the notes are cut, listed in full below
    assert "artificial_analysis: 5 consecutive syncs failed; last error: HTTP 502" in flat(out)
    assert "openrouter is stale" in flat(out) and "the last sync took 15m" in flat(out)


def test_in_replay_mode_a_source_without_recording_is_skipped(store, capsys, monkeypatch):
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(FIXTURES))  # no openrouter recording there
    seed(store, "openrouter", ("failed", 0.3), ("failed", 0.2), ("failed", 0.1))
    seed(store, "together", ("success", 30))  # recorded there: its rules apply
    code, out = health(capsys, "--select", "openrouter", "together")
    assert code == 2, out
    openrouter = line(out, "openrouter")
    assert openrouter.split()[1] == "skipped" and "no recording to replay" in openrouter
    assert "openrouter" not in out.split("\n\n", 1)[1]
    assert "together is stale" in flat(out)
    code, out = health(capsys, "--select", "openrouter", "--json")
    assert code == 0
    [report] = json.loads(out)["sources"]
    assert report["level"] == "ok" and report["status"] == "skipped"
    assert report["reason"].startswith("no recording of openrouter")
    assert report["consecutive_failures"] == 3 and report["findings"] == []

    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(FIXTURES / "missing"))
    code, out = health(capsys, "--select", "openrouter")
    assert code == 2 and out == ""


def test_the_cli_reads_dotenv_in_its_working_directory(store, capsys, monkeypatch, tmp_path):
    # main() sets them in os.environ: recorded here so that monkeypatch removes them afterwards
    for name in ("GROQ_API_KEY", "XAI_API_KEY", "MODEL_SYNC_DATABASE_URL"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", str(store.engine.url))
    (tmp_path / ".env").write_text("# as .env.example\nGROQ_API_KEY=gsk-test\nXAI_API_KEY='xai-k'\n"
                                   "MODEL_SYNC_DATABASE_URL=sqlite:///elsewhere.db\n")
    assert os.getcwd() == str(tmp_path)
    seed(store, "groq", ("success", 2))
    code, out = health(capsys, "--select", "groq", "xai", "openrouter")
    assert code == 2, out
    assert line(out, "groq").split()[1] == "ok" and "key not set" not in out
    assert line(out, "xai").split()[1] == "critical"  # enabled, and never synced
    assert line(out, "openrouter").split()[1] == "ok"  # the environment's database, not .env's
    assert os.environ["GROQ_API_KEY"] == "gsk-test" and os.environ["XAI_API_KEY"] == "xai-k"
    assert os.environ["MODEL_SYNC_DATABASE_URL"] == str(store.engine.url)
    assert not (tmp_path / "elsewhere.db").exists()


def test_a_key_unset_in_this_shell_with_a_recent_success_is_reported_from_history(store, capsys):
    seed(store, "groq", ("success", 20))
    seed(store, "xai", ("success", 26))  # past its 25 h fail window: disabled
    code, out = health(capsys, "--select", "groq", "xai")
    assert code == 0, out
    groq = line(out, "groq")
    assert groq.split()[1] == "ok" and "key not set here" in groq and "20h00m" in groq
    assert "groq: GROQ_API_KEY is not set in this shell; reported from its sync history" in flat(
        out)
    assert line(out, "xai").split()[1] == "disabled"

    seed(store, "groq", ("failed", 0.2), ("failed", 0.1))
    code, out = health(capsys, "--select", "groq", "--json")
    assert code == 1
    [groq] = json.loads(out)["sources"]
    assert groq["status"] == "warning" and groq["reason"] is None
    assert [(f["rule"], f["level"]) for f in groq["findings"]] == [
        ("key_not_set", "ok"), ("last_failed", "warning")]
