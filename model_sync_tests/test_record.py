"""`model-sync record`: live responses saved in the replay layout replay to the same rows."""

import json
import logging

import httpx
import pytest

from model_sync.cli import main
from model_sync.defs.resources import HttpClientResource
from model_sync.record import record
from model_sync.sources import SOURCES_BY_NAME
from model_sync_tests.conftest import FIXTURES, fetch

LOG = logging.getLogger("test.record")
DAY = "2026-08-20"


def live_api(request: httpx.Request) -> httpx.Response:
    """A stand-in for the live APIs, answering from the fixtures (Link headers included)."""
    url = request.url
    if url.host == "huggingface.co":
        if url.path == "/api/models/Qwen/Qwen3.8-27B":
            name = "repo-Qwen--Qwen3.8-27B"
        else:
            page = {None: 1, "c2": 2, "c3": 3}[url.params.get("cursor")]
            name = f"page-{page}"
            if page < 3:
                link = f'<https://huggingface.co/api/models?cursor=c{page + 1}>; rel="next"'
                body = (FIXTURES / "huggingface" / f"{DAY}.{name}.json").read_bytes()
                return httpx.Response(200, content=body, headers={"link": link,
                                                                  "ratelimit": '"api";r=99;t=5'})
        return httpx.Response(200, content=(FIXTURES / "huggingface" / f"{DAY}.{name}.json")
                              .read_bytes())
    if url.host == "api.together.xyz":
        assert request.headers["authorization"] == "Bearer tg-key"
        return httpx.Response(200, content=(FIXTURES / "together" / f"{DAY}.json").read_bytes())
    return httpx.Response(404)


class Store:
    def hugging_face_ids(self, exclude_source=None):
        return ["Qwen/Qwen3.8-27B"]


def test_recording_replays_to_the_same_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-key")
    out = tmp_path / "recorded"
    lines = []
    failed = record(out, ["huggingface", "together"], transport=httpx.MockTransport(live_api),
                    store=Store(), day=DAY, echo=lines.append)
    assert failed == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert names == [
        f"huggingface/{DAY}.page-1.headers.json", f"huggingface/{DAY}.page-1.json",
        f"huggingface/{DAY}.page-2.headers.json", f"huggingface/{DAY}.page-2.json",
        f"huggingface/{DAY}.page-3.json", f"huggingface/{DAY}.repo-Qwen--Qwen3.8-27B.json",
        f"together/{DAY}.json"]
    headers = json.loads((out / "huggingface" / f"{DAY}.page-1.headers.json").read_text())
    assert headers == {"link": '<https://huggingface.co/api/models?cursor=c2>; rel="next"'}
    assert (out / "together" / f"{DAY}.json").read_bytes() == (
        FIXTURES / "together" / f"{DAY}.json").read_bytes()
    assert "huggingface: 4 responses, 9 models" in lines[0]

    replay = HttpClientResource(replay_dir=str(out))
    for source in ("huggingface", "together"):
        spec = SOURCES_BY_NAME[source]
        replayed = fetch(spec, replay, {}, LOG, store=Store()).rows
        assert len(replayed) == 9
        original = fetch(spec, HttpClientResource(replay_dir=str(FIXTURES)), {}, LOG,
                              store=Store()).rows
        assert [(r["source_key"], r["input_price"]) for r in replayed] == [
            (r["source_key"], r["input_price"]) for r in original]


def test_sources_without_their_key_are_skipped_and_failures_counted(tmp_path):
    lines = []
    failed = record(tmp_path, ["together", "cerebras", "deepseek"],
                    transport=httpx.MockTransport(lambda r: httpx.Response(500)),
                    day=DAY, echo=lines.append)
    assert failed == 0 and len(lines) == 3
    assert all(line.startswith("skipping") and "is disabled: set" in line for line in lines)
    assert not list(tmp_path.rglob("*.json"))


def test_a_failing_source_is_reported_and_nothing_is_written_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "k")
    lines = []
    http = HttpClientResource(max_retries=0)
    failed = record(tmp_path, ["deepseek"], http=http, day=DAY, echo=lines.append,
                    transport=httpx.MockTransport(lambda r: httpx.Response(401)))
    assert failed == 1 and "deepseek: failed" in lines[0] and "API key was refused" in lines[0]
    assert not list(tmp_path.rglob("*.json"))


def test_record_refuses_replay_mode_and_unknown_sources(tmp_path, monkeypatch, capsys):
    assert main(["record", "--out", str(tmp_path), "--source", "nope"]) == 2
    assert "unknown source 'nope'" in capsys.readouterr().err
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(tmp_path))
    assert main(["record", "--out", str(tmp_path / "o"), "--source", "deepseek"]) == 2
    assert "unset MODEL_SYNC_REPLAY_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["record"])  # --out is required


def test_a_failure_part_way_through_paging_keeps_the_earlier_recording(tmp_path):
    out = tmp_path / "recorded"
    assert record(out, ["huggingface"], transport=httpx.MockTransport(live_api), store=Store(),
                  day=DAY) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) == 6

    def page_two_fails(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "c2":
            return httpx.Response(503)
        response = live_api(request)  # page 1 answers a changed body this time
        return httpx.Response(200, content=response.read() + b"\n", headers=response.headers)

    lines = []
    failed = record(out, ["huggingface"], http=HttpClientResource(max_retries=0),
                    transport=httpx.MockTransport(page_two_fails), store=Store(), day=DAY,
                    echo=lines.append)
    assert failed == 1 and lines[0].startswith("huggingface: failed, nothing written")
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # page 1 of the failed attempt replaced nothing; no staging left
    assert [p.name for p in out.iterdir()] == ["huggingface"]
