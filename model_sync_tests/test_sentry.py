"""Error reports: a failed sync reaches a local HTTP endpoint standing in for the Sentry DSN's
host, tagged with its source, run id and trigger, with no secret in the envelope; nothing is
sent when SENTRY_DSN is unset."""

import gzip
import json
import zlib
from contextlib import contextmanager

import dagster as dg
import pytest

from model_sync.defs.reporting import trigger_of
from model_sync.defs.resources import HttpClientResource
from model_sync.defs.tags import TRIGGER_TAG
from model_sync.ops import sentry
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.http_servers import Api, Echo, serve

GROQ_KEY = "gsk_" + "Q" * 40
WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/w3bh00k-s3cret-path"
DB_PASSWORD = "db-s3cret-pw"
SECRETS = (GROQ_KEY, WEBHOOK, "w3bh00k-s3cret-path", DB_PASSWORD, "publickey0123456789")


class SentryStandIn:
    """The DSN's host: keeps every envelope posted to /api/<project>/envelope/."""

    def __init__(self):
        self.envelopes: list[bytes] = []
        self.dsn = ""

    @contextmanager
    def running(self):
        from http.server import BaseHTTPRequestHandler

        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                encoding = self.headers.get("content-encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path.startswith("/api/1/envelope"):
                    stand_in.envelopes.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        with serve(Handler) as server:
            self.dsn = f"http://publickey0123456789@127.0.0.1:{server.server_port}/1"
            yield self

    def events(self) -> list[dict]:
        """The error events of the envelopes (header line, then item header and payload)."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


@pytest.fixture
def stand_in():
    with SentryStandIn().running() as server:
        yield server


@pytest.fixture
def secrets_set(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    monkeypatch.setenv("MODEL_SYNC_ALERT_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL",
                       f"postgresql+psycopg://model_sync:{DB_PASSWORD}@db.internal/model_sync")


def fail_groq(api: Api, catalog_db, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """Materialize groq against an API that refuses it and echoes the key it was sent."""
    spec = SOURCES_BY_NAME["groq"]
    http = HttpClientResource(max_retries=0)
    from model_sync.definitions import defs

    asset = next(a for a in defs.assets if spec.name in {k.path[-1] for k in a.keys})
    return dg.materialize([asset], resources={"http": http, "catalog_db": catalog_db},
                          run_config={"ops": {"groq": {"config": {
                              "url": f"{api.base}/openai/v1/models"}}}},
                          raise_on_error=False, tags=tags)


def test_a_failed_sync_is_reported_with_its_tags_and_without_secrets(stand_in, secrets_set,
                                                                      monkeypatch, catalog_db):
    monkeypatch.setenv("SENTRY_DSN", stand_in.dsn)
    api = Api({"/openai/v1/models": Echo(status=401)})
    with api.running():
        result = fail_groq(api, catalog_db, {"dagster/schedule_name": "groq_schedule"})
    assert not result.success
    [event] = stand_in.events()
    assert event["tags"]["source"] == "groq"
    assert event["tags"]["run_id"] == result.run_id
    assert event["tags"]["trigger"] == "schedule"
    assert event["tags"]["schedule"] == "groq_schedule"
    assert "HTTP 401" in event["contexts"]["model_sync"]["failure"]
    assert event["exception"]["values"][-1]["type"] == "FetchError"  # the error underneath
    raw = b"".join(stand_in.envelopes).decode()
    assert GROQ_KEY[:12] not in raw  # the echoed key never reaches the error tracker
    for secret in SECRETS:
        assert secret not in raw, secret
    assert "***" in raw  # the echo was there, masked
    # No local variables (keys live in them) and nothing personal.
    frames = [f for v in event["exception"]["values"] for f in v["stacktrace"]["frames"]]
    assert frames and not any("vars" in f for f in frames)
    assert "user" not in event and "request" not in event


def test_nothing_is_sent_without_a_dsn(stand_in, monkeypatch, catalog_db):
    monkeypatch.setenv("SENTRY_DSN", stand_in.dsn)
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    api = Api({"/openai/v1/models": (503, {}, b'{"error": "down"}')})
    with api.running():
        fail_groq(api, catalog_db, {TRIGGER_TAG: "cli"})
        assert [e["tags"]["trigger"] for e in stand_in.events()] == ["cli"]
        monkeypatch.delenv("SENTRY_DSN")  # the client made for it must not be used again
        assert not fail_groq(api, catalog_db, {TRIGGER_TAG: "cli"}).success
    assert len(stand_in.events()) == 1
    assert sentry.report(RuntimeError("boom"), "boom", tags={}) is None


def test_report_masks_every_secret_in_any_field(stand_in, secrets_set, monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", stand_in.dsn)
    text = (f"GET https://api.groq.com/models?key={GROQ_KEY} failed; posting to {WEBHOOK}; "
            f"postgresql://model_sync:{DB_PASSWORD}@db.internal/x; dsn {stand_in.dsn}")
    event_id = sentry.report(ValueError(text), text, tags={"source": "groq", "run_id": "r1",
                                                           "trigger": "manual"},
                             context={"traceback": text}, group="groq")
    assert event_id
    [event] = stand_in.events()
    raw = b"".join(stand_in.envelopes).decode()
    for secret in SECRETS:
        assert secret not in raw, secret
    assert event["fingerprint"] == ["{{ default }}", "groq"]
    assert event["contexts"]["model_sync"]["traceback"].count("***") >= 3


@pytest.mark.parametrize(("tags", "trigger"), [
    ({TRIGGER_TAG: "change_sensor", "dagster/sensor_name": "groq_change_sensor"},
     "change_sensor"),
    ({"dagster/schedule_name": "groq_schedule"}, "schedule"),
    ({"dagster/backfill": "abc"}, "backfill"),
    ({"dagster/from_automation_condition": "true"}, "automation"),
    ({}, "manual"),
])
def test_the_trigger_names_what_launched_the_run(tags, trigger):
    assert trigger_of(tags) == trigger
