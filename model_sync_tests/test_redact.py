"""Secrets never leave the process: `redact` on its own, then a real sync whose API echoes the key
into its error, through the client, the asset, Dagster's event log, sync_runs and the CLI."""

import dataclasses
import json
import logging
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import dagster as dg
import httpx
import pytest

from model_sync import cli
from model_sync.cadence import resolve_cadences
from model_sync.defs import source_assets
from model_sync.defs.alerts import AlertWebhook
from model_sync.defs.resources import HttpClientResource
from model_sync.ops import webhook
from model_sync.redact import redact, secret_values
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.http_servers import Receiver, serve

KEY = "test-groq-key-7f3a9c2e51d8"  # no credential shape: only the process-held value masks it
GROQ = SOURCES_BY_NAME["groq"]


# -- redact ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("GROQ_API_KEY", "groq-value-123456"),  # a source's key
    ("HF_TOKEN", "hub-value-123456"),  # an optional one
    ("DAGSTER_PG_PASSWORD", "pg-value-123456"),
    ("SENTRY_DSN", "https://0a1b2c3d4e5f@o1.ingest.sentry.io/42"),
    ("ACME_API_KEY", "acme-value-123456"),  # any variable named like a secret
    ("ACME_TOKEN", "acme-token-123456"),
    ("ACME_SECRET", "acme-secret-123456"),
    ("ACME_PASSWORD", "acme-pass-123456"),
    ("ACME_DSN", "acme-dsn-123456"),
    ("ACME_WEBHOOK_URL", "https://chat.example.com/hook/acme-hook-123456"),
])
def test_each_secret_held_in_the_environment_is_masked(monkeypatch, name, value):
    text = f"the API said: invalid credential {value} (see docs)"
    assert redact(text) == text  # not held yet
    monkeypatch.setenv(name, value)
    assert value in secret_values()
    assert redact(text) == "the API said: invalid credential *** (see docs)"
    monkeypatch.delenv(name)
    assert redact(text) == text  # read at call time


def test_the_webhook_url_is_masked_whole_and_by_its_path(monkeypatch):
    url = "https://hooks.slack.com/services/T000/B000/XyZ123abc"
    monkeypatch.setenv(webhook.WEBHOOK_ENV, url)
    assert redact(f"POST {url} failed") == "POST *** failed"
    assert redact("proxy denied /services/T000/B000/XyZ123abc") == "proxy denied ***"
    assert "XyZ123abc" not in redact(f"curl '{url.replace('/', '%2F')}'")  # as a query value


def test_a_sentry_dsn_key_is_masked_on_its_own(monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", "https://0a1b2c3d4e5f6789@o1.ingest.sentry.io/42")
    assert redact("rejected key 0a1b2c3d4e5f6789") == "rejected key ***"


@pytest.mark.parametrize("name", ["MODEL_SYNC_DATABASE_URL", "DAGSTER_PG_URL"])
def test_only_the_password_of_a_database_url_is_masked(monkeypatch, name):
    monkeypatch.setenv(name, "postgresql+psycopg://model_sync:pa%40ss-w0rd@db:5432/model_sync")
    assert redact("auth failed for model_sync with pa@ss-w0rd") == (
        "auth failed for model_sync with ***")
    assert redact("auth failed with pa%40ss-w0rd") == "auth failed with ***"
    assert redact("could not connect to db:5432/model_sync") == (
        "could not connect to db:5432/model_sync")


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abc.def-123_xyz", "Authorization: Bearer ***"),
    ('{"authorization": "bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}', '{"authorization": "bearer ***"}'),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("invalid key sk-proj-AbC123dEf456GhI789", "invalid key ***"),
    ("invalid key gsk_abcdefghij0123456789ABCDEFGHIJ", "invalid key ***"),
    ("hf_abcdefghijklmnopqrstuvwxyz01234567 is not valid", "*** is not valid"),
    ("GET /v1/models?api_key=abc123&page=2", "GET /v1/models?api_key=***&page=2"),
    ("GET /v1/models?key=AIzaSy123&alt=json", "GET /v1/models?key=***&alt=json"),
    ("GET /v1/models?token=t0k3n#top", "GET /v1/models?token=***#top"),
    ('{"x-api-key": "aa-key-123456"}', '{"x-api-key": "***"}'),
    ("postgresql://model_sync:hunter22@db/model_sync unreachable",
     "postgresql://model_sync:***@db/model_sync unreachable"),
])
def test_credential_shapes_are_masked_even_when_the_process_does_not_hold_them(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "openrouter: GET https://openrouter.ai/api/v1/models: HTTP 503 Service Unavailable",
    "Basic authentication is not supported. Bearer tokens expire.",
    "groq: page 1 has an entry of an unexpected shape (TypeError: 'int' object)",
    "source_key=lab/model-1 canonical_id=model-1 max_tokens=8192",
    "xai: 3 rows; sk-learn models skipped; https://huggingface.co/api/models?limit=500",
    "",
])
def test_text_without_secrets_is_unchanged(text):
    assert redact(text) == text


def test_values_shorter_than_six_characters_are_left_alone(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "abc12")
    monkeypatch.setenv("ACME_TOKEN", "model")
    assert "abc12" not in secret_values() and "model" not in secret_values()
    text = "model abc12 has 5 rows"
    assert redact(text) == text


# -- where texts are stored or sent ------------------------------------------------------------


