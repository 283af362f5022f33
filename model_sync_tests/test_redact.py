"""Secrets never leave the process: `redact` masks the secrets the process holds and the
shapes of credentials, and leaves other text alone."""

import pytest

from model_sync import alerts
from model_sync.redact import redact, secret_values

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
    monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
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
