"""A source's URL as a setting: the run config's `url` over MODEL_SYNC_<SOURCE>_URL over the
spec, checked, with the key sent only to the configured origin; syncs against real local
servers on 127.0.0.1."""

import json
import logging

import dagster as dg
import httpx
import pytest

from model_sync.cadence import resolve_cadences
from model_sync.cli import main
from model_sync.definitions import defs
from model_sync.defs.resources import HttpClientResource
from model_sync.defs.sensors import build_change_sensor
from model_sync.sources import SOURCES, SOURCES_BY_NAME, fireworks, huggingface
from model_sync.sources.base import FetchContext, SettingError
from model_sync_tests.conftest import FIXTURES, fetch, table_row
from model_sync_tests.http_servers import Api

LOG = logging.getLogger("test.base_url")
OPENROUTER = SOURCES_BY_NAME["openrouter"]
ALIBABA = SOURCES_BY_NAME["alibaba_cloud"]
GROQ = SOURCES_BY_NAME["groq"]
DAY = "2026-08-20"  # the fixtures' recording date
GROQ_BODY = json.dumps({"object": "list", "data": [
    {"id": "llama-3.3-70b-versatile", "object": "model", "created": 1733447754,
     "owned_by": "Meta", "active": True, "context_window": 131072}]}).encode()


def fixture(source: str, variant: str | None = None) -> bytes:
    return (FIXTURES / source / f"{DAY}{'.' + variant if variant else ''}.json").read_bytes()


# -- resolution and validation -----------------------------------------------------------------


def test_every_source_has_its_url_variable():
    assert OPENROUTER.url_env == "MODEL_SYNC_OPENROUTER_URL"
    assert SOURCES_BY_NAME["models_dev"].url_env == "MODEL_SYNC_MODELS_DEV_URL"
    assert len({s.url_env for s in SOURCES}) == len(SOURCES)


def test_the_run_config_wins_over_the_environment_which_wins_over_the_spec(monkeypatch):
    http = HttpClientResource()
    assert http.endpoint(OPENROUTER) == (OPENROUTER.url, None)
    assert http.url_override(OPENROUTER) is None
    monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", "")  # as compose passes an unset one
    assert http.endpoint(OPENROUTER) == (OPENROUTER.url, None)

    proxy = "https://egress.example.internal/openrouter/api/v1/models"
    monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", f" {proxy}\n")
    assert http.endpoint(OPENROUTER) == (proxy, None)
    assert http.url_override(OPENROUTER) == proxy
    test_server = "http://127.0.0.1:8080/api/v1/models"
    assert http.endpoint(OPENROUTER, test_server) == (test_server, None)
    assert http.url_override(OPENROUTER, test_server) == test_server
    # One source's variable is not another's.
    assert http.endpoint(SOURCES_BY_NAME["models_dev"]) == ("https://models.dev/api.json", None)


@pytest.mark.parametrize("value", [
    "openrouter.ai/api/v1/models", "ftp://mirror.example.org/models", "file:///etc/models.json",
    "https://", "https:///api/v1/models", "http://mirror.example.org:port/models",
    "https://mirror .example.org/models", "://mirror.example.org",
])
def test_a_url_that_is_not_http_with_a_host_is_one_clear_error(monkeypatch, value):
    http = HttpClientResource()
    monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", value)
    with pytest.raises(SettingError) as env_error:
        http.endpoint(OPENROUTER)
    message = str(env_error.value)
    assert message.startswith("openrouter: MODEL_SYNC_OPENROUTER_URL must be an http(s) URL")
    assert "\n" not in message and repr(value.strip()) in message
    with pytest.raises(SettingError, match=r"^openrouter: the run config's url must be"):
        http.endpoint(OPENROUTER, value)


def test_a_password_in_a_bad_url_is_not_shown(monkeypatch):
    monkeypatch.setenv("MODEL_SYNC_GROQ_URL", "htps://user:s3cret@proxy.example.org/v1/models")
    with pytest.raises(SettingError) as error:
        HttpClientResource().endpoint(GROQ)
    assert "s3cret" not in str(error.value)
    assert "'htps://***@proxy.example.org/v1/models'" in str(error.value)


