"""The alert sensor against a real webhook receiver on 127.0.0.1: each rule, once, and recovery."""

import json
import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from model_sync.catalog.schema import sync_runs
from model_sync.definitions import defs
from model_sync.defs import alerts as alert_defs
from model_sync.defs.alerts import AlertWebhook, alert_sensor
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync_tests.conftest import NO_COMPUTE_LOGS
from model_sync_tests.http_servers import Receiver

SECRET = "s3cr3t-token"


def title(alert: str) -> str:
    return alert.splitlines()[0].removeprefix(":rotating_light: model_sync: ")


def openrouter_body(models: int) -> bytes:
    return json.dumps({"data": [
        {"id": f"lab/model-{i}", "name": f"Model {i}", "context_length": 8192,
         "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
        for i in range(models)]}).encode()


class World:
    """A real Dagster instance, a catalog database, a replay directory and the alert sensor."""

    def __init__(self, instance, db_url, replay, receiver):
        self.instance, self.db_url, self.replay, self.receiver = instance, db_url, replay, receiver
        self.cursor = None
        self.day = 0
        self.webhook = AlertWebhook(url=receiver.url)

    def sync(self, models: int, **config) -> bool:
        """Sync openrouter from a new recorded body of `models` models."""
        self.day += 1
        (self.replay / "openrouter" / f"2026-01-{self.day:02d}.json").write_bytes(
            openrouter_body(models))
        run_config = {"ops": {"openrouter": {"config": {"min_rows": 5, **config}}}}
        result = dg.materialize(list(defs.assets), selection=["openrouter"],
                                instance=self.instance, raise_on_error=False,
                                run_config=run_config,
                                resources={"http": HttpClientResource(replay_dir=str(self.replay)),
                                           "catalog_db": CatalogDatabase(url=self.db_url)})
        return result.success

    def tick(self, webhook: AlertWebhook | None = None) -> list[str]:
        """Evaluate the sensor once; the texts it posted."""
        before = len(self.receiver.posts)
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor,
            resources={"catalog_db": CatalogDatabase(url=self.db_url),
                       "alert_webhook": webhook or self.webhook})
        result = alert_sensor.evaluate_tick(context)
        self.cursor = result.cursor or self.cursor
        return self.receiver.texts[before:]


@pytest.fixture
def world(tmp_path, db_url):
    (tmp_path / "replay" / "openrouter").mkdir(parents=True)
    receiver = Receiver()
    with receiver.running(), dg.instance_for_test(overrides=NO_COMPUTE_LOGS) as instance:
        yield World(instance, db_url, tmp_path / "replay", receiver)


def test_failed_run_and_failed_check_alert_once_then_recover(world):
    assert world.sync(50)
    assert world.tick() == []

    assert not world.sync(20)  # 60% fewer models: the drop guard blocks the sync
    posted = world.tick()
    assert len(posted) == 2
    check = next(t for t in posted if "check" in t)
    assert "ERROR check openrouter_drop_guard failed on asset openrouter" in check
    assert "fewer than the 50 of its last good sync" in check
    assert "metadata:" in check and "previous_rows: 50" in check
    run = next(t for t in posted if "run of" in t)
    assert "run of openrouter failed" in run and "sync blocked by its checks" in run
    assert world.tick() == []  # no duplicates while the incident lasts

    assert not world.sync(20)
    assert world.tick() == []  # a second failure is the same incident
    assert not world.sync(20)
    [streak] = world.tick()
    assert streak.startswith(":rotating_light: model_sync: openrouter: 3 consecutive syncs "
                             "failed; last error: openrouter has 20 rows, 60.0% fewer")
    assert not world.sync(20)
    [rate] = world.tick()
    assert "openrouter: 4 of its last 5 syncs failed (80%, over 50%)" in rate

    assert world.sync(20, max_drop_share=0.9)  # accepted on purpose
    recovered = world.tick()
    assert sorted(recovered) == sorted([
        ":white_check_mark: model_sync: resolved: run of openrouter failed",
        ":white_check_mark: model_sync: resolved: ERROR check openrouter_drop_guard failed on "
        "asset openrouter",
        ":white_check_mark: model_sync: resolved: " + title(streak),
    ])
    assert world.tick() == []  # the failure rate (4 of 6) is still over 50%: no recovery yet

    for raw in world.receiver.raw:
        assert SECRET.encode() not in raw and b"127.0.0.1" not in raw
    for body in world.receiver.posts:
        assert set(body) == {"text", "content"} and body["text"] == body["content"]


@dg.asset
def unrelated():
    """Another job's asset: its runs push older runs out of the recent ones."""


def other_runs(world, count):
    for _ in range(count):
        assert dg.materialize([unrelated], instance=world.instance).success


RESOLVED_RUN = ":white_check_mark: model_sync: resolved: run of openrouter failed"


def test_a_failed_run_stays_open_when_it_ages_out_of_the_recent_runs(world, monkeypatch):
    """Only a later successful run of the same target resolves a failed run, however many
    other runs finished since."""
    monkeypatch.setattr(alert_defs, "RECENT_RUNS", 3)
    assert world.sync(50)
    assert not world.sync(20)  # blocked by the drop guard
    posted = world.tick()
    assert any("run of openrouter failed" in t for t in posted)

    other_runs(world, 4)  # the failed run is no longer among the 3 most recent
    assert world.tick() == []  # not "resolved": nothing of openrouter ran since

    monkeypatch.setattr(alert_defs, "LOOKBACK_RUNS", 3)
    assert world.tick() == []  # no run of openrouter found at all: still not resolved

    assert world.sync(20, max_drop_share=0.9)
    assert RESOLVED_RUN in world.tick()


