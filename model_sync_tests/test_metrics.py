"""`model-sync metrics`: the exposition, parsed with prometheus-client's own parser, says what
the catalog database holds; an unreadable catalog is `model_sync_catalog_up 0` in one line."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from model_sync.catalog import CATALOG
from model_sync.catalog.schema import catalog_changes, model_catalog, sync_runs
from model_sync.cli import main
from model_sync.ops import metrics
from model_sync.sources import SOURCES
from model_sync.sources.base import Rejection
from model_sync_tests.servers import free_port


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_the_textfile_says_what_sync_runs_and_the_catalog_hold(replayed_db, monkeypatch,
                                                               capsys):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    assert main(["metrics"]) == 0
    found = samples(capsys.readouterr().out)
    store = replayed_db.store()
    try:
        with store.engine.connect() as conn:
            runs = [dict(r) for r in conn.execute(sa.select(sync_runs)).mappings()]
            states = Counter(dict(conn.execute(sa.select(
                model_catalog.c.state, sa.func.count()).group_by(model_catalog.c.state)).all()))
            changes = Counter(dict(conn.execute(sa.select(
                catalog_changes.c.change, sa.func.count()).group_by(
                catalog_changes.c.change)).all()))
        rows = {spec.name: store.source_count(spec.name) for spec in SOURCES}
    finally:
        store.dispose()
    assert value(found, "model_sync_catalog_up") == 1
    names = [spec.name for spec in SOURCES] + [CATALOG]
    assert {r["source"] for r in runs} >= set(names)
    for name in names:
        mine = [r for r in runs if r["source"] == name]
        for status in ("success", "failed", "blocked", "interrupted"):
            assert value(found, "model_sync_source_syncs_total", source=name, status=status) \
                == sum(1 for r in mine if r["status"] == status), (name, status)
        took = [(utc(r["finished_at"]) - utc(r["started_at"])).total_seconds() for r in mine]
        assert value(found, "model_sync_source_sync_duration_seconds_count", source=name) \
            == len(took)
        assert abs(value(found, "model_sync_source_sync_duration_seconds_sum", source=name)
                   - sum(took)) < 1e-3
        assert value(found, "model_sync_source_sync_duration_seconds_bucket", source=name,
                     le="+Inf") == len(took)
        last = max(utc(r["finished_at"]) for r in mine if r["status"] == "success")
        assert value(found, "model_sync_source_last_success_timestamp_seconds",
                     source=name) == last.timestamp()
        assert value(found, "model_sync_source_health_level", source=name) == 0
    for name, count in rows.items():
        assert value(found, "model_sync_source_rows", source=name) == count
        assert value(found, "model_sync_source_rejected_entries", source=name) == 0
    assert rows["openrouter"] == 414
    for state in ("active", "removed", "archived", "unlisted"):
        assert value(found, "model_sync_offerings", state=state) == states[state]
    assert states["active"] > 2000
    for change in ("added", "removed", "price_changed", "restored", "archived"):
        assert value(found, "model_sync_catalog_changes_total", change=change) == changes[change]
    assert changes["added"] > 0
    assert 0 <= value(found, "model_sync_catalog_age_seconds") < 3600
    assert value(found, "model_sync_catalog_min_offerings") == 2000
    # Labels stay bounded: sources, statuses, states, change kinds, histogram bounds.
    labels = {k for (_, pairs) in found for k, _ in pairs}
    assert labels <= {"source", "status", "state", "change", "le"}


def test_out_replaces_the_file_whole(replayed_db, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", replayed_db.url)
    target = tmp_path / "textfile" / "model_sync.prom"
    target.parent.mkdir()
    target.write_text("stale\n")
    assert main(["metrics", "--out", str(target)]) == 0
    found = samples(target.read_text())
    assert value(found, "model_sync_source_rows", source="openrouter") == 414
    assert [p.name for p in target.parent.iterdir()] == ["model_sync.prom"]  # no temp file left


def test_rejected_entries_are_those_of_the_latest_sync(catalog_db):
    store = catalog_db.store()
    start = datetime(2026, 8, 19, 2, tzinfo=UTC)
    bad = [Rejection(f"m{i}", "field 'id': required field is missing", "id") for i in range(3)]
    try:
        store.record_rejections("litellm", bad, run_id="run-1", now=start)
        store.record_failure("litellm", run_id="run-1", started_at=start, status="blocked",
                             error="too many rejected")
        reading = metrics.read(store.engine, names=["litellm"], now=start)
        assert reading.rejected == {"litellm": 3}
        store.record_failure("litellm", run_id="run-2", started_at=start + timedelta(hours=1),
                             status="failed", error="HTTP 503")
        reading = metrics.read(store.engine, names=["litellm"], now=start)
        assert reading.rejected == {"litellm": 0}
        assert reading.syncs == Counter({("litellm", "blocked"): 1, ("litellm", "failed"): 1})
    finally:
        store.dispose()


def test_an_unreadable_catalog_is_up_0_in_one_line(monkeypatch, capsys):
    url = f"postgresql+psycopg://model_sync:pg-s3cret-pw@127.0.0.1:{free_port()}/model_sync"
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", url)
    assert main(["metrics"]) == 1
    out, err = capsys.readouterr()
    assert value(samples(out), "model_sync_catalog_up") == 0
    assert "pg-s3cret-pw" not in out + err and "Traceback" not in err
    assert err.count("model-sync metrics: the catalog cannot be read: ") == 1


def test_a_bad_serve_address_is_one_line(capsys):
    assert main(["metrics", "--serve", "localhost:http"]) == 2
    assert capsys.readouterr().err.strip() == (
        "model-sync: --serve: 'localhost:http' is not HOST:PORT (e.g. 127.0.0.1:9464)")


def test_a_bad_setting_stops_metrics_and_status_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(tmp_path / "missing"))
    for command in (["metrics"], ["metrics", "--serve"], ["status"]):
        assert main(command) == 2, command
        out, err = capsys.readouterr()
        assert err.splitlines() == [f"model-sync: MODEL_SYNC_REPLAY_DIR: replay directory "
                                    f"{tmp_path / 'missing'} does not exist"], command
        assert out == ""
