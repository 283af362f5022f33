"""Operations: one sync per source at a time, retries for transient failures only, and a run
terminated mid-sync that leaves the previous rows in place."""

import json
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from model_sync.cadence import resolve_cadences
from model_sync.catalog.store import CatalogStore
from model_sync.definitions import defs
from model_sync.defs import source_assets
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.defs.tags import TRIGGER_TAG
from model_sync.sources import SOURCES, SOURCES_BY_NAME
from model_sync_tests.conftest import NO_COMPUTE_LOGS
from model_sync_tests.servers import wait_until

REPO = Path(__file__).resolve().parents[1]
SPEC = SOURCES_BY_NAME["openrouter"]
CONFIG = {"ops": {"openrouter": {"config": {"min_rows": 5}}}}


def body(models: int = 20) -> bytes:
    return json.dumps({"data": [
        {"id": f"lab/m{i}", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
        for i in range(models)]}).encode()


class FakeHttp(HttpClientResource):
    """The real client over a transport the test controls."""

    def transport(self):
        return httpx.MockTransport(HANDLER["fn"])


HANDLER = {"fn": lambda request: httpx.Response(200, content=body())}


@pytest.fixture(autouse=True)
def _handler():
    yield
    HANDLER["fn"] = lambda request: httpx.Response(200, content=body())


def materialize(catalog_db, instance=None):
    return dg.materialize(list(defs.assets), selection=["openrouter"], run_config=CONFIG,
                          instance=instance or dg.DagsterInstance.ephemeral(),
                          resources={"http": FakeHttp(max_retries=0), "catalog_db": catalog_db},
                          raise_on_error=False)


QUICK = source_assets.RetrySchedule(unattended=(0.01, 0.01), interactive=(0.01,))


def run_asset(catalog_db, monkeypatch, tags=None, config=CONFIG, waits=QUICK):
    """One openrouter sync through Dagster's step machinery, with retry waits short enough for
    a test (the project's own are seconds to minutes)."""
    monkeypatch.setattr(source_assets, "SOURCE_RETRIES", waits)
    asset = source_assets.build_source_asset(SPEC, resolve_cadences([SPEC], env={})["openrouter"])
    return dg.materialize([asset], run_config=config, raise_on_error=False, tags=tags,
                          instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": FakeHttp(max_retries=0), "catalog_db": catalog_db})


def interrupted_run(catalog_db, monkeypatch):
    """A run whose step is interrupted: Dagster ends it unsuccessfully."""
    result = run_asset(catalog_db, monkeypatch)
    assert not result.success
    return result


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, dg.DagsterExecutionInterruptedError])
def test_terminated_mid_fetch_keeps_rows_and_records_an_interrupted_sync(
        catalog_db, monkeypatch, interruption):
    assert materialize(catalog_db).success
    before = catalog_db.store().source_rows("openrouter")

    def interrupt(request):
        raise interruption()  # what terminating a run raises inside its step

    HANDLER["fn"] = interrupt
    interrupted_run(catalog_db, monkeypatch)
    store = catalog_db.store()
    assert store.source_rows("openrouter") == before
    last = store.sync_history("openrouter", limit=1)[0]
    assert last["status"] == "interrupted" and "terminated mid-sync" in last["error"]


def test_terminated_during_publish_rolls_the_transaction_back(catalog_db, monkeypatch):
    assert materialize(catalog_db).success
    before = catalog_db.store().source_rows("openrouter")
    HANDLER["fn"] = lambda request: httpx.Response(200, content=body(25))
    original = CatalogStore._record

    def record(conn, source, run_id, started_at, status, *args):
        if status == "success":  # rows deleted and inserted, not yet committed
            raise dg.DagsterExecutionInterruptedError()
        return original(conn, source, run_id, started_at, status, *args)

    monkeypatch.setattr(CatalogStore, "_record", staticmethod(record))
    interrupted_run(catalog_db, monkeypatch)
    store = catalog_db.store()
    assert store.source_rows("openrouter") == before and len(before) == 20
    assert [r["status"] for r in store.sync_history("openrouter")] == ["interrupted", "success"]