def test_a_regional_source_reads_the_url_in_place_of_its_region_endpoint(monkeypatch):
    http = HttpClientResource()
    monkeypatch.setenv("ALIBABA_CLOUD_REGION", "cn")
    assert http.endpoint(ALIBABA) == (ALIBABA.regions["cn"], "cn")
    mirror = "https://dashscope-proxy.example.internal/compatible-mode/v1/models"
    monkeypatch.setenv("MODEL_SYNC_ALIBABA_CLOUD_URL", mirror)
    assert http.endpoint(ALIBABA) == (mirror, "cn")  # the region still names the provider
    monkeypatch.delenv("ALIBABA_CLOUD_REGION")
    assert http.endpoint(ALIBABA) == (mirror, "intl")
    monkeypatch.setenv("ALIBABA_CLOUD_REGION", "mars")
    with pytest.raises(SettingError, match="unknown region 'mars' in ALIBABA_CLOUD_REGION"):
        http.endpoint(ALIBABA)


def test_with_a_url_configured_only_its_origin_gets_the_key():
    mirror = "https://dashscope-proxy.example.internal:8443/compatible-mode/v1/models"
    credentials = ALIBABA.credentials("sk", mirror)
    assert credentials.allows(httpx.URL(mirror))
    assert credentials.allows(httpx.URL("https://dashscope-proxy.example.internal:8443/other"))
    for url in [ALIBABA.url, *ALIBABA.regions.values(),
                "https://dashscope-proxy.example.internal/compatible-mode/v1/models",
                "http://dashscope-proxy.example.internal:8443/compatible-mode/v1/models"]:
        assert not credentials.allows(httpx.URL(url)), url
    assert OPENROUTER.credentials("k", mirror) is None  # a source without a key sends none


# -- the key on the wire -------------------------------------------------------------------------


def test_the_key_goes_to_the_configured_server_and_not_where_it_redirects(monkeypatch, caplog):
    other = Api({"/models": GROQ_BODY})
    with other.running():
        api = Api({"/openai/v1/models": (302, {"Location": f"{other.base}/models"}, b"")})
        with api.running():
            monkeypatch.setenv("GROQ_API_KEY", "gq-SECRET")
            monkeypatch.setenv("MODEL_SYNC_GROQ_URL", f"{api.base}/openai/v1/models")
            with caplog.at_level(logging.WARNING):
                rows = fetch(GROQ, HttpClientResource(), {}, LOG).rows
    assert [r["model_id"] for r in rows] == ["llama-3.3-70b-versatile"]
    assert api.paths == ["/openai/v1/models"] and api.sent("authorization") == ["Bearer gq-SECRET"]
    assert other.paths == ["/models"] and other.sent("authorization") == [None]
    assert "not sending the API key to 127.0.0.1" in caplog.text
    assert "gq-SECRET" not in caplog.text


def test_a_regional_source_syncs_from_the_configured_url_with_its_region(monkeypatch):
    api = Api({"/compatible-mode/v1/models": fixture("alibaba_cloud")})
    with api.running():
        monkeypatch.setenv("DASHSCOPE_API_KEY", "ds-key")
        monkeypatch.setenv("ALIBABA_CLOUD_REGION", "cn")
        monkeypatch.setenv("MODEL_SYNC_ALIBABA_CLOUD_URL", f"{api.base}/compatible-mode/v1/models")
        fetched = fetch(ALIBABA, HttpClientResource(), {}, LOG)
        rows, meta = fetched.rows, fetched.meta
    assert len(rows) == 6 and {r["provider"] for r in rows} == {"alibaba-cn"}
    assert meta["region"] == "cn"
    assert api.sent("authorization") == ["Bearer ds-key"]


# -- further requests follow the configured URL -------------------------------------------------


def test_further_requests_are_planned_from_the_listing_url():
    mirror = FetchContext(rows=[], url="https://hf-mirror.example.org/hub/api/models?x=1",
                          hugging_face_ids=["Qwen/Qwen3-8B"])
    [repo] = huggingface.named_repositories(mirror)
    assert repo.url == "https://hf-mirror.example.org/hub/api/models/Qwen/Qwen3-8B"
    [default] = huggingface.named_repositories(FetchContext(rows=[],
                                                            hugging_face_ids=["Qwen/Qwen3-8B"]))
    assert default.url == "https://huggingface.co/api/models/Qwen/Qwen3-8B"

    def setting(name):
        return {"FIREWORKS_ACCOUNT_ID": "my-team"}.get(name)
    proxied = FetchContext(rows=[], setting=setting,
                           url="http://127.0.0.1:9000/fw/v1/accounts/fireworks/models")
    [account] = fireworks.account_models(proxied)
    assert account.url == "http://127.0.0.1:9000/fw/v1/accounts/my-team/models"
    [default] = fireworks.account_models(FetchContext(rows=[], setting=setting))
    assert default.url == "https://api.fireworks.ai/v1/accounts/my-team/models"