def test_a_recovery_found_further_back_resolves_the_failed_run(world, monkeypatch):
    monkeypatch.setattr(alert_defs, "RECENT_RUNS", 3)
    assert world.sync(50)
    assert not world.sync(20)
    assert any("run of openrouter failed" in t for t in world.tick())
    assert world.sync(20, max_drop_share=0.9)
    other_runs(world, 4)  # the recovery, too, is older than the 3 most recent runs
    assert RESOLVED_RUN in world.tick()


def seed(db_url, source, hours_ago, status="success", run_id="seeded"):
    from model_sync.catalog.store import CatalogStore

    store = CatalogStore.from_url(db_url)
    finished = datetime.now(UTC) - timedelta(hours=hours_ago)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(sync_runs).values(
            run_id=run_id, source=source, status=status, finished_at=finished,
            started_at=finished - timedelta(seconds=20), rows_fetched=10))
    store.dispose()


def test_freshness_breach_alerts_once_and_recovers(world):
    seed(world.db_url, "litellm", hours_ago=30)
    seed(world.db_url, "model_catalog", hours_ago=1)
    [stale] = world.tick()
    assert "litellm is stale: last successful sync 1d06h ago, over its 1d01h freshness" in stale
    assert world.tick() == []
    seed(world.db_url, "litellm", hours_ago=0)
    assert world.tick() == [":white_check_mark: model_sync: resolved: " + title(stale)]


def test_consecutive_failures_count_runs_not_their_retries(world):
    """Four failed attempts of one run (three retries) are one failed sync: no alert; three
    failed runs are."""
    seed(world.db_url, "litellm", hours_ago=2, run_id="run-ok")
    for attempt in range(4):
        seed(world.db_url, "litellm", hours_ago=1 - attempt / 10, status="failed",
             run_id="run-retried")
    assert world.tick() == []
    seed(world.db_url, "litellm", hours_ago=0.3, status="failed", run_id="run-2")
    assert world.tick() == []
    seed(world.db_url, "litellm", hours_ago=0.2, status="blocked", run_id="run-3")
    [alert] = world.tick()
    assert "litellm: 3 consecutive syncs failed" in alert


def test_in_replay_mode_a_source_without_recording_raises_no_alert(world, monkeypatch):
    (world.replay / "openrouter" / "2026-01-01.json").write_bytes(openrouter_body(5))
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(world.replay))
    seed(world.db_url, "litellm", hours_ago=30)  # not recorded: skipped
    seed(world.db_url, "openrouter", hours_ago=30, run_id="run-openrouter")
    [stale] = world.tick()
    assert "openrouter is stale" in stale


def test_a_run_longer_than_the_threshold_alerts_and_recovers_when_it_ends(world):
    gate = threading.Event()

    @dg.asset
    def slow_sync():
        assert gate.wait(30)

    runner = threading.Thread(target=dg.materialize, args=([slow_sync],),
                              kwargs={"instance": world.instance})
    runner.start()
    try:
        for _ in range(100):
            if world.instance.get_runs(filters=dg.RunsFilter(
                    statuses=[dg.DagsterRunStatus.STARTED])):
                break
            threading.Event().wait(0.1)
        quick = AlertWebhook(url=world.receiver.url, long_run_minutes=60)
        assert world.tick(quick) == []  # under an hour: nothing
        threading.Event().wait(1.5)
        eager = AlertWebhook(url=world.receiver.url, long_run_minutes=0.02)  # 1.2 s
        [long] = world.tick(eager)
        assert "of slow_sync is running long" in long and "over the 0m threshold" in long
        assert world.tick(eager) == []
    finally:
        gate.set()
        runner.join(30)
    [done] = world.tick(eager)
    assert done.startswith(":white_check_mark: model_sync: resolved: run ")


def test_nothing_is_sent_without_the_webhook_variable(world, monkeypatch):
    seed(world.db_url, "litellm", hours_ago=30)
    context = dg.build_sensor_context(
        instance=world.instance,
        resources={"catalog_db": CatalogDatabase(url=world.db_url),
                   "alert_webhook": AlertWebhook()})
    result = alert_sensor.evaluate_tick(context)
    assert result.skip_message == "MODEL_SYNC_ALERT_WEBHOOK_URL is not set: no alerts are sent"
    assert world.receiver.posts == []
    monkeypatch.setenv("MODEL_SYNC_ALERT_WEBHOOK_URL", world.receiver.url)
    assert len(world.tick(AlertWebhook())) == 1  # read from the environment at run time


def test_an_alert_the_webhook_refused_is_sent_on_the_next_tick_only(world):
    seed(world.db_url, "litellm", hours_ago=30)
    world.receiver.status = 500
    assert world.tick() == []
    assert json.loads(world.cursor)["open"] == {}
    world.receiver.status = 200
    assert len(world.tick()) == 1
    assert len(world.tick()) == 0


def test_the_alert_sensor_runs_by_default():
    sensor = defs.get_repository_def().get_sensor_def("alert_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
