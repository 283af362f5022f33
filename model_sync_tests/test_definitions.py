"""The Definitions load, and show users what the UI should: assets, checks, schedules."""

import dagster as dg
import pytest

from model_sync.definitions import defs
from model_sync.defs.derived_assets import DERIVED
from model_sync.defs.jobs import build_full_resync
from model_sync.defs.resources import HttpClientResource
from model_sync.sources import SOURCES


@pytest.fixture(scope="module")
def repo():
    return defs.get_repository_def()


KEYLESS = {s.name for s in SOURCES if not (s.auth and s.auth.required)}


def test_definitions_load_and_resolve_every_job(repo):
    dg.Definitions.validate_loadable(defs)
    job = repo.get_job("full_resync")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    # which keyed sources it has depends on the keys set when the definitions loaded
    assert KEYLESS | {"model_catalog"} <= keys <= {s.name for s in SOURCES} | {"model_catalog"}


def full_resync_now() -> tuple[set[str], str]:
    """The assets and description of `full_resync` built under the current environment."""
    job = build_full_resync()
    resolved = dg.Definitions(assets=list(defs.assets), jobs=[job],
                              resources=dict(defs.resources)).get_repository_def(
        ).get_job("full_resync")
    return ({k.to_user_string() for k in resolved.asset_layer.executable_asset_keys},
            resolved.description)


def test_full_resync_leaves_out_sources_whose_key_is_not_set(monkeypatch):
    keys, description = full_resync_now()
    assert keys == KEYLESS | {"model_catalog"}
    assert "groq" not in keys and "huggingface" in keys  # HF_TOKEN is optional
    assert "groq (`GROQ_API_KEY`)" in description and "when the definitions loaded" in description

    monkeypatch.setenv("GROQ_API_KEY", "k")
    keys, description = full_resync_now()
    assert keys == KEYLESS | {"groq", "model_catalog"}
    assert "GROQ_API_KEY" not in description and "TOGETHER_API_KEY" in description


def test_full_resync_has_every_source_in_replay_mode_or_with_every_key(monkeypatch, replay_root,
                                                                      tmp_path):
    everything = {s.name for s in SOURCES} | {"model_catalog"}
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(replay_root))  # every source recorded
    keys, description = full_resync_now()
    assert keys == everything and "Left out" not in description
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(empty))  # nothing to replay: left out
    keys, description = full_resync_now()
    assert keys == {"model_catalog"}
    assert "Left out in replay mode, having no recording: openrouter, models_dev" in description
    monkeypatch.delenv("MODEL_SYNC_REPLAY_DIR")
    for spec in SOURCES:
        if spec.auth:
            monkeypatch.setenv(spec.auth.env_var, "k")
    assert full_resync_now()[0] == everything


def test_one_asset_per_source_plus_the_catalog_and_the_tables_derived_from_it(repo):
    graph = repo.asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {s.name for s in SOURCES} | {"model_catalog", *DERIVED}
    for name in DERIVED:  # shown in the lineage below the catalog, in its group
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "catalog" and node.description
        parents = {"model_catalog", "prices"} if name == "source_disagreements" else {
            "model_catalog"}  # the disagreements compare the merged price components too
        assert {k.to_user_string() for k in node.parent_keys} == parents
        assert node.metadata["dagster/column_schema"].columns
    for spec in SOURCES:
        node = graph.get(dg.AssetKey(spec.name))
        assert node.group_name == "sources"
        assert node.metadata["api"].value == spec.url and node.owners == ["team:model-catalog"]
        assert spec.cron in node.description
        assert {"httpx", "sqlalchemy"} <= set(node.kinds)
        assert node.freshness_policy is not None
    catalog = graph.get(dg.AssetKey("model_catalog"))
    assert {k.to_user_string() for k in catalog.parent_keys} == {s.name for s in SOURCES}


def test_checks_sit_next_to_what_they_check(repo):
    checks = {k.name: k for k in repo.asset_graph.asset_check_keys}
    for spec in SOURCES:
        for rule in ("min_rows", "drop_guard", "price_coverage", "price_jumps"):
            assert checks[f"{spec.name}_{rule}"].asset_key == dg.AssetKey(spec.name)
    for rule in ("min_rows", "prices_non_negative", "prices_plausible",
                 "output_price_present", "context_window_range"):
        assert checks[f"model_catalog_{rule}"].asset_key == dg.AssetKey("model_catalog")


def test_every_source_has_a_stopped_schedule_with_its_cron_and_timezone(repo):
    for spec in SOURCES:
        schedule = repo.get_schedule_def(f"{spec.name}_schedule")
        assert schedule.cron_schedule == spec.cron
        assert schedule.execution_timezone == spec.timezone
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        # a schedule syncs its source only: the catalog follows by declarative automation
        job = repo.get_job(schedule.job_name)
        assert job.asset_layer.executable_asset_keys == {dg.AssetKey(spec.name)}
    assert repo.get_schedule_def("openrouter_schedule").cron_schedule == "0 */6 * * *"


def test_schedule_of_a_source_without_its_key_skips_with_the_reason(repo, monkeypatch):
    schedule = repo.get_schedule_def("groq_schedule")
    with dg.build_schedule_context(resources={"http": HttpClientResource()}) as context:
        result = schedule.evaluate_tick(context)
    assert not result.run_requests
    assert "GROQ_API_KEY" in result.skip_message
    monkeypatch.setenv("GROQ_API_KEY", "k")
    with dg.build_schedule_context(resources={"http": HttpClientResource()}) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["model_sync/source"] == "groq"  # the per-source run limit's tag
