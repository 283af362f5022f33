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
from model_sync.sources import SOURCES, SOURCES_BY_NAME
from model_sync_tests.conftest import NO_COMPUTE_LOGS

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


def run_asset(catalog_db, monkeypatch, policy=None, tags=None, config=CONFIG):
    """One openrouter sync through Dagster's step machinery, with the given retry policy
    (none by default: a test need not wait minutes for the project's backoff)."""
    monkeypatch.setattr(source_assets, "SOURCE_RETRY_POLICY", policy)
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


def test_source_assets_retry_with_exponential_backoff_and_jitter():
    for spec in SOURCES:
        [node] = defs.get_repository_def().asset_graph.assets_defs_for_keys(
            [dg.AssetKey(spec.name)])
        policy = node.op.retry_policy
        assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (
            3, 60, dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)


QUICK = dg.RetryPolicy(max_retries=2, delay=0.01, backoff=dg.Backoff.EXPONENTIAL,
                       jitter=dg.Jitter.PLUS_MINUS)


def retries(result) -> int:
    return [e.event_type_value for e in result.all_events].count("STEP_UP_FOR_RETRY")


def test_fetch_errors_are_retried_by_the_policy(catalog_db, monkeypatch):
    HANDLER["fn"] = lambda request: httpx.Response(503)
    result = run_asset(catalog_db, monkeypatch, QUICK)
    assert not result.success and retries(result) == 2
    history = catalog_db.store().sync_history("openrouter")
    assert [r["status"] for r in history] == ["failed"] * 3  # every attempt is recorded


@pytest.mark.parametrize("answer", [
    httpx.Response(200, content=b"{broken"),  # a parse error: the same data would fail again
    httpx.Response(200, content=body(1)),  # blocked by min_rows
])
def test_bad_data_is_not_retried(catalog_db, monkeypatch, answer):
    HANDLER["fn"] = lambda request: answer
    result = run_asset(catalog_db, monkeypatch, QUICK)
    assert not result.success and retries(result) == 0
    assert len(catalog_db.store().sync_history("openrouter")) == 1


@pytest.mark.parametrize("answer", [httpx.Response(503), RuntimeError("disk on fire")])
def test_model_sync_sync_reports_failures_at_once_without_run_retries(catalog_db, monkeypatch,
                                                                       answer):
    def respond(request):
        if isinstance(answer, Exception):
            raise answer
        return answer

    HANDLER["fn"] = respond
    result = run_asset(catalog_db, monkeypatch, QUICK, tags={source_assets.TRIGGER_TAG: "cli"})
    assert not result.success and retries(result) == 0
    assert len(catalog_db.store().sync_history("openrouter")) == 1


def test_an_entry_of_an_unexpected_shape_is_a_parse_error_not_retried(catalog_db, monkeypatch):
    weird = json.dumps({"data": [{"id": 42, "pricing": {"prompt": "0", "completion": "0"}}]}
                       ).encode()  # a number where the parser expects text: a TypeError inside
    HANDLER["fn"] = lambda request: httpx.Response(200, content=weird)
    result = run_asset(catalog_db, monkeypatch, QUICK,
                       config={"ops": {"openrouter": {"config": {"min_rows": 1}}}})
    assert not result.success and retries(result) == 0
    error = catalog_db.store().sync_history("openrouter", limit=1)[0]["error"]
    assert error.startswith("openrouter: page 1 has an entry of an unexpected shape (TypeError")


def test_a_failed_dry_run_leaves_no_trace_in_the_sync_history(catalog_db, monkeypatch):
    HANDLER["fn"] = lambda request: httpx.Response(200, content=b"{broken")
    dry = {"ops": {"openrouter": {"config": {"min_rows": 5, "dry_run": True}}}}
    result = run_asset(catalog_db, monkeypatch, config=dry)
    assert not result.success
    assert catalog_db.store().sync_history("openrouter") == []
    HANDLER["fn"] = lambda request: httpx.Response(200, content=body(1))  # blocked by min_rows
    assert not run_asset(catalog_db, monkeypatch, config=dry).success
    assert catalog_db.store().sync_history("openrouter") == []


def test_unexpected_errors_are_recorded_and_retried(catalog_db, monkeypatch):
    def boom(request):
        raise RuntimeError("disk on fire")

    HANDLER["fn"] = boom
    result = run_asset(catalog_db, monkeypatch, QUICK)
    assert not result.success and retries(result) == 2
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
        time.sleep(3)
        assert bool(fetched) is not waits
        storage.free_concurrency_slot_for_step("another-run", "step")
        runner.join(60)
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS]
    assert len(fetched) == 1
