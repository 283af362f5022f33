"""The production layout of deploy/: its files say what the README says, and the systemd units'
commands (code server, webserver, daemon on the PostgreSQL instance) run a sync for real."""

import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from model_sync.cadence import SCHEDULES_FILE_ENV, TIMEZONE_ENV
from model_sync.catalog.identity import ALIASES_ENV
from model_sync.catalog.store import CatalogStore
from model_sync.metrics import PUSHGATEWAY_ENV
from model_sync.ops.sentry import DSN_ENV
from model_sync.ops.webhook import WEBHOOK_ENV
from model_sync.sources import SOURCES, fireworks
from model_sync_tests.conftest import REPO, SHARED, needs_shared
from model_sync_tests.servers import PG_USER, Service, Webserver, free_port, wait_until
from model_sync_tests.test_ui import latest_check, launch, source_checks, wait_for_run

DEPLOY = REPO / "deploy"
UNITS = DEPLOY / "systemd"
INSTALL_ROOT = "/opt/model-sync"


def unit(name: str) -> tuple[str, dict[str, str]]:
    """A unit's ExecStart and its Environment= defaults."""
    exec_start, defaults = "", {}
    for line in (UNITS / name).read_text().splitlines():
        if line.startswith("Environment="):
            key, value = line.removeprefix("Environment=").split("=", 1)
            defaults[key] = value
        elif line.startswith("ExecStart="):
            exec_start = line.removeprefix("ExecStart=")
    return exec_start, defaults


def unit_command(name: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command systemd would run, with this venv and checkout in place of /opt/model-sync."""
    exec_start, defaults = unit(name)
    merged = {**defaults, **env}  # the environment file overrides the unit's defaults
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: merged[m.group(1)], exec_start)
    bin_dir = str(Path(sys.executable).parent)
    command = [arg.replace(f"{INSTALL_ROOT}/.venv/bin", bin_dir).replace(INSTALL_ROOT, str(REPO))
               for arg in shlex.split(expanded)]
    return command, merged


def test_the_webserver_binds_to_localhost_unless_told_otherwise():
    exec_start, defaults = unit("model-sync-webserver.service")
    assert "-h ${MODEL_SYNC_WEBSERVER_HOST}" in exec_start
    assert defaults["MODEL_SYNC_WEBSERVER_HOST"] == "127.0.0.1"
    code_server, _ = unit("model-sync-code-server.service")
    assert " -h 127.0.0.1 " in code_server
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert compose["services"]["webserver"]["ports"] == ["127.0.0.1:3000:3000"]
    assert compose["services"]["metrics"]["ports"] == ["127.0.0.1:9464:9464"]
    assert not any(s.get("ports") for n, s in compose["services"].items()
                   if n not in ("webserver", "metrics"))
    exporter, defaults = unit("model-sync-metrics.service")
    assert "--serve ${MODEL_SYNC_METRICS_ADDRESS}" in exporter
    assert defaults["MODEL_SYNC_METRICS_ADDRESS"] == "127.0.0.1:9464"


def test_the_compose_file_runs_each_process_in_its_own_container_on_postgresql():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "code-server", "webserver", "daemon", "metrics"}
    assert services["metrics"]["command"][:3] == ["model-sync", "metrics", "--serve"]
    # The exporter reads the catalog the code server writes, and knows the same keys.
    assert services["metrics"]["environment"] == services["code-server"]["environment"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["code-server"]["command"][:3] == ["dagster", "code-server", "start"]
    env = services["code-server"]["environment"]
    assert env["MODEL_SYNC_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["DAGSTER_PG_PASSWORD"].startswith("${")  # from deploy/.env, never in the file
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "deploy/dagster.postgres.yaml" in dockerfile


def source_variables() -> set[str]:
    """Every variable a source reads: its key and its settings (an account, a region, its URL)."""
    return ({s.auth.env_var for s in SOURCES if s.auth}
            | {s.region_env for s in SOURCES if s.region_env} | {fireworks.ACCOUNT_ENV}
            | {s.url_env for s in SOURCES})


# Read by the code server besides the source variables: alerts, schedule overrides, aliases,
# error reports and the Pushgateway.
RUNTIME_VARIABLES = {WEBHOOK_ENV, SCHEDULES_FILE_ENV, TIMEZONE_ENV, ALIASES_ENV, DSN_ENV,
                     "SENTRY_ENVIRONMENT", PUSHGATEWAY_ENV}


def test_every_source_key_and_setting_reaches_the_code_server():
    """A new source's key cannot be forgotten in the compose file: the code server loads the
    definitions, evaluates schedules and sensors and starts every run."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    env = compose["services"]["code-server"]["environment"]
    for name in sorted(source_variables() | RUNTIME_VARIABLES):
        assert env.get(name) == f"${{{name}:-}}", f"{name} is not passed to the code server"


@pytest.mark.parametrize("path", [DEPLOY / "model-sync.env.example", REPO / ".env.example"])
def test_the_environment_files_list_every_key_and_setting(path):
    lines = [line.strip() for line in path.read_text().splitlines()]
    listed = {line.split("=", 1)[0] for line in lines if "=" in line and line[:1] != "#"}
    commented = {line.lstrip("# ").split("=", 1)[0] for line in lines
                 if "=" in line and line[:1] == "#"}
    keys = {s.auth.env_var for s in SOURCES if s.auth} | {WEBHOOK_ENV, DSN_ENV, PUSHGATEWAY_ENV}
    assert keys <= listed, f"{path.name} lacks {sorted(keys - listed)}"
    shown = source_variables() | RUNTIME_VARIABLES
    assert shown <= listed | commented, f"{path.name} lacks {sorted(shown - listed - commented)}"


@pytest.mark.integration
def test_the_metrics_unit_serves_the_catalog_metrics(replayed_db, tmp_path):
    """The exporter as its systemd unit starts it, stopped by SIGTERM as systemd stops it."""
    from model_sync_tests.test_metrics import samples, value

    port = free_port()
    command, env = unit_command("model-sync-metrics.service", {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
        "MODEL_SYNC_DATABASE_URL": replayed_db.url,
        "MODEL_SYNC_METRICS_ADDRESS": f"127.0.0.1:{port}"})
    exporter = Service.start(command, tmp_path, env, tmp_path / "metrics.log")
    try:
        def scrape():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                return None if exporter.running() else exporter.log_tail()

        text = wait_until(scrape, 120, "the exporter to answer")
        exporter.process.send_signal(signal.SIGTERM)
        assert exporter.process.wait(timeout=30) == 0, exporter.log_tail()
    finally:
        exporter.stop()
    assert value(samples(text), "model_sync_source_rows", source="openrouter") == 414


def test_sqlite_stays_the_default_instance_storage():
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert "storage" not in instance  # the embedded default: SQLite under $DAGSTER_HOME
    production = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())
    assert set(production["storage"]["postgres"]["postgres_db"]) >= {
        "username", "password", "hostname", "db_name", "port"}
    assert production["concurrency"] == instance["concurrency"]


