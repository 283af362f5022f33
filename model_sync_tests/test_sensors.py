"""Change sensors: a run request when the source changed, a skip when not, and a cursor."""

import dataclasses
import json

import dagster as dg
import httpx
import pytest

from model_sync.cadence import resolve_cadences
from model_sync.defs.resources import HttpClientResource
from model_sync.defs.sensors import build_change_sensor
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.http_servers import SourceServer

BODY = json.dumps({"data": [{"id": "a/b", "pricing": {"prompt": "0.000001"}}]}).encode()


def sensor_for(name: str, url: str | None = None) -> dg.SensorDefinition:
    spec = SOURCES_BY_NAME[name]
    if url:
        spec = dataclasses.replace(spec, url=url)
    return build_change_sensor(spec, resolve_cadences([spec], env={})[name])


def tick(sensor, cursor=None, http=None, instance=None):
    instance = instance or dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"http": http or HttpClientResource()})
    return sensor.evaluate_tick(context)


@pytest.mark.parametrize(("validator", "header", "sent"), [
    ("etag", "etag", "if-none-match"),
    ("last_modified", "last_modified", "if-modified-since"),
])
def test_conditional_request_skips_unchanged_and_requests_changed(validator, header, sent):
    source = SourceServer(BODY, validator=validator)
    with source.running():
        sensor = sensor_for("openrouter", source.url)
        instance = dg.DagsterInstance.ephemeral()
        first = tick(sensor, instance=instance)
        [request] = first.run_requests
        assert request.run_key.startswith("openrouter-1-")
        assert request.tags["model_sync/source"] == "openrouter"
        state = json.loads(first.cursor)
        assert state["validators"][header]

        second = tick(sensor, first.cursor, instance=instance)
        assert not second.run_requests
        assert second.skip_message == "openrouter unchanged (304 Not Modified)"
        assert {k.lower(): v for k, v in source.requests[-1].items()}[sent]
        assert second.cursor in (None, first.cursor)

        source.body = BODY.replace(b"0.000001", b"0.000002")
        source.last_modified = "Thu, 20 Aug 2026 02:00:00 GMT"
        third = tick(sensor, first.cursor, instance=instance)
        [changed] = third.run_requests
        assert changed.run_key != request.run_key and changed.run_key.startswith("openrouter-2-")
        assert third.cursor != first.cursor
        assert json.loads(third.cursor)["requests"] == 2


def test_without_validators_the_content_hash_decides():
    source = SourceServer(BODY, validator="none")
    with source.running():
        sensor = sensor_for("models_dev", source.url)
        first = tick(sensor)
        assert len(first.run_requests) == 1
        assert set(json.loads(first.cursor)["validators"]) == {"sha256"}
        same = tick(sensor, first.cursor)
        assert not same.run_requests and same.skip_message == "models_dev unchanged (same content)"
        source.body = BODY + b" "
        assert len(tick(sensor, first.cursor).run_requests) == 1


def test_replayed_source_uses_the_snapshot_as_its_version(payloads):
    sensor = sensor_for("openrouter")
    old = HttpClientResource(replay_dir=str(payloads), replay_date="2025-05-22")
    first = tick(sensor, http=old)
    assert len(first.run_requests) == 1
    assert json.loads(first.cursor)["validators"]["snapshot"] == "2025-05-22.json"
    assert not tick(sensor, first.cursor, http=old).run_requests
    new = HttpClientResource(replay_dir=str(payloads), replay_date="2025-05-23")
    later = tick(sensor, first.cursor, http=new)
    assert len(later.run_requests) == 1
    assert json.loads(later.cursor)["validators"]["snapshot"] == "2025-05-23.json"


def test_disabled_source_skips_without_a_request():
    result = tick(sensor_for("groq"))
    assert not result.run_requests
    assert "GROQ_API_KEY" in result.skip_message


def test_probe_failure_skips_and_keeps_the_cursor():
    sensor = sensor_for("openrouter", "http://127.0.0.1:9/unreachable")
    cursor = json.dumps({"validators": {"etag": '"x"'}, "requests": 3})
    result = tick(sensor, cursor, http=HttpClientResource(max_retries=0))
    assert not result.run_requests
    assert result.skip_message.startswith("probe failed, will retry next tick: openrouter: GET")
    assert result.cursor in (None, cursor)


class RecordingHttp(HttpClientResource):
    """The real client over a MockTransport that records every request."""

    def transport(self):
        return httpx.MockTransport(lambda request: (SEEN.append(request), httpx.Response(
            200, json={"object": "list", "data": [{"id": "qwen-max"}]}))[1])


SEEN: list[httpx.Request] = []


@pytest.mark.parametrize(("region", "host"), [(None, "dashscope-intl.aliyuncs.com"),
                                              ("cn", "dashscope.aliyuncs.com")])
def test_the_probe_reads_the_endpoint_of_the_configured_region(monkeypatch, region, host):
    SEEN.clear()
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    if region:
        monkeypatch.setenv("ALIBABA_CLOUD_REGION", region)
    result = tick(sensor_for("alibaba_cloud"), http=RecordingHttp(max_retries=0))
    assert len(result.run_requests) == 1
    [request] = SEEN
    assert request.url.host == host
    assert request.headers["authorization"] == "Bearer sk-test"


def test_an_unknown_region_skips_the_probe_with_the_reason(monkeypatch):
    SEEN.clear()
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    monkeypatch.setenv("ALIBABA_CLOUD_REGION", "mars")
    result = tick(sensor_for("alibaba_cloud"), http=RecordingHttp(max_retries=0))
    assert not result.run_requests and SEEN == []
    assert "unknown region 'mars' in ALIBABA_CLOUD_REGION" in result.skip_message


def test_every_source_has_a_stopped_change_sensor_targeting_only_it():
    from model_sync.definitions import defs

    repo = defs.get_repository_def()
    for name, spec in SOURCES_BY_NAME.items():
        sensor = repo.get_sensor_def(f"{name}_change_sensor")
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
        assert sensor.minimum_interval_seconds == spec.probe_minutes * 60
        # artificial_analysis: each probe spends its quota; huggingface: download counts on
        # the first page change all the time, so a frequent probe would always fire
        assert spec.probe_minutes == {"artificial_analysis": 720,
                                      "huggingface": 1440}.get(name, 15)
        assert repo.get_job(sensor.job_name).asset_layer.executable_asset_keys == {
            dg.AssetKey(spec.name)}