class Store:
    """The one thing Hugging Face reads from the catalog: the repositories others name."""

    def hugging_face_ids(self, exclude_source=None):
        return ["Qwen/Qwen3.8-27B"]


def test_hugging_face_pages_and_repositories_come_from_the_configured_url(monkeypatch):
    def listing(query):
        if query.get("cursor") == ["c2"]:
            return fixture("huggingface", "page-3")
        assert query["pipeline_tag"] == ["text-generation"]  # the spec's query is kept
        next_link = f'<{api.base}/hub/api/models?cursor=c2>; rel="next"'
        return 200, {"Link": next_link}, fixture("huggingface", "page-1")

    api = Api({"/hub/api/models": listing,
               "/hub/api/models/Qwen/Qwen3.8-27B": fixture("huggingface",
                                                           "repo-Qwen--Qwen3.8-27B")})
    with api.running():
        monkeypatch.setenv("HF_TOKEN", "hf_SECRET")
        url = f"{api.base}/hub/api/models"
        fetched = fetch(huggingface.SPEC, HttpClientResource(), {}, LOG, store=Store(),
                             url=url)
        rows, meta = fetched.rows, fetched.meta
    paths = [p.partition("?")[0] for p in api.paths]
    assert paths == ["/hub/api/models", "/hub/api/models", "/hub/api/models/Qwen/Qwen3.8-27B"]
    assert "cursor=c2" in api.paths[1]
    assert set(api.sent("authorization")) == {"Bearer hf_SECRET"}
    assert "Qwen/Qwen3.8-27B" in {r["model_id"] for r in rows}
    assert meta["extra_requests"] == 1 and meta["extra_missing"] == 0


def test_fireworks_account_models_come_from_the_configured_url(monkeypatch):
    def serverless(query):
        assert query["filter"] == ["supports_serverless=true"]
        return fixture("fireworks", "page-2" if "pageToken" in query else "page-1")

    api = Api({"/fw/v1/accounts/fireworks/models": serverless,
               "/fw/v1/accounts/my-team/models": fixture("fireworks", "account.page-1")})
    with api.running():
        monkeypatch.setenv("FIREWORKS_API_KEY", "fw-key")
        monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "my-team")
        monkeypatch.setenv("MODEL_SYNC_FIREWORKS_URL",
                           f"{api.base}/fw/v1/accounts/fireworks/models")
        fetched = fetch(fireworks.SPEC, HttpClientResource(), {}, LOG)
        rows, meta = fetched.rows, fetched.meta
    paths = [p.partition("?")[0] for p in api.paths]
    assert paths == ["/fw/v1/accounts/fireworks/models"] * 2 + ["/fw/v1/accounts/my-team/models"]
    assert set(api.sent("authorization")) == {"Bearer fw-key"}
    assert len(rows) == 6 and meta["extra_missing"] == 0


def test_replay_answers_by_source_name_whatever_the_url(monkeypatch, fixtures_http):
    monkeypatch.setenv("MODEL_SYNC_CEREBRAS_URL", "http://127.0.0.1:9/v1/models")  # nobody there
    fetched = fetch(SOURCES_BY_NAME["cerebras"], fixtures_http, {}, LOG)
    rows, meta = fetched.rows, fetched.meta
    assert rows and meta["replayed_snapshots"] == f"{DAY}.json"


# -- sensors, assets and the command line -------------------------------------------------------


def tick(spec):
    sensor = build_change_sensor(spec, resolve_cadences([spec], env={})[spec.name])
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(),
                                      resources={"http": HttpClientResource()})
    return sensor.evaluate_tick(context)