def test_sync_runs_errors_are_redacted_on_every_path(catalog_db, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    store = catalog_db.store()
    store.record_failure("groq", run_id="r1", started_at=datetime.now(UTC), status="failed",
                         error=f"groq: upstream said {KEY} is invalid")
    error = store.sync_history("groq", limit=1)[0]["error"]
    assert error == "groq: upstream said *** is invalid"


def test_alert_texts_never_carry_the_webhook_url(monkeypatch):
    receiver = Receiver()
    with receiver.running():
        monkeypatch.setenv(webhook.WEBHOOK_ENV, receiver.url)
        incident = webhook.Incident("run_failed:groq", "run of groq failed",
                                   f"groq: POST {receiver.url} refused; key {KEY}")
        monkeypatch.setenv("GROQ_API_KEY", KEY)
        AlertWebhook().post(webhook.alert_text(incident))
    [body] = receiver.raw
    assert receiver.url.encode() not in body and b"s3cr3t-token" not in body
    assert KEY.encode() not in body
    assert receiver.posts[0]["text"].endswith("groq: POST *** refused; key ***")


def test_cli_errors_are_redacted(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    assert cli.main(["normalize", "groq", str(tmp_path / f"{KEY}.json")]) == 1
    err = capsys.readouterr().err
    assert KEY not in err and "***.json" in err


# -- a sync whose API echoes the key -----------------------------------------------------------


class EchoingApi:
    """A source API that refuses every request with HTTP 400, quoting the credentials it got."""

    def __init__(self):
        self.url = ""
        self.bodies: list[bytes] = []

    def running(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                auth = self.headers.get("Authorization", "")
                body = json.dumps({"error": {
                    "message": f"Invalid API key: {auth.removeprefix('Bearer ')}",
                    "request": {"authorization": auth}}}).encode()
                api.bodies.append(body)
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return serve(Handler)


def groq_asset(monkeypatch, url: str) -> dg.AssetsDefinition:
    """The groq asset read from `url`, without the retries' seconds of backoff. A key goes
    only to the origins its spec is configured with, so the spec is the one pointed at `url`."""
    monkeypatch.setattr(source_assets, "SOURCE_RETRIES", source_assets.RetrySchedule((), ()))
    spec = dataclasses.replace(GROQ, url=url)
    return source_assets.build_source_asset(spec, resolve_cadences([spec], env={})["groq"])


def event_log_text(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(dg.serialize_value(entry) for entry in instance.all_logs(run_id))


def test_a_key_echoed_by_the_api_appears_in_no_error_log_or_record(monkeypatch, catalog_db,
                                                                   capfd, caplog):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    api = EchoingApi()
    caplog.set_level(logging.DEBUG)
    with api.running() as server, dg.instance_for_test() as instance:
        url = f"http://127.0.0.1:{server.server_port}/openai/v1/models"
        result = dg.materialize([groq_asset(monkeypatch, url)], instance=instance,
                                resources={"http": HttpClientResource(max_retries=0),
                                           "catalog_db": catalog_db},
                                raise_on_error=False)
        events = event_log_text(instance, result.run_id)
    assert not result.success
    assert KEY.encode() in api.bodies[0]  # the key was sent and echoed: there was one to leak
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "HTTP 400 Bad Request" in description and "Invalid API key: ***" in description
    assert KEY not in dg.serialize_value(failure.event_specific_data)
    assert "Invalid API key: ***" in events and KEY not in events
    error = catalog_db.store().sync_history("groq", limit=1)[0]["error"]
    assert "Invalid API key: ***" in error and KEY not in error
    captured = capfd.readouterr()
    assert "HTTP 400" in captured.err + caplog.text  # the failure was logged, redacted
    assert KEY not in captured.out + captured.err + caplog.text


def test_an_unexpected_error_quoting_the_key_fails_with_a_redacted_description_and_traceback(
        monkeypatch, catalog_db):
    monkeypatch.setenv("GROQ_API_KEY", KEY)

    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"proxy refused {request.headers['authorization']}")

    class BrokenHttp(HttpClientResource):
        def transport(self):
            return httpx.MockTransport(explode)

    with dg.instance_for_test() as instance:
        result = dg.materialize([groq_asset(monkeypatch, GROQ.url)], instance=instance,
                                resources={"http": BrokenHttp(max_retries=0),
                                           "catalog_db": catalog_db},
                                raise_on_error=False)
        events = event_log_text(instance, result.run_id)
    [failure] = result.get_step_failure_events()
    data = failure.step_failure_data
    assert data.user_failure_data.description == "groq: RuntimeError: proxy refused Bearer ***"
    trace = data.user_failure_data.metadata["traceback"].value
    assert "RuntimeError: proxy refused Bearer ***" in trace and "explode" in trace
    assert data.error.cause is None and data.error.context is None  # no raw chain
    assert KEY not in events and "proxy refused Bearer ***" in events
    error = catalog_db.store().sync_history("groq", limit=1)[0]["error"]
    assert error == "groq: RuntimeError: proxy refused Bearer ***"


def test_every_source_key_variable_is_named_as_a_secret():
    """`redact` knows secrets by their variable's name (it imports no source): every source's
    key variable must be named like one."""
    from model_sync.redact import SECRET_NAME
    from model_sync.sources import SOURCES

    names = [spec.auth.env_var for spec in SOURCES if spec.auth]
    assert names and all(SECRET_NAME.search(name) for name in names), names
