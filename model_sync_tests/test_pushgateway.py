"""Metrics pushed to a Pushgateway when MODEL_SYNC_PUSHGATEWAY_URL is set: by `model-sync sync`
when it ends, and by the push sensor once Dagster runs end. A local HTTP endpoint stands in for
the Pushgateway and keeps every push."""

import base64
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from model_sync.cli import main
from model_sync.defs.reporting import metrics_push_sensor
from model_sync_tests.conftest import FIXTURES
from model_sync_tests.http_servers import serve
from model_sync_tests.test_metrics import samples, value

PASSWORD = "push-s3cret-pw"


class Pushgateway:
    """Keeps each push: (method, path, Authorization header, body); answers `status`."""

    def __init__(self):
        self.pushes: list[tuple[str, str, str | None, str]] = []
        self.status = 200
        self.port = 0

    @contextmanager
    def running(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                gateway.pushes.append((self.command, self.path, self.headers.get(
                    "authorization"), body.decode()))
                self.send_response(gateway.status)
                self.end_headers()

            do_POST = do_PUT

            def log_message(self, *args):
                pass

        with serve(Handler) as server:
            self.port = server.server_port
            yield self


@pytest.fixture
def gateway():
    with Pushgateway().running() as found:
        yield found


def test_a_sync_pushes_its_metrics_when_it_ends(gateway, monkeypatch, capsys, db_url):
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(FIXTURES))
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", db_url)
    monkeypatch.setenv("MODEL_SYNC_PUSHGATEWAY_URL",
                       f"http://ops:{PASSWORD}@127.0.0.1:{gateway.port}/")
    assert main(["sync", "--select", "together", "--min-rows", "1"]) == 0
    out, err = capsys.readouterr()
    assert f"metrics pushed to the Pushgateway (http://127.0.0.1:{gateway.port}/)" in out
    assert PASSWORD not in out + err
    [(method, path, auth, body)] = gateway.pushes
    assert (method, path) == ("PUT", "/metrics/job/model_sync")  # replaces the last push whole
    assert auth == "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    found = samples(body)
    assert value(found, "model_sync_source_syncs_total", source="together",
                 status="success") == 1
    assert value(found, "model_sync_source_rows", source="together") == 9
    assert value(found, "model_sync_source_syncs_total", source="model_catalog",
                 status="success") == 1


def test_a_refused_push_is_one_line_and_the_sync_keeps_its_exit_code(gateway, monkeypatch,
                                                                    capsys, db_url):
    gateway.status = 503
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(FIXTURES))
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", db_url)
    monkeypatch.setenv("MODEL_SYNC_PUSHGATEWAY_URL",
                       f"http://ops:{PASSWORD}@127.0.0.1:{gateway.port}")
    assert main(["sync", "--select", "cerebras", "--min-rows", "1"]) == 0
    out, err = capsys.readouterr()
    [line] = [line for line in err.splitlines() if "Pushgateway" in line]
    assert line.startswith("metrics not pushed to the Pushgateway: HTTPError")
    assert PASSWORD not in out + err and "Traceback" not in err


def test_the_push_sensor_pushes_once_runs_end(gateway, monkeypatch, db_url):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", db_url)
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance)
    skipped = metrics_push_sensor(context)
    assert "MODEL_SYNC_PUSHGATEWAY_URL is not set" in skipped.skip_message
    monkeypatch.setenv("MODEL_SYNC_PUSHGATEWAY_URL", f"http://127.0.0.1:{gateway.port}")

    create_run_for_test(instance, job_name="__ASSET_JOB", status=dg.DagsterRunStatus.SUCCESS)
    result = metrics_push_sensor(context)  # the first tick pushes the state as it is
    assert "metrics pushed to the Pushgateway" in result.skip_message
    assert len(gateway.pushes) == 1 and context.cursor
    assert value(samples(gateway.pushes[0][3]), "model_sync_catalog_up") == 1

    result = metrics_push_sensor(dg.build_sensor_context(instance=instance,
                                                         cursor=context.cursor))
    assert result.skip_message == "no run ended since the last push"
    assert len(gateway.pushes) == 1

    create_run_for_test(instance, job_name="__ASSET_JOB", status=dg.DagsterRunStatus.FAILURE)
    context = dg.build_sensor_context(instance=instance, cursor=context.cursor)
    gateway.status = 500
    result = metrics_push_sensor(context)
    assert "not pushed" in result.skip_message and "retried next tick" in result.skip_message
    gateway.status = 200
    result = metrics_push_sensor(context)  # the cursor stayed: the ended run is pushed now
    assert "1 runs ended since the last push" in result.skip_message
    assert len(gateway.pushes) == 3