def test_the_change_sensor_probes_the_configured_url(monkeypatch):
    api = Api({"/openai/v1/models": GROQ_BODY})
    with api.running():
        monkeypatch.setenv("GROQ_API_KEY", "gq-key")
        monkeypatch.setenv("MODEL_SYNC_GROQ_URL", f"{api.base}/openai/v1/models")
        [request] = tick(GROQ).run_requests
    assert request.run_key.startswith("groq-1-")
    assert api.paths == ["/openai/v1/models"] and api.sent("authorization") == ["Bearer gq-key"]

    monkeypatch.setenv("MODEL_SYNC_GROQ_URL", "api.groq.example/openai/v1/models")
    result = tick(GROQ)
    assert not result.run_requests
    assert result.skip_message.startswith("groq: MODEL_SYNC_GROQ_URL must be an http(s) URL")


ASSETS = list(defs.assets)


def materialize(catalog_db, run_config=None):
    return dg.materialize(ASSETS, selection=["openrouter"],
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                          resources={"http": HttpClientResource(), "catalog_db": catalog_db},
                          run_config=run_config)


def test_openrouter_syncs_from_a_local_server_named_by_its_variable(monkeypatch, payloads,
                                                                    catalog_db):
    """The environment names one server; a run's config names another and wins."""
    latest = Api({"/api/v1/models": (payloads / "openrouter" / "2026-08-19.json").read_bytes()})
    older = Api({"/or/models": (payloads / "openrouter" / "2026-03-10.json").read_bytes()})
    with latest.running(), older.running():
        monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", f"{latest.base}/api/v1/models")
        result = materialize(catalog_db)
        assert result.success
        store = catalog_db.store()
        assert store.source_count("openrouter") == 414
        assert latest.paths == ["/api/v1/models"] and older.paths == []

        # An older snapshot swaps many models: accepted on purpose past the drop guard.
        config = {"ops": {"openrouter": {"config": {"url": f"{older.base}/or/models",
                                                    "max_removed_share": 0.5}}}}
        assert materialize(catalog_db, config).success
        assert store.source_count("openrouter") == 346
        assert latest.paths == ["/api/v1/models"] and older.paths == ["/or/models"]
    [run, _first] = store.sync_history("openrouter")
    assert run["status"] == "success"
    store.dispose()


def test_a_bad_url_fails_the_run_at_once_and_keeps_the_rows(monkeypatch, payloads, catalog_db):
    api = Api({"/api/v1/models": (payloads / "openrouter" / "2026-08-19.json").read_bytes()})
    with api.running():
        monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", f"{api.base}/api/v1/models")
        assert materialize(catalog_db).success
    store = catalog_db.store()
    good = store.source_rows("openrouter")

    monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", "openrouter.example.internal/api/v1/models")
    result = materialize(catalog_db)
    assert not result.success
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("openrouter: MODEL_SYNC_OPENROUTER_URL must be an http(s) URL")
    assert "\n" not in description
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]

    config = {"ops": {"openrouter": {"config": {"url": "ftp://mirror.example.org/models"}}}}
    result = materialize(catalog_db, config)
    [failure] = result.get_step_failure_events()
    assert "the run config's url must be an http(s) URL" in (
        failure.step_failure_data.user_failure_data.description)
    assert store.source_rows("openrouter") == good
    assert [r["status"] for r in store.sync_history("openrouter")] == [
        "failed", "failed", "success"]
    store.dispose()


def test_the_command_line_names_a_bad_url_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MODEL_SYNC_OPENROUTER_URL", "openrouter.example.internal/api/v1/models")
    assert main(["sync", "--select", "openrouter"]) == 1
    out, err = capsys.readouterr()
    expected = ("openrouter: MODEL_SYNC_OPENROUTER_URL must be an http(s) URL such as "
                "https://host/path, got 'openrouter.example.internal/api/v1/models'")
    assert table_row(out, "openrouter")[1] == "failed"
    assert expected.removeprefix("openrouter: ") in out
    assert "Traceback" not in out + err

    assert main(["record", "--out", str(tmp_path / "rec"), "--source", "openrouter"]) == 1
    out, err = capsys.readouterr()
    assert f"openrouter: failed, nothing written: {expected}" in out.splitlines()
    assert "Traceback" not in out + err
    assert not list((tmp_path / "rec").rglob("*.json"))
