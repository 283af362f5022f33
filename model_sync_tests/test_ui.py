"""The UI as users use it: `dagster dev` serves the project in replay mode; runs are launched
through the webserver's GraphQL API and from the asset pages in a real browser (Chromium).

Screenshots of the browser test are saved to test-artifacts/ui/ in the repository.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from model_sync.defs.checks import BLOCKING, CATALOG_RULES, SOURCE_RULES
from model_sync.sources import SOURCES
from model_sync_tests.conftest import REPO, SHARED, needs_shared, unavailable
from model_sync_tests.http_servers import Api
from model_sync_tests.servers import Webserver, wait_until

pytestmark = [pytest.mark.integration, needs_shared]

LOCATION = {"repositoryLocationName": "model_sync", "repositoryName": "__repository__"}
# Every source with recorded responses to replay (all of them, where the recordings are complete).
SOURCE_NAMES = [spec.name for spec in SOURCES if (SHARED / spec.name).is_dir()]
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_TIMEOUT = 600  # seconds; a run of every source takes about a minute here
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN_STATUS = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""
CHECK_EXECUTIONS = """
query Checks($asset: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $asset, checkName: $check, limit: 1) {
    runId status evaluation { success severity description }
  }
}"""
LATEST_MATERIALIZATION = """
query Latest($asset: AssetKeyInput!) {
  assetOrError(assetKey: $asset) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}"""
SCHEDULE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    ... on Schedule { cronSchedule scheduleState { id status } }
  }
}"""
START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename ... on ScheduleStateResult { scheduleState { status } }
  }
}"""
STOP_SCHEDULE = """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename ... on ScheduleStateResult { scheduleState { status } }
  }
}"""
DAEMONS = """
query { instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"""


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    """`dagster dev` on 127.0.0.1 and a free port, replaying the recorded payloads into a
    temporary SQLite catalog, with a fresh instance (a copy of the repository's dagster.yaml)."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    for entry in workspace["load_from"]:
        entry["python_module"]["working_directory"] = str(REPO)
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODEL_SYNC_", "DAGSTER_")) and not k.endswith("_API_KEY")}
    env |= {"DAGSTER_HOME": str(home), "MODEL_SYNC_REPLAY_DIR": str(SHARED),
            "MODEL_SYNC_DATABASE_URL": f"sqlite:///{home / 'catalog.db'}"}
    server = Webserver.dev(home / "workspace.yaml", home, env, Path(sys.executable).parent)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def launch(server: Webserver, assets: list[str], checks: list[tuple[str, str]],
           run_config: dict | None = None) -> str:
    """Launch a run materializing `assets` and executing `checks` ((asset, check) pairs)."""
    selector = {
        **LOCATION,
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": [name]} for name in assets],
        "assetCheckSelection": [{"assetKey": {"path": [asset]}, "name": check}
                                for asset, check in checks],
    }
    params = {"selector": selector, "runConfigData": run_config or {},
              "executionMetadata": {"tags": [{"key": "model_sync/trigger", "value": "e2e"}]}}
    result = server.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def run_status(server: Webserver, run_id: str) -> str:
    return server.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]


def wait_for_run(server: Webserver, run_id: str) -> str:
    status = wait_until(lambda: (s := run_status(server, run_id)) in FINISHED and s,
                        RUN_TIMEOUT, f"run {run_id} to finish", interval=1)
    assert status == "SUCCESS", f"run {run_id}: {status}\n{server.log_tail()}"
    return status


def source_checks(names=SOURCE_NAMES) -> list[tuple[str, str]]:
    return [(name, f"{name}_{rule}") for name in names for rule in SOURCE_RULES]


def latest_check(server: Webserver, asset: str, check: str) -> dict:
    [execution] = server.graphql(CHECK_EXECUTIONS, {"asset": {"path": [asset]},
                                                    "check": check})["assetCheckExecutions"]
    return execution


def latest_rows(server: Webserver, asset: str) -> tuple[str, int] | None:
    node = server.graphql(LATEST_MATERIALIZATION, {"asset": {"path": [asset]}})["assetOrError"]
    if not node["assetMaterializations"]:
        return None
    latest = node["assetMaterializations"][0]
    rows = {e["label"]: e.get("intValue") for e in latest["metadataEntries"]}["rows"]
    return latest["runId"], rows


ACTIVE_RUNS = """
query { runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
  ... on Runs { results { runId } } } }"""


def active_runs(server: Webserver) -> list[str]:
    return [r["runId"] for r in server.graphql(ACTIVE_RUNS)["runsOrError"]["results"]]


def sync_every_source(server: Webserver) -> str:
    run_id = launch(server, SOURCE_NAMES, source_checks())
    wait_for_run(server, run_id)
    return run_id


def test_graphql_toggles_a_schedule_and_the_daemon_is_healthy(dagster_dev):
    daemons = dagster_dev.graphql(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    assert {d["daemonType"]: d["healthy"] for d in daemons}["SCHEDULER"] is True

    selector = {**LOCATION, "scheduleName": "openrouter_schedule"}

    def state():
        schedule = dagster_dev.graphql(SCHEDULE, {"selector": selector})["scheduleOrError"]
        assert schedule["cronSchedule"] == "0 */6 * * *"
        return schedule["scheduleState"]

    assert state()["status"] == "STOPPED"  # schedules ship stopped
    started = dagster_dev.graphql(START_SCHEDULE, {"selector": selector})["startSchedule"]
    assert started["scheduleState"]["status"] == "RUNNING"
    assert state()["status"] == "RUNNING"
    stopped = dagster_dev.graphql(STOP_SCHEDULE, {"id": state()["id"]})["stopRunningSchedule"]
    assert stopped["scheduleState"]["status"] == "STOPPED"
    assert state()["status"] == "STOPPED"


def all_checks() -> list[tuple[str, str]]:
    return [*((spec.name, f"{spec.name}_{rule}") for spec in SOURCES for rule in SOURCE_RULES),
            *(("model_catalog", f"model_catalog_{rule}") for rule in CATALOG_RULES)]


def test_materialize_all_syncs_what_is_recorded_skips_the_rest_and_builds_the_catalog(
        dagster_dev):
    """What "Materialize all" launches: every asset and check. In replay mode the sources with
    a recording go green, the others are skipped (not failed), and the catalog is built within
    two minutes: the run's own catalog step is skipped with the skipped sources, so the
    catalog's automation condition starts a build right after the run."""
    before = latest_rows(dagster_dev, "model_catalog")
    started = time.monotonic()
    run_id = launch(dagster_dev, [spec.name for spec in SOURCES] + ["model_catalog"],
                    all_checks())
    wait_for_run(dagster_dev, run_id)  # SUCCESS: a skipped source is not a failure
    ran_for = time.monotonic() - started
    for asset, check in source_checks():  # every recorded source synced, its checks passed
        execution = latest_check(dagster_dev, asset, check)
        assert execution["runId"] == run_id and execution["status"] == "SUCCEEDED", execution
        assert execution["evaluation"]["success"], execution["evaluation"]["description"]
        rule = check.removeprefix(f"{asset}_")
        assert execution["evaluation"]["severity"] == ("ERROR" if rule in BLOCKING else "WARN")
    for name in SOURCE_NAMES:
        materialized_by, rows = latest_rows(dagster_dev, name)
        assert materialized_by == run_id and rows > 0, name
    assert latest_rows(dagster_dev, "openrouter")[1] == 414
    for spec in SOURCES:
        if spec.name in SOURCE_NAMES:
            continue
        assert latest_rows(dagster_dev, spec.name) is None, spec.name
        for rule in SOURCE_RULES:  # they say they were skipped, and why
            execution = latest_check(dagster_dev, spec.name, f"{spec.name}_{rule}")
            assert execution["runId"] == run_id and execution["status"] == "SUCCEEDED"
            assert execution["evaluation"]["description"].startswith(
                f"Skipped: no recording of {spec.name}"), execution
    catalog = wait_until(
        lambda: (latest := latest_rows(dagster_dev, "model_catalog")) != before and latest,
        max(1.0, 120 - (time.monotonic() - started)), "the catalog's build after the run")
    built_in = time.monotonic() - started
    assert catalog[0] != run_id and catalog[1] > 5000
    assert built_in < 120, f"the catalog was built {built_in:.0f}s after the launch"
    print(f"materialize all: run {ran_for:.0f}s, catalog built {built_in:.0f}s after the launch")


# -- live mode: every source from a local server, one of them failing ------------------------------


def _live_routes() -> dict:
    """A local stand-in for the sources' APIs: the recordings of ../shared, this folder's
    fixtures for the two sources that sync without a key, and a DeepInfra that answers 503."""
    day = "2026-08-20"
    fixtures = REPO / "model_sync_tests" / "fixtures"
    analysis = json.loads((SHARED / "artificial_analysis" / "2026-06-27.page-1.json").read_text())
    analysis["pagination"]["has_more"] = False  # the one recorded page is the last

    def featherless(query):
        page = fixtures / "featherless" / f"{day}.page-{query.get('page', ['1'])[0]}.json"
        return page.read_bytes() if page.is_file() else b'{"data": []}'

    return {
        "/openrouter": (SHARED / "openrouter" / "2026-08-19.json").read_bytes(),
        "/models_dev": (SHARED / "models_dev" / "2026-06-01.json").read_bytes(),
        "/litellm": (SHARED / "litellm" / "2026-04-02.json").read_bytes(),
        "/genai_prices": (SHARED / "genai_prices" / "2026-07-25.json").read_bytes(),
        "/groq": (SHARED / "groq" / "2026-02-22.json").read_bytes(),
        "/artificial_analysis": json.dumps(analysis).encode(),
        "/huggingface": (fixtures / "huggingface" / f"{day}.page-1.json").read_bytes(),
        "/featherless": featherless,
        "/deepinfra": (503, {}, b'{"error": "upstream overloaded"}'),
    }


@pytest.fixture(scope="module")
def live_dagster_dev(tmp_path_factory):
    """`dagster dev` reading every keyless (or keyed, with a fake key) source from a local
    server through the sources' URL settings; the other sources have no key: disabled."""
    home = tmp_path_factory.mktemp("dagster_home_live")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    for entry in workspace["load_from"]:
        entry["python_module"]["working_directory"] = str(REPO)
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    api = Api(_live_routes())
    with api.running():
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MODEL_SYNC_", "DAGSTER_")) and not k.endswith("_API_KEY")
               and k not in ("HF_TOKEN",)}
        env |= {"DAGSTER_HOME": str(home), "GROQ_API_KEY": "gsk-test",
                "ARTIFICIAL_ANALYSIS_API_KEY": "aa-test",
                "MODEL_SYNC_DATABASE_URL": f"sqlite:///{home / 'catalog.db'}"}
        env |= {spec.url_env: f"{api.base}/{spec.name}" for spec in SOURCES}
        server = Webserver.dev(home / "workspace.yaml", home, env, Path(sys.executable).parent)
        try:
            server.wait_ready()
            yield server, api
        finally:
            server.stop()


def test_materialize_all_with_a_source_failing_transiently_still_builds_the_catalog(
        live_dagster_dev):
    server, api = live_dagster_dev
    started = time.monotonic()
    # Only the small fixtures' sources need lower minimums; everything else runs as launched.
    config = {"ops": {name: {"config": {"min_rows": 1, "max_extra_requests": 0}}
                      for name in ("huggingface", "featherless")}}
    run_id = launch(server, [spec.name for spec in SOURCES] + ["model_catalog"], all_checks(),
                    run_config=config)
    status = wait_until(lambda: (s := run_status(server, run_id)) in FINISHED and s,
                        RUN_TIMEOUT, f"run {run_id} to finish", interval=1)
    assert status == "FAILURE"  # DeepInfra, after its retries
    deepinfra = [path for path in api.paths if path.startswith("/deepinfra")]
    assert len(deepinfra) == 2 * 5  # two run attempts of 1 + 4 HTTP retries each
    synced = ["openrouter", "models_dev", "litellm", "genai_prices", "groq",
              "artificial_analysis", "huggingface", "featherless"]
    for name in synced:
        assert latest_rows(server, name)[0] == run_id, name
    assert latest_rows(server, "deepinfra") is None
    jumps = latest_check(server, "deepinfra", "deepinfra_price_jumps")
    assert jumps["runId"] == run_id
    assert jumps["evaluation"]["description"].startswith("Not evaluated: the sync failed")
    disabled = [s.name for s in SOURCES if s.name not in synced and s.name != "deepinfra"]
    for name in disabled:  # skipped, never shown as failed, though the run failed
        assert latest_rows(server, name) is None, name
        for rule in SOURCE_RULES:
            execution = latest_check(server, name, f"{name}_{rule}")
            assert execution["runId"] == run_id and execution["status"] == "SUCCEEDED"
            assert " is disabled: set " in execution["evaluation"]["description"], execution
    catalog = wait_until(lambda: latest_rows(server, "model_catalog"),
                         max(1.0, 120 - (time.monotonic() - started)),
                         "the catalog's build after the run")
    built_in = time.monotonic() - started
    assert catalog[0] != run_id and catalog[1] > 2000
    assert built_in < 120, f"the catalog was built {built_in:.0f}s after the launch"
    print(f"materialize all, one source failing: catalog built {built_in:.0f}s after the launch")


# -- the browser ----------------------------------------------------------------------------------


@pytest.fixture
def page():
    """A headless Chromium page (Debian's /usr/bin/chromium, driven by Playwright)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed: install Debian's chromium package, as .ci/run "
                    "does (Playwright's own browser downloads are not used)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        # A first visit greets users with a community sign-up dialog: skip it, as they do.
        page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                                 lambda _: page.get_by_role("button", name="Skip").click())
        try:
            yield page
        finally:
            try:  # the last page seen, passed or failed: where to look first after a failure
                page.screenshot(path=ARTIFACTS / "last-page.png", full_page=True)
            finally:
                browser.close()


def materialize_from_asset_page(page, server: Webserver, asset: str, screenshot: str) -> str:
    """Open the asset's page, click Materialize, follow the launched run until it succeeds."""
    page.goto(f"{server.base_url}/assets/{asset}")
    page.locator("button").filter(has_text="Materialize").first.click()  # waits until enabled
    toast = page.get_by_text("Launched run")
    confirm = page.get_by_role("button", name="Confirm")  # asked when an upstream never ran
    toast.or_(confirm).first.wait_for()
    if confirm.is_visible():
        confirm.click()
    toast.wait_for()
    page.get_by_role("link", name="View", exact=True).click()  # the toast's link to the run
    page.wait_for_url("**/runs/*")
    run_id = page.url.split("/runs/")[1].split("?")[0]
    status = page.get_by_text("Success", exact=True).or_(page.get_by_text("Failure", exact=True))
    status.first.wait_for(timeout=RUN_TIMEOUT * 1000)
    page.screenshot(path=ARTIFACTS / screenshot)
    assert status.first.inner_text() == "Success"
    assert run_status(server, run_id) == "SUCCESS"
    return run_id


def test_browser_materializes_a_source_from_its_page_and_sees_the_catalog_checks_pass(
        dagster_dev, page):
    if latest_rows(dagster_dev, "models_dev") is None:  # run alone: the catalog needs sources
        sync_every_source(dagster_dev)

    # The graph draws only the nodes in view: make the view tall enough for the whole group.
    page.set_viewport_size({"width": 1400, "height": 400 + 260 * len(SOURCES)})
    page.goto(f"{dagster_dev.base_url}/locations/model_sync/asset-groups/sources")
    for name in [*SOURCE_NAMES, "model_catalog"]:
        page.get_by_text(name, exact=True).first.wait_for()
    passed = f"{len(SOURCE_RULES)} / {len(SOURCE_RULES)} Passed"
    page.get_by_text(passed).nth(len(SOURCE_NAMES) - 1).wait_for()  # on every source's node
    page.screenshot(path=ARTIFACTS / "1-asset-graph.png")
    page.set_viewport_size({"width": 1400, "height": 900})

    catalog_before = latest_rows(dagster_dev, "model_catalog")
    run_id = materialize_from_asset_page(page, dagster_dev, "openrouter", "2-source-run.png")
    assert latest_rows(dagster_dev, "openrouter") == (run_id, 414)

    # The catalog's automation rebuilds it after the openrouter run; the checks a user then
    # reads are those of the build they launch next.
    wait_until(lambda: latest_rows(dagster_dev, "model_catalog") != catalog_before
               and not active_runs(dagster_dev), RUN_TIMEOUT, "the catalog's automatic build",
               interval=1)
    catalog_run = materialize_from_asset_page(page, dagster_dev, "model_catalog",
                                              "3-catalog-run.png")
    page.goto(f"{dagster_dev.base_url}/assets/model_catalog?view=checks")
    for rule in CATALOG_RULES:  # long names are truncated on screen: match the full text
        page.get_by_text(f"model_catalog_{rule}", exact=True).first.wait_for(state="attached")
    succeeded = page.get_by_text("Succeeded", exact=True)
    succeeded.nth(len(CATALOG_RULES) - 1).wait_for()
    assert succeeded.count() == len(CATALOG_RULES)
    page.get_by_text("model_catalog_min_rows", exact=True).filter(visible=True).click()
    page.get_by_text("This is a blocking asset check.").wait_for()
    page.get_by_text("Passed", exact=True).first.wait_for()
    page.screenshot(path=ARTIFACTS / "4-catalog-checks.png")
    for rule in CATALOG_RULES:
        execution = latest_check(dagster_dev, "model_catalog", f"model_catalog_{rule}")
        assert execution["runId"] == catalog_run and execution["evaluation"]["success"]