@pytest.mark.parametrize(("tags", "waits"), [
    ({}, (10.0,)),  # launched by a person in the UI: one quick retry
    ({TRIGGER_TAG: "full_resync"}, (10.0,)),
    ({"dagster/schedule_name": "openrouter_schedule"}, (60.0, 180.0, 420.0)),  # unattended
    ({"dagster/sensor_name": "openrouter_change_sensor"}, (60.0, 180.0, 420.0)),
    ({"dagster/from_automation_condition": "true"}, (60.0, 180.0, 420.0)),
    ({TRIGGER_TAG: "cli"}, ()),  # `model-sync sync` reports at once
])
def test_transient_failures_are_retried_by_who_launched_the_run(tags, waits):
    assert source_assets.retry_waits(tags) == waits


def retries(result) -> int:
    return [e.event_type_value for e in result.all_events].count("STEP_UP_FOR_RETRY")


@pytest.mark.parametrize(("tags", "expected"), [
    ({"dagster/schedule_name": "openrouter_schedule"}, 2),
    ({}, 1),
])
def test_transient_fetch_errors_are_retried(catalog_db, monkeypatch, tags, expected):
    HANDLER["fn"] = lambda request: httpx.Response(503)
    result = run_asset(catalog_db, monkeypatch, tags=tags)
    assert not result.success and retries(result) == expected
    history = catalog_db.store().sync_history("openrouter")
    assert [r["status"] for r in history] == ["failed"] * (expected + 1)  # every attempt
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("openrouter: GET https://openrouter.ai/api/v1/models: "
                                  "HTTP 503 Service Unavailable; gave up after 1 attempts")
    assert description.endswith(f"(after {expected + 1} attempts). The previous rows are kept.")


@pytest.mark.parametrize("answer", [
    httpx.Response(200, content=b"{broken"),  # a parse error: the same data would fail again
    httpx.Response(200, content=body(1)),  # blocked by min_rows
    httpx.Response(404, content=b"gone"),  # a client error: the same answer again
    httpx.Response(401, content=b"no"),
])
def test_deterministic_failures_fail_at_once(catalog_db, monkeypatch, answer):
    HANDLER["fn"] = lambda request: answer
    result = run_asset(catalog_db, monkeypatch, tags={"dagster/schedule_name": "s"})
    assert not result.success and retries(result) == 0
    assert len(catalog_db.store().sync_history("openrouter")) == 1


def test_a_host_that_does_not_resolve_is_retried_once_quickly_then_fails(catalog_db,
                                                                         monkeypatch):
    attempts = []

    def unresolvable(request):
        attempts.append(request.url.host)
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    HANDLER["fn"] = unresolvable
    monkeypatch.setattr(FakeHttp, "client", lambda self, log=None: _quick_client(self, log))
    result = run_asset(catalog_db, monkeypatch, tags={"dagster/schedule_name": "s"})
    assert not result.success and retries(result) == 0  # no step retry either
    assert attempts == ["openrouter.ai", "openrouter.ai"]
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "cannot reach openrouter.ai" in description
    assert "gave up after 2 attempts" in description


def _quick_client(http, log):
    client = HttpClientResource.client(http, log)
    client.sleep = lambda seconds: None  # the quick retry's wait, not spent in a test
    return client


@pytest.mark.parametrize("answer", [httpx.Response(503), RuntimeError("disk on fire")])
def test_model_sync_sync_reports_failures_at_once_without_run_retries(catalog_db, monkeypatch,
                                                                       answer):
    def respond(request):
        if isinstance(answer, Exception):
            raise answer
        return answer

    HANDLER["fn"] = respond
    result = run_asset(catalog_db, monkeypatch, tags={TRIGGER_TAG: "cli"})
    assert not result.success and retries(result) == 0
    assert len(catalog_db.store().sync_history("openrouter")) == 1