@pytest.mark.integration
@needs_shared
def test_the_systemd_layout_runs_a_sync_on_postgresql(postgres_server, tmp_path):
    """Code server, webserver and daemon as separate processes, as the units start them."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.postgres.yaml", home / "dagster.yaml")
    catalog_url = postgres_server.create_database("model_sync")
    postgres_server.create_database("dagster")
    web_port, grpc_port = free_port(), free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_USERNAME": PG_USER, "DAGSTER_PG_PASSWORD": postgres_server.password,
        "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_DB": "dagster",
        "MODEL_SYNC_DATABASE_URL": catalog_url,
        "MODEL_SYNC_REPLAY_DIR": str(SHARED),
        "MODEL_SYNC_CODE_SERVER_HOST": "127.0.0.1",
        "MODEL_SYNC_CODE_SERVER_PORT": str(grpc_port),
        "MODEL_SYNC_WEBSERVER_PORT": str(web_port),
    }
    services: list[Service] = []
    try:
        command, code_env = unit_command("model-sync-code-server.service", env)
        services.append(Service.start(command, tmp_path, code_env, tmp_path / "code-server.log"))
        health = [command[0], "api", "grpc-health-check", "-p", str(grpc_port)]
        wait_until(lambda: subprocess.run(health, env=code_env, capture_output=True,
                                          timeout=60).returncode == 0,
                   180, "the code server's gRPC health check", interval=2)

        command, web_env = unit_command("model-sync-webserver.service", env)
        assert command[command.index("-h") + 1] == "127.0.0.1"
        webserver = Webserver.launch(command, web_port, tmp_path, web_env,
                                     tmp_path / "webserver.log")
        services.append(webserver)
        command, daemon_env = unit_command("model-sync-daemon.service", env)
        services.append(Service.start(command, tmp_path, daemon_env, tmp_path / "daemon.log"))
        webserver.wait_ready()

        run_id = launch(webserver, ["openrouter"], source_checks(["openrouter"]))  # queued
        wait_for_run(webserver, run_id)  # started by the daemon, run by the code server
        assert latest_check(webserver, "openrouter", "openrouter_min_rows")["runId"] == run_id
    finally:
        for service in reversed(services):
            service.stop()

    store = CatalogStore.from_url(catalog_url)
    try:
        assert store.source_count("openrouter") == 414
        [run] = store.sync_history("openrouter")
        assert run["run_id"] == run_id and run["status"] == "success"
    finally:
        store.dispose()
    engine = sa.create_engine(postgres_server.url("dagster"))
    with engine.connect() as conn:  # the run is recorded in the instance's PostgreSQL storage
        status = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :id"),
                              {"id": run_id}).scalar_one()
    engine.dispose()
    assert status == "SUCCESS"
