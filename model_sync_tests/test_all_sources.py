"""Every source end to end: assets, schedules, keys, and one replayed sync of them all."""

import subprocess
import sys

import dagster as dg
import pytest

from model_sync.catalog.store import CatalogStore
from model_sync.definitions import defs
from model_sync.defs.checks import SOURCE_RULES
from model_sync.defs.resources import HttpClientResource
from model_sync.sources import SOURCES, SOURCES_BY_NAME
from model_sync.sources.base import OFFERING_ROLES
from model_sync_tests.conftest import FIXTURE_CONFIG, FIXTURE_SOURCES, table_row

ASSETS = list(defs.assets)


def materialize(http, catalog_db, selection, config=None):
    ops = {k: v for k, v in FIXTURE_CONFIG["ops"].items() if k in selection}
    return dg.materialize(ASSETS, selection=selection, instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http, "catalog_db": catalog_db},
                          raise_on_error=False, run_config=config or {"ops": ops})


@pytest.mark.parametrize("source", FIXTURE_SOURCES)
def test_each_new_source_is_an_asset_with_its_api_kinds_and_schedule(source):
    spec = SOURCES_BY_NAME[source]
    repo = defs.get_repository_def()
    node = repo.asset_graph.get(dg.AssetKey(source))
    assert spec.url.split("?")[0].split("/v1")[0] in node.description
    assert spec.cron in node.description and node.group_name == "sources"
    assert {"httpx", "sqlalchemy"} <= set(node.kinds)
    assert node.metadata["api_key_env"] == spec.auth.env_var
    assert repo.get_schedule_def(f"{source}_schedule").cron_schedule == spec.cron


def test_hugging_face_and_featherless_keys_are_optional_the_others_required(fixtures_http):
    optional = {s.name for s in SOURCES if s.auth and not s.auth.required}
    assert optional == {"huggingface", "featherless"}
    http = HttpClientResource()
    assert http.disabled_reason(SOURCES_BY_NAME["huggingface"]) is None
    reason = http.disabled_reason(SOURCES_BY_NAME["xai"])
    assert reason.startswith("xAI is disabled: set XAI_API_KEY")


def test_a_source_without_its_key_is_skipped_never_a_red_failure(catalog_db):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(ASSETS, selection=["together"], instance=instance,
                            resources={"http": HttpClientResource(), "catalog_db": catalog_db},
                            raise_on_error=False)
    assert result.success and result.get_step_failure_events() == []
    assert result.get_asset_materialization_events() == []
    [observation] = result.get_asset_observation_events()
    skipped = observation.asset_observation_data.asset_observation.metadata["skipped"].value
    assert skipped.startswith("Together AI is disabled: set TOGETHER_API_KEY")
    evaluations = result.get_asset_check_evaluations()  # skipped, saying so; never failed
    assert {e.check_name for e in evaluations} == {f"together_{rule}" for rule in SOURCE_RULES}
    for evaluation in evaluations:
        assert evaluation.passed and evaluation.metadata["evaluated"].value is False
        assert evaluation.description.startswith("Skipped: Together AI is disabled")
    assert catalog_db.store().sync_history("together") == []


def test_schedules_skip_while_keys_are_missing(monkeypatch):
    schedule = defs.get_repository_def().get_schedule_def("novita_schedule")
    with dg.build_schedule_context(resources={"http": HttpClientResource()}) as context:
        assert "NOVITA_API_KEY" in schedule.evaluate_tick(context).skip_message
    monkeypatch.setenv("NOVITA_API_KEY", "k")
    with dg.build_schedule_context(resources={"http": HttpClientResource()}) as context:
        assert len(schedule.evaluate_tick(context).run_requests) == 1


def test_featherless_shortfall_is_in_the_materialization(fixtures_http, catalog_db):
    result = materialize(fixtures_http, catalog_db, ["featherless"])
    assert result.success
    meta = result.asset_materializations_for_node("featherless")[0].metadata
    assert (meta["rows"].value, meta["advertised_rows"].value, meta["shortfall"].value) == (
        6, 11, 5)


def test_featherless_default_minimum_blocks_a_tiny_catalog(fixtures_http, catalog_db):
    result = materialize(fixtures_http, catalog_db, ["featherless"],
                         config={"ops": {"featherless": {"config": {}}}})
    assert not result.success
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert "fewer than the minimum of 10,000" in check["featherless_min_rows"].description


def test_hugging_face_reads_the_repositories_other_sources_name(replay_http, catalog_db):
    assert materialize(replay_http, catalog_db, ["openrouter"],
                       config={"ops": {}}).success
    store = catalog_db.store()
    assert "Qwen/Qwen3.8-27B" in store.hugging_face_ids()
    result = materialize(replay_http, catalog_db, ["huggingface"],
                         config={"ops": {"huggingface": {"config": {"min_rows": 1,
                                                                    "max_extra_requests": 500}}}})
    assert result.success
    meta = result.asset_materializations_for_node("huggingface")[0].metadata
    rows = {r["source_key"]: r for r in store.source_rows("huggingface")}
    assert "Qwen/Qwen3.8-27B" in rows and len(rows) == 9
    assert meta["extra_missing"].value == meta["extra_requests"].value - 1  # one is recorded
    assert set(store.hugging_face_ids(exclude_source="huggingface")) <= set(
        store.hugging_face_ids())


@pytest.fixture
def synced_db(replay_root, tmp_path):
    url = f"sqlite:///{tmp_path / 'all.db'}"
    env = {"MODEL_SYNC_REPLAY_DIR": str(replay_root), "PATH": "/usr/bin:/bin",
           "MODEL_SYNC_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "model_sync.cli", "sync", "--min-rows", "1"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    return done, CatalogStore.from_url(url)


def test_sync_in_replay_mode_fills_the_catalog_with_every_source(synced_db):
    done, store = synced_db
    assert done.returncode == 0, done.stdout + done.stderr
    for spec in SOURCES:
        assert table_row(done.stdout, spec.name)[1] == "success", spec.name
        assert store.source_count(spec.name) > 0, spec.name
    catalog = store.catalog_rows()
    described = {s for row in catalog for s in row["sources"]}
    assert described == {s.name for s in SOURCES if s.role in OFFERING_ROLES}
    rows = {(r["provider"], r["model_id"]): r for r in catalog}
    grok = rows[("xai", "grok-3")]
    assert grok["price_source"] == "xai" and grok["input_price"] == 3
    novita = rows[("novita", "meta-llama/llama-3.3-70b-instruct")]
    assert str(novita["input_price"]) == "0.39" and novita["price_source"] == "novita"
    assert {r["provider"] for r in catalog if "alibaba_cloud" in r["sources"]} == {"alibaba"}
