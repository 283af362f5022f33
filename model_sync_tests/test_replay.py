"""Replay mode: the newest snapshot on or before the replay date, through the normal client."""

import json

import httpx
import pytest

from model_sync.http import ReplayTransport, SourceClient
from model_sync.http.client import FetchError, NotRecorded
from model_sync.sources import SOURCES_BY_NAME


@pytest.fixture
def replay_dir(tmp_path):
    root = tmp_path / "replay"
    (root / "openrouter").mkdir(parents=True)
    for day, n in (("2025-01-01", 1), ("2025-02-01", 2), ("2025-03-01", 3)):
        data = [{"id": f"lab/m{i}", "pricing": {"prompt": "0", "completion": "0"}}
                for i in range(n)]
        (root / "openrouter" / f"{day}.json").write_text(json.dumps({"data": data}))
    (root / "openrouter" / "2025-02-01.output_modalities-all.json").write_text(
        json.dumps({"data": [{"id": "img/x", "pricing": {"prompt": "0", "completion": "0"}}]}))
    (root / "artificial_analysis").mkdir()
    for page, more in ((1, True), (2, False)):
        (root / "artificial_analysis" / f"2025-02-01.page-{page}.json").write_text(json.dumps(
            {"pagination": {"has_more": more}, "data": [{"id": f"u{page}", "slug": "s"}]}))
    return root


def fetch(root, source, as_of=None, params=None):
    c = SourceClient(transport=ReplayTransport(root, as_of))
    return list(c.fetch_pages(SOURCES_BY_NAME[source].listing(params=params)))


def test_newest_snapshot_by_default(replay_dir):
    [page] = fetch(replay_dir, "openrouter")
    assert page.snapshot == "2025-03-01.json" and len(page.payload["data"]) == 3


def test_newest_snapshot_on_or_before_the_replay_date(replay_dir):
    assert fetch(replay_dir, "openrouter", "2025-02-15")[0].snapshot == "2025-02-01.json"
    assert fetch(replay_dir, "openrouter", "2025-02-01")[0].snapshot == "2025-02-01.json"


def test_no_snapshot_before_the_date_is_a_clear_error(replay_dir):
    with pytest.raises(FetchError, match="no recorded snapshot of openrouter on or before 2024"):
        fetch(replay_dir, "openrouter", "2024-12-31")


def test_query_variants_pick_their_own_recording(replay_dir):
    pages = fetch(replay_dir, "openrouter", params={"output_modalities": "all"})
    assert pages[0].snapshot == "2025-02-01.output_modalities-all.json"


def test_paged_recordings_are_replayed_in_order(replay_dir):
    pages = fetch(replay_dir, "artificial_analysis")
    assert [p.snapshot for p in pages] == ["2025-02-01.page-1.json", "2025-02-01.page-2.json"]


def test_a_partial_recording_ends_with_a_warning(replay_dir, caplog):
    (replay_dir / "artificial_analysis" / "2025-02-01.page-2.json").unlink()
    pages = fetch(replay_dir, "artificial_analysis")
    assert len(pages) == 1


def test_replay_serves_through_a_real_httpx_client(replay_dir):
    with httpx.Client(transport=ReplayTransport(replay_dir)) as c:
        r = c.get("https://openrouter.ai/api/v1/models",
                  extensions={"model_sync": {"source": "openrouter", "page": 1}})
    assert r.status_code == 200 and r.headers["x-model-sync-snapshot-date"] == "2025-03-01"


def test_a_missing_recording_is_raised_by_the_transport_not_answered(replay_dir):
    with httpx.Client(transport=ReplayTransport(replay_dir)) as c:
        with pytest.raises(NotRecorded) as missing:
            c.get("https://api.groq.com/openai/v1/models",
                  extensions={"model_sync": {"source": "groq", "page": 1}})
        assert isinstance(missing.value, FetchError) and missing.value.status == 404
        assert str(missing.value).startswith("groq: GET https://api.groq.com/openai/v1/models: "
                                             "no recorded snapshot of groq in ")
        with pytest.raises(NotRecorded, match="no recording of page 3 of artificial_analysis"):
            c.get("https://artificialanalysis.ai/api", extensions={"model_sync": {
                "source": "artificial_analysis", "page": 3, "paged": True}})
        with pytest.raises(NotRecorded, match="replay needs the source of the request"):
            c.get("https://openrouter.ai/api/v1/models")


def test_recorded_link_headers_are_served_so_replay_pages_like_the_api(tmp_path):
    root = tmp_path / "replay"
    (root / "huggingface").mkdir(parents=True)
    for n in (1, 2, 3):
        (root / "huggingface" / f"2026-01-02.page-{n}.json").write_text(
            json.dumps([{"id": f"org/m{n}"}]))
    for n in (1, 2):
        (root / "huggingface" / f"2026-01-02.page-{n}.headers.json").write_text(json.dumps(
            {"link": f'<https://huggingface.co/api/models?cursor=c{n + 1}>; rel="next"'}))
    pages = fetch(root, "huggingface")
    assert [p.payload[0]["id"] for p in pages] == ["org/m1", "org/m2", "org/m3"]
    assert pages[0].headers["link"].endswith('cursor=c2>; rel="next"')
    assert "link" not in pages[2].headers
    # A headers file is not a snapshot of its own.
    transport = ReplayTransport(root)
    assert [p.name for _, p in transport.snapshots("huggingface")] == ["2026-01-02.page-1.json"]


def test_without_its_headers_file_a_link_paged_recording_is_one_page(tmp_path):
    root = tmp_path / "replay"
    (root / "huggingface").mkdir(parents=True)
    for n in (1, 2):
        (root / "huggingface" / f"2026-01-02.page-{n}.json").write_text(json.dumps([{"id": "a/b"}]))
    assert len(fetch(root, "huggingface")) == 1


def test_run_params_name_the_variant_for_every_page_but_spec_defaults_do_not(tmp_path):
    root = tmp_path / "replay"
    (root / "huggingface").mkdir(parents=True)
    for n, name in ((1, "2026-01-02.pipeline_tag-text2text-generation.page-1"),
                    (2, "2026-01-02.pipeline_tag-text2text-generation.page-2")):
        (root / "huggingface" / f"{name}.json").write_text(json.dumps([{"id": f"t/{n}"}]))
    (root / "huggingface" / "2026-01-02.pipeline_tag-text2text-generation.page-1.headers.json"
     ).write_text(json.dumps({"link": '<https://huggingface.co/api/models?cursor=x>; rel="next"'}))
    pages = fetch(root, "huggingface", params={"pipeline_tag": "text2text-generation"})
    assert [p.payload[0]["id"] for p in pages] == ["t/1", "t/2"]
