"""The catalog's automation condition: one build per burst of source updates, never during one."""

import threading

import dagster as dg
import pytest

from model_sync.defs.catalog_assets import CATALOG_CONDITION
from model_sync.defs.derived_assets import DERIVED
from model_sync.sources import SOURCES as SPECS
from model_sync_tests.conftest import NO_COMPUTE_LOGS

GATE = threading.Event()
FAIL = set()


SKIP = set()


def source(name):
    # Like the project's sources: a skipped one (no key, no recording) yields no output.
    @dg.multi_asset(name=name, specs=[dg.AssetSpec(name)], can_subset=True)
    def _asset():
        if name in FAIL:
            raise dg.Failure(f"{name} failed", allow_retries=False)
        if name in SKIP:
            return
        if name == "slow":
            assert GATE.wait(30)
        yield dg.MaterializeResult(asset_key=name)

    return _asset


SOURCES = [source(n) for n in ("alpha", "beta", "gamma", "slow")]


@dg.asset(deps=["alpha", "beta", "gamma", "slow"], automation_condition=CATALOG_CONDITION)
def catalog():
    pass


ASSETS = [*SOURCES, catalog]
SOURCE_NAMES = {spec.name for spec in SPECS}


@pytest.fixture
def instance():
    FAIL.clear()
    SKIP.clear()
    GATE.clear()
    with dg.instance_for_test(overrides=NO_COMPUTE_LOGS) as instance:
        yield instance


class Evaluator:
    def __init__(self, instance):
        self.instance, self.cursor = instance, None

    def requested(self) -> int:
        result = dg.evaluate_automation_conditions(defs=ASSETS, instance=self.instance,
                                                   cursor=self.cursor)
        self.cursor = result.cursor
        return result.get_num_requested(dg.AssetKey("catalog"))


def run(instance, *names):
    return dg.materialize(ASSETS, selection=list(names), instance=instance, raise_on_error=False)


def test_a_burst_of_source_updates_gives_one_catalog_build(instance):
    evaluate = Evaluator(instance)
    assert evaluate.requested() == 0  # nothing happened yet
    run(instance, "alpha")
    run(instance, "beta")
    run(instance, "gamma")
    assert evaluate.requested() == 1
    assert evaluate.requested() == 0  # handled: no second build for the same burst
    run(instance, "alpha")
    assert evaluate.requested() == 1


def test_no_build_while_a_source_sync_is_running(instance):
    evaluate = Evaluator(instance)
    evaluate.requested()
    slow = threading.Thread(target=run, args=(instance, "slow"))
    slow.start()
    try:
        for _ in range(100):
            if instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                break
            threading.Event().wait(0.1)
        # Another source's update lands meanwhile. Recorded without a second in-process run:
        # two runs starting at once in one process can deadlock in logging setup.
        instance.report_runless_asset_event(dg.AssetMaterialization("alpha"))
        assert evaluate.requested() == 0  # slow is still in progress
    finally:
        GATE.set()
        slow.join(30)
    assert evaluate.requested() == 1  # one build covers both updates
    assert evaluate.requested() == 0


def test_a_run_that_built_the_catalog_is_not_followed_by_another(instance):
    evaluate = Evaluator(instance)
    evaluate.requested()
    GATE.set()
    assert run(instance, "alpha", "beta", "gamma", "slow", "catalog").success
    assert evaluate.requested() == 0


def test_a_run_whose_catalog_step_was_skipped_is_followed_by_a_build(instance):
    evaluate = Evaluator(instance)
    evaluate.requested()
    FAIL.add("gamma")
    result = run(instance, "alpha", "gamma", "catalog")
    assert not result.success and not result.asset_materializations_for_node("catalog")
    assert evaluate.requested() == 1


def test_a_run_whose_catalog_step_was_skipped_after_a_skipped_source_is_followed_by_a_build(
        instance):
    """"Materialize all" in replay mode: sources without a recording are skipped, so the
    catalog step of that run is skipped too; the sources that synced still get a build."""
    evaluate = Evaluator(instance)
    evaluate.requested()
    SKIP.add("beta")
    GATE.set()
    result = run(instance, "alpha", "beta", "gamma", "slow", "catalog")
    assert result.success and not result.asset_materializations_for_node("catalog")
    assert evaluate.requested() == 1
    assert evaluate.requested() == 0


def test_a_source_that_never_synced_does_not_hold_the_catalog_back(instance):
    evaluate = Evaluator(instance)
    evaluate.requested()
    run(instance, "alpha")  # beta, gamma and slow were never materialized
    assert evaluate.requested() == 1


def test_a_failed_or_blocked_sync_does_not_trigger_a_build(instance):
    evaluate = Evaluator(instance)
    evaluate.requested()
    FAIL.add("alpha")
    run(instance, "alpha")
    assert evaluate.requested() == 0


def test_the_catalog_carries_the_condition_and_a_running_sensor_evaluates_it():
    from model_sync.definitions import defs

    repo = defs.get_repository_def()
    node = repo.asset_graph.get(dg.AssetKey("model_catalog"))
    assert node.automation_condition.get_label() == "rebuild_after_source_updates"
    sensor = repo.get_sensor_def("catalog_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    for spec_key in repo.asset_graph.get_all_asset_keys():  # sources run by schedule or sensor
        if spec_key.to_user_string() in SOURCE_NAMES:
            assert repo.asset_graph.get(spec_key).automation_condition is None
    for name in DERIVED:  # the derived tables follow the catalog
        assert repo.asset_graph.get(dg.AssetKey(name)).automation_condition.get_label() == "eager"