def test_entries_of_an_unexpected_shape_are_rejected_and_block_when_too_many(catalog_db,
                                                                             monkeypatch):
    weird = json.dumps({"data": [{"id": 42, "pricing": {"prompt": "0", "completion": "0"}}]}
                       ).encode()  # a number where the mapping expects text: a TypeError inside
    HANDLER["fn"] = lambda request: httpx.Response(200, content=weird)
    result = run_asset(catalog_db, monkeypatch, tags={"dagster/schedule_name": "s"},
                       config={"ops": {"openrouter": {"config": {"min_rows": 0}}}})
    assert not result.success and retries(result) == 0
    last = catalog_db.store().sync_history("openrouter", limit=1)[0]
    assert last["status"] == "blocked"
    assert "1 of 1 entries rejected (100.0%, allowed: 2.0%): unexpected shape (TypeError" in (
        last["error"])
    [rejected] = catalog_db.store().rejections("openrouter")
    assert rejected["source_key"] == "42" and rejected["excerpt"].startswith('{"id":42,')


def test_a_failed_dry_run_leaves_no_trace_in_the_sync_history(catalog_db, monkeypatch):
    HANDLER["fn"] = lambda request: httpx.Response(200, content=b"{broken")
    dry = {"ops": {"openrouter": {"config": {"min_rows": 5, "dry_run": True}}}}
    result = run_asset(catalog_db, monkeypatch, config=dry)
    assert not result.success
    assert catalog_db.store().sync_history("openrouter") == []
    HANDLER["fn"] = lambda request: httpx.Response(200, content=body(1))  # blocked by min_rows
    assert not run_asset(catalog_db, monkeypatch, config=dry).success
    assert catalog_db.store().sync_history("openrouter") == []


def test_unexpected_errors_are_recorded_not_retried(catalog_db, monkeypatch):
    def boom(request):
        raise RuntimeError("disk on fire")

    HANDLER["fn"] = boom
    result = run_asset(catalog_db, monkeypatch, tags={"dagster/schedule_name": "s"})
    assert not result.success and retries(result) == 0  # a bug answers the same way again
    last = catalog_db.store().sync_history("openrouter", limit=1)[0]
    assert last["status"] == "failed" and "RuntimeError: disk on fire" in last["error"]


def instance_settings() -> dict:
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text())
    settings.pop("telemetry", None)
    return {**settings, **NO_COMPUTE_LOGS}


def test_dagster_yaml_limits_each_source_to_one_run_and_one_step():
    with dg.instance_for_test(overrides=instance_settings()) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.run_queue_config.tag_concurrency_limits == [
            {"key": "model_sync/source", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    repo = defs.get_repository_def()
    for spec in SOURCES:
        [node] = repo.asset_graph.assets_defs_for_keys([dg.AssetKey(spec.name)])
        assert node.op.pool == f"source_{spec.name}"


@pytest.mark.parametrize(("held", "waits"), [("source_openrouter", True),
                                             ("source_models_dev", False)])
def test_a_sync_waits_while_another_run_holds_its_source_pool(tmp_path, held, waits):
    """Another run holds a pool's one slot: a sync of that source waits for it, others do not."""
    fetched = []

    def answer(request):
        fetched.append(time.monotonic())
        return httpx.Response(200, content=body())

    HANDLER["fn"] = answer
    catalog_db = CatalogDatabase(url=f"sqlite:///{tmp_path / 'c.db'}")
    with dg.instance_for_test(overrides=instance_settings()) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(held)
        claim = storage.claim_concurrency_slot(held, "another-run", "step")
        assert claim.is_claimed
        runner = threading.Thread(target=materialize, args=(catalog_db, instance))
        runner.start()
        if waits:  # the step says it is blocked, and has fetched nothing
            wait_until(lambda: blocked_on(instance, held), 60, f"a step blocked on {held}",
                       interval=0.05)
            assert not fetched
        else:
            wait_until(lambda: fetched, 60, "the sync's fetch", interval=0.05)
        storage.free_concurrency_slot_for_step("another-run", "step")
        runner.join(60)
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS]
    assert len(fetched) == 1


def blocked_on(instance: dg.DagsterInstance, pool: str) -> bool:
    """Whether a run of the instance reported a step blocked by the limit of `pool`."""
    return any(f"blocked by limit for pool {pool}" in (record.user_message or "")
               for run in instance.get_runs()
               for record in instance.all_logs(run.run_id,
                                               of_type=dg.DagsterEventType.ENGINE_EVENT))
