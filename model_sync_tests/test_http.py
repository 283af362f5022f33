"""The HTTP client against httpx.MockTransport: paging, retries, limits, bad bodies, secrets."""

import dataclasses
import json
import logging

import httpx
import pytest

from model_sync.http import BodyError, FetchError, HttpSettings, SourceClient
from model_sync.http.paging import LinkNext
from model_sync.sources import SOURCES_BY_NAME

OPENROUTER = SOURCES_BY_NAME["openrouter"]
AA = SOURCES_BY_NAME["artificial_analysis"]
GROQ = SOURCES_BY_NAME["groq"]


class Recorder:
    """A MockTransport handler that answers from a list and records every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(handler, **settings) -> tuple[SourceClient, list[float]]:
    delays: list[float] = []
    c = SourceClient(settings=HttpSettings(**settings), transport=httpx.MockTransport(handler),
                     sleep=delays.append, jitter=lambda: 1.0)
    return c, delays


def model(i: int) -> dict:
    return {"id": f"lab/m{i}", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}


def test_follows_links_next_until_null():
    handler = Recorder(
        httpx.Response(200, json={"data": [model(1)],
                                  "links": {"next": "/api/v1/models?offset=1"}}),
        httpx.Response(200, json={"data": [model(2)], "links": {"next": None}}),
    )
    c, _ = client(handler)
    pages = list(c.fetch_pages(OPENROUTER.listing()))
    assert [p.number for p in pages] == [1, 2]
    assert str(handler.requests[1].url) == "https://openrouter.ai/api/v1/models?offset=1"


def test_page_param_paging_stops_when_has_more_is_false():
    def page(n, more):
        return httpx.Response(200, json={"pagination": {"page": n, "has_more": more},
                                         "data": [{"id": f"u{n}", "slug": f"s{n}"}]})
    handler = Recorder(page(1, True), page(2, True), page(3, False))
    c, _ = client(handler)
    pages = list(c.fetch_pages(AA.listing(api_key="k")))
    assert len(pages) == 3
    assert [r.url.params["page"] for r in handler.requests] == ["1", "2", "3"]
    assert all(r.headers["x-api-key"] == "k" for r in handler.requests)


def test_runaway_paging_is_stopped():
    handler = Recorder(*[httpx.Response(200, json={"pagination": {"has_more": True},
                                                   "data": []}) for _ in range(30)])
    c, _ = client(handler)
    with pytest.raises(FetchError, match="more than 20 pages"):
        list(c.fetch_pages(AA.listing()))


def test_429_waits_as_long_as_retry_after_says():
    handler = Recorder(httpx.Response(429, headers={"Retry-After": "7"}),
                       httpx.Response(200, json={"data": []}))
    c, delays = client(handler)
    response = c.get("https://x.test/models", source="groq")
    assert response.status_code == 200
    assert delays == [7.0]


def test_retry_after_longer_than_allowed_fails_clearly():
    handler = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
    c, delays = client(handler)
    with pytest.raises(FetchError, match="retry after 3600s"):
        c.get("https://x.test/models", source="groq")
    assert delays == []


def test_5xx_is_retried_with_exponential_backoff_then_succeeds():
    handler = Recorder(httpx.Response(503), httpx.Response(502), httpx.Response(500),
                       httpx.Response(200, json={"data": []}))
    c, delays = client(handler, backoff_seconds=1.0)
    assert c.get("https://x.test/models", source="groq").status_code == 200
    assert delays == [1.0, 2.0, 4.0]  # jitter pinned to its maximum


def test_backoff_jitter_stays_between_half_and_all_of_the_delay():
    handler = Recorder(httpx.Response(503), httpx.Response(200, json={}))
    c, delays = client(handler, backoff_seconds=10.0)
    c.jitter = lambda: 0.0
    c.get("https://x.test/models", source="groq")
    assert delays == [5.0]


def test_5xx_gives_up_after_max_retries():
    handler = Recorder(*[httpx.Response(500) for _ in range(3)])
    c, delays = client(handler, max_retries=2)
    with pytest.raises(FetchError, match="HTTP 500.*gave up after 3 attempts") as err:
        c.get("https://x.test/models", source="deepinfra")
    assert err.value.status == 500
    assert len(delays) == 2


def test_timeout_is_retried_then_reported():
    handler = Recorder(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"))
    c, _ = client(handler, max_retries=1)
    with pytest.raises(FetchError, match="timed out"):
        c.get("https://x.test/models", source="openrouter")
    assert len(handler.requests) == 2


def test_4xx_is_not_retried_and_401_mentions_the_key():
    handler = Recorder(httpx.Response(401, json={"error": "bad key"}))
    c, delays = client(handler)
    with pytest.raises(FetchError, match="401.*API key was refused"):
        c.get("https://x.test/models", source="groq")
    assert delays == []


def test_malformed_body_fails_with_the_source_name():
    handler = Recorder(httpx.Response(200, content=b"<html>maintenance</html>"))
    c, _ = client(handler)
    with pytest.raises(BodyError, match="^openrouter: the response is not valid JSON"):
        list(c.fetch_pages(OPENROUTER.listing()))


def test_oversized_response_is_refused():
    big = json.dumps({"data": ["x" * 2000]}).encode()
    handler = Recorder(httpx.Response(200, content=big))
    c, _ = client(handler, max_response_bytes=1000)
    with pytest.raises(FetchError, match="over the 1,000 byte limit"):
        c.get("https://x.test/models", source="openrouter")


def test_user_agent_and_key_header_are_sent_but_the_key_is_never_logged(caplog):
    secret = "gsk_live_SECRET_value"
    handler = Recorder(httpx.Response(503), httpx.Response(200, json={"data": []}))
    c, _ = client(handler)
    c.log = logging.getLogger("test.http")
    with caplog.at_level(logging.DEBUG):
        list(c.fetch_pages(GROQ.listing(api_key=secret)))
    request = handler.requests[0]
    assert request.headers["authorization"] == f"Bearer {secret}"
    assert request.headers["user-agent"].startswith("model_sync/")
    assert "retry 1 of 4" in caplog.text
    assert secret not in caplog.text


def test_secret_query_values_are_masked_in_errors():
    handler = Recorder(httpx.Response(404))
    c, _ = client(handler)
    with pytest.raises(FetchError) as err:
        c.get("https://x.test/models", source="x", params={"api_key": "SECRET", "q": "1"})
    assert "SECRET" not in str(err.value) and "q=1" in str(err.value)


# -- rate limits (RateLimit headers), cursor and Link-header paging -------------------------------

HF = SOURCES_BY_NAME["huggingface"]
FIREWORKS = SOURCES_BY_NAME["fireworks"]
FEATHERLESS = SOURCES_BY_NAME["featherless"]


def hf_page(ids, next_cursor=None, **headers):
    if next_cursor:
        headers["link"] = (f'<https://huggingface.co/api/models?limit=2&cursor={next_cursor}>; '
                           'rel="next"')
    return httpx.Response(200, json=[{"id": i} for i in ids], headers=headers)


def test_link_header_paging_follows_the_opaque_cursor_to_the_end():
    handler = Recorder(hf_page(["a/1", "a/2"], "Y3Vyc29yMQ"), hf_page(["a/3", "a/4"], "Y3Vy2"),
                       hf_page(["a/5"]))
    c, _ = client(handler)
    pages = list(c.fetch_pages(HF.listing()))
    assert [len(p.payload) for p in pages] == [2, 2, 1]
    first = handler.requests[0].url
    assert first.params["pipeline_tag"] == "text-generation"
    assert first.params["sort"] == "downloads" and first.params["direction"] == "-1"
    assert first.params.get_list("expand[]")[:2] == ["downloads", "likes"]
    assert handler.requests[1].url.params["cursor"] == "Y3Vyc29yMQ"
    assert "pipeline_tag" not in handler.requests[1].url.params  # the link carries its query


def test_spent_quota_waits_for_the_window_before_the_next_request():
    # draft-ietf-httpapi-ratelimit-headers-09, as the Hugging Face Hub sends it
    handler = Recorder(hf_page(["a/1"], "c2", ratelimit='"api";r=0;t=42',
                               **{"ratelimit-policy": '"fixed window";"api";q=500;w=300'}),
                       hf_page(["a/2"]))
    c, delays = client(handler)
    assert len(list(c.fetch_pages(HF.listing()))) == 2
    assert delays == [42.0] and c.rate_limit_waits == [42.0]


def test_quota_left_means_no_wait():
    handler = Recorder(hf_page(["a/1"], "c2", ratelimit='"api";r=17;t=42'), hf_page(["a/2"]))
    c, delays = client(handler)
    list(c.fetch_pages(HF.listing()))
    assert delays == []


@pytest.mark.parametrize("headers", [
    {"RateLimit-Remaining": "0", "RateLimit-Reset": "9"},
    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9"},
    {"RateLimit": "limit=500, remaining=0, reset=9"},
])
def test_older_rate_limit_headers_are_honoured(headers):
    handler = Recorder(httpx.Response(200, json={"data": []}, headers=headers),
                       httpx.Response(200, json={"data": []}))
    c, delays = client(handler)
    c.get("https://x.test/a", source="x")
    c.get("https://x.test/b", source="x")
    assert delays == [9.0]


def test_429_without_retry_after_waits_for_the_ratelimit_reset():
    handler = Recorder(httpx.Response(429, headers={"ratelimit": '"api";r=0;t=31'}),
                       httpx.Response(200, json=[]))
    c, delays = client(handler)
    assert c.get("https://huggingface.co/api/models", source="huggingface").status_code == 200
    assert delays == [31.0]


def test_a_quota_reset_beyond_the_wait_limit_fails_clearly():
    handler = Recorder(httpx.Response(429, headers={"ratelimit": '"api";r=0;t=900'}))
    c, _ = client(handler)
    with pytest.raises(FetchError, match="retry after 900s"):
        c.get("https://huggingface.co/api/models", source="huggingface")
    # a good answer that spends the quota is kept; the request after it fails without being sent
    handler = Recorder(httpx.Response(200, json=[], headers={"ratelimit": '"api";r=0;t=900'}))
    c, delays = client(handler)
    assert c.get("https://huggingface.co/api/models", source="huggingface").status_code == 200
    with pytest.raises(FetchError, match="quota spent; it resets in 900s, over the 300s"):
        c.get("https://huggingface.co/api/models/a/b", source="huggingface")
    assert len(handler.requests) == 1 and delays == []


def test_a_good_last_page_is_kept_when_the_quota_resets_too_late():
    handler = Recorder(hf_page(["a/1"], "c2", ratelimit='"api";r=0;t=10'),
                       hf_page(["a/2"], ratelimit='"api";r=0;t=900'))
    c, delays = client(handler)
    pages = list(c.fetch_pages(HF.listing()))
    assert [p.payload for p in pages] == [[{"id": "a/1"}], [{"id": "a/2"}]]
    assert delays == [10.0]


def test_a_spent_quota_stops_before_the_next_page_not_at_the_good_one():
    handler = Recorder(hf_page(["a/1"], "c2", ratelimit='"api";r=0;t=900'), hf_page(["a/2"]))
    c, delays = client(handler)
    listing = c.fetch_pages(HF.listing())
    assert next(listing).payload == [{"id": "a/1"}]
    with pytest.raises(FetchError, match="resets in 900s"):
        next(listing)
    assert len(handler.requests) == 1 and delays == []


def test_cursor_paging_sends_the_page_token_until_it_is_empty():
    def page(names, token):
        return httpx.Response(200, json={"models": [{"name": n} for n in names],
                                         "nextPageToken": token})
    handler = Recorder(page(["accounts/fireworks/models/a"], "tok1"),
                       page(["accounts/fireworks/models/b"], "tok2"), page([], ""))
    c, _ = client(handler)
    pages = list(c.fetch_pages(FIREWORKS.listing(api_key="fw")))
    assert len(pages) == 3
    params = [r.url.params for r in handler.requests]
    assert [p.get("pageToken") for p in params] == [None, "tok1", "tok2"]
    assert all(p["filter"] == "supports_serverless=true" for p in params)
    assert handler.requests[0].headers["authorization"] == "Bearer fw"


def test_featherless_empty_deep_page_ends_the_listing_instead_of_looping():
    def page(n, count):
        return httpx.Response(200, json={
            "data": [{"id": f"org/m{n}-{i}"} for i in range(count)],
            "pagination": {"current_page": n, "total_pages": 40, "total_items": 39_500}})
    handler = Recorder(page(1, 1000), page(2, 1000), page(3, 0), page(4, 1000))
    c, _ = client(handler)
    pages = list(c.fetch_pages(FEATHERLESS.listing()))
    assert [len(p.payload["data"]) for p in pages] == [1000, 1000, 0]
    assert [r.url.params["page"] for r in handler.requests] == ["1", "2", "3"]
    assert all(r.url.params["per_page"] == "1000" for r in handler.requests)


def test_a_run_of_full_pages_is_bounded_by_max_pages():
    handler = Recorder(*[httpx.Response(200, json={"data": [{"id": f"m{i}-{n}"}
                                                            for i in range(1000)]})
                         for n in range(70)])
    c, _ = client(handler)
    with pytest.raises(FetchError, match="more than 60 pages"):
        list(c.fetch_pages(FEATHERLESS.listing()))


# -- paging loops, the URL that is paged, and where keys go ---------------------------------------


def test_a_repeated_next_link_is_a_paging_loop():
    handler = Recorder(
        httpx.Response(200, json={"data": [model(1)], "links": {"next": "/api/v1/models?o=1"}}),
        httpx.Response(200, json={"data": [model(2)], "links": {"next": "/api/v1/models?o=1"}}),
        *[httpx.Response(200, json={"data": []}) for _ in range(5)])
    c, _ = client(handler)
    with pytest.raises(FetchError, match="page 2 links back to a page already read"):
        list(c.fetch_pages(OPENROUTER.listing()))
    assert len(handler.requests) == 2


def test_a_next_link_back_to_the_first_page_is_a_paging_loop():
    handler = Recorder(
        httpx.Response(200, json={"data": [], "links": {"next": "/api/v1/models?o=1"}}),
        httpx.Response(200, json={"data": [], "links": {"next": OPENROUTER.url}}))
    c, _ = client(handler)
    with pytest.raises(FetchError, match="paging loop"):
        list(c.fetch_pages(OPENROUTER.listing()))
    assert len(handler.requests) == 2


def test_a_link_to_the_same_path_with_another_query_is_not_a_loop():
    handler = Recorder(
        httpx.Response(200, json=[{"id": "a/1"}],
                       headers={"link": '<https://huggingface.co/api/models>; rel="next"'}),
        hf_page(["a/2"]))
    c, _ = client(handler)
    assert len(list(c.fetch_pages(HF.listing()))) == 2  # the first request had the spec's query


def test_a_repeated_link_header_cursor_is_a_paging_loop():
    handler = Recorder(hf_page(["a/1"], "c1"), hf_page(["a/2"], "c1"), hf_page(["a/3"]))
    c, _ = client(handler)
    with pytest.raises(FetchError, match="page 2 links back to a page already read"):
        list(c.fetch_pages(HF.listing()))
    assert len(handler.requests) == 2


def test_a_repeated_page_token_is_a_paging_loop():
    def page(token):
        return httpx.Response(200, json={"models": [{"name": "accounts/f/models/a"}],
                                         "nextPageToken": token})
    handler = Recorder(page("tok1"), page("tok2"), page("tok1"), page(""))
    c, _ = client(handler)
    with pytest.raises(FetchError, match="page 3 gives a page token already followed"):
        list(c.fetch_pages(FIREWORKS.listing(api_key="fw")))
    assert len(handler.requests) == 3


def test_page_number_paging_stays_on_the_url_being_paged():
    """A regional endpoint or a further request is paged in place, not on `spec.url`."""
    def page(n, more):
        return httpx.Response(200, json={"pagination": {"has_more": more},
                                         "data": [{"id": f"u{n}", "slug": f"s{n}"}]})
    handler = Recorder(page(1, True), page(2, True), page(3, False))
    c, _ = client(handler)
    regional = "https://eu.artificialanalysis.ai/api/v2/language/models/free"
    spec = dataclasses.replace(AA, regions={"us": AA.url, "eu": regional})
    pages = list(c.fetch_pages(spec.listing(url=regional, api_key="k")))
    assert len(pages) == 3
    assert [str(r.url.copy_with(query=None)) for r in handler.requests] == [regional] * 3
    assert [r.url.params["page"] for r in handler.requests] == ["1", "2", "3"]
    assert all(r.headers["x-api-key"] == "k" for r in handler.requests)


AA_LINKED = dataclasses.replace(AA, paging=LinkNext())


def test_a_next_link_to_another_host_gets_no_key(caplog):
    handler = Recorder(
        httpx.Response(200, json={"data": [], "links": {"next": "/api/v2/more?page=2"}}),
        httpx.Response(200, json={"data": [], "links": {
            "next": "https://collector.example.net/models?page=3"}}),
        httpx.Response(200, json={"data": [], "links": {"next": None}}))
    c, _ = client(handler)
    c.log = logging.getLogger("test.http")
    with caplog.at_level(logging.WARNING):
        assert len(list(c.fetch_pages(AA_LINKED.listing(api_key="aa-SECRET")))) == 3
    first, same_host, other = handler.requests
    assert first.headers["x-api-key"] == same_host.headers["x-api-key"] == "aa-SECRET"
    assert other.url.host == "collector.example.net"
    assert "x-api-key" not in other.headers and "authorization" not in other.headers
    assert "not sending the API key to collector.example.net" in caplog.text
    assert "aa-SECRET" not in caplog.text


def test_a_link_header_to_another_host_gets_no_bearer_token():
    handler = Recorder(
        httpx.Response(200, json=[{"id": "a/1"}], headers={
            "link": '<https://mirror.example.org/api/models?cursor=c2>; rel="next"'}),
        hf_page(["a/2"]))
    c, _ = client(handler)
    list(c.fetch_pages(HF.listing(api_key="hf_SECRET")))
    assert handler.requests[0].headers["authorization"] == "Bearer hf_SECRET"
    assert "authorization" not in handler.requests[1].headers


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_gets_no_key(status):
    handler = Recorder(
        httpx.Response(status, headers={"location": "https://cdn.example.com/models.json"}),
        httpx.Response(200, json={"pagination": {"has_more": False}, "data": []}))
    c, _ = client(handler)
    assert len(list(c.fetch_pages(AA.listing(api_key="aa-SECRET")))) == 1
    first, redirected = handler.requests
    assert first.headers["x-api-key"] == "aa-SECRET"
    assert str(redirected.url) == "https://cdn.example.com/models.json"
    assert "x-api-key" not in redirected.headers


def test_a_redirect_on_the_same_host_keeps_the_key_but_not_to_plain_http():
    handler = Recorder(
        httpx.Response(301, headers={"location": "/api/v2/language/models/free/v2?page=1"}),
        httpx.Response(302, headers={"location": "http://artificialanalysis.ai/plain"}),
        httpx.Response(200, json={"pagination": {"has_more": False}, "data": []}))
    c, _ = client(handler)
    response = c.get(AA.url, source=AA.name, credentials=AA.credentials("k"))
    assert response.status_code == 200 and c.requests_made == 3
    first, moved, downgraded = handler.requests
    assert moved.url.path == "/api/v2/language/models/free/v2"
    assert first.headers["x-api-key"] == moved.headers["x-api-key"] == "k"
    assert "x-api-key" not in downgraded.headers  # same host, but not the configured https origin


def test_a_source_region_endpoint_is_a_configured_origin():
    alibaba = SOURCES_BY_NAME["alibaba_cloud"]
    credentials = alibaba.credentials("k")
    for url in alibaba.regions.values():
        assert credentials.allows(httpx.URL(url))
    assert not credentials.allows(httpx.URL("https://aliyuncs.com.example.net/v1/models"))
    assert alibaba.credentials(None) is None and OPENROUTER.credentials("k") is None


def test_a_redirect_loop_fails_clearly():
    handler = Recorder(*[httpx.Response(302, headers={"location": "/again"})
                         for _ in range(20)])
    c, _ = client(handler, max_retries=0)
    with pytest.raises(FetchError, match="more than 10 redirects"):
        c.get("https://x.test/models", source="x")
    assert len(handler.requests) == 11


def test_the_probe_sends_the_key_to_its_endpoint_only():
    handler = Recorder(httpx.Response(302, headers={"location": "https://elsewhere.test/m"}),
                       httpx.Response(200, json={"data": []}))
    c, _ = client(handler)
    cn = SOURCES_BY_NAME["alibaba_cloud"].regions["cn"]
    c.probe(SOURCES_BY_NAME["alibaba_cloud"].listing(api_key="sk", url=cn))
    assert str(handler.requests[0].url) == cn
    assert handler.requests[0].headers["authorization"] == "Bearer sk"
    assert "authorization" not in handler.requests[1].headers


def test_the_clients_limits_come_from_config_then_environment_then_defaults(monkeypatch):
    from model_sync.defs.resources import HttpClientResource

    assert HttpClientResource().settings() == HttpSettings()
    monkeypatch.setenv("MODEL_SYNC_HTTP_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("MODEL_SYNC_HTTP_MAX_RETRIES", "1")
    monkeypatch.setenv("MODEL_SYNC_HTTP_BACKOFF_SECONDS", "0.01")
    settings = HttpClientResource().settings()
    assert (settings.timeout_seconds, settings.max_retries, settings.backoff_seconds) == (
        2.5, 1, 0.01)
    assert HttpClientResource(max_retries=3).settings().max_retries == 3  # config wins
    monkeypatch.setenv("MODEL_SYNC_HTTP_MAX_RETRIES", "a few")
    with pytest.raises(ValueError, match="^MODEL_SYNC_HTTP_MAX_RETRIES must be a whole number, "
                                         "got 'a few'$"):
        HttpClientResource().settings()


def test_the_largest_response_accepted_is_a_setting(monkeypatch, tmp_path):
    """A listing sent in one response of hundreds of MiB (a million models) needs a larger cap
    than the default 64 MiB; `model-sync sync` reads it from the environment."""
    from model_sync.defs.resources import HttpClientResource

    folder = tmp_path / "groq"
    folder.mkdir()
    body = {"object": "list", "data": [{"id": f"model-{i}", "owned_by": "x" * 1000}
                                       for i in range(1500)]}  # about 1.5 MiB
    (folder / "2026-01-01.json").write_text(json.dumps(body))
    spec = SOURCES_BY_NAME["groq"]
    monkeypatch.setenv("MODEL_SYNC_HTTP_MAX_RESPONSE_MB", "1")
    http = HttpClientResource(replay_dir=str(tmp_path))
    assert http.settings().max_response_bytes == 1024 * 1024
    with pytest.raises(FetchError, match="over the 1,048,576 byte limit"):
        list(http.client().fetch_pages(spec.listing()))
    monkeypatch.setenv("MODEL_SYNC_HTTP_MAX_RESPONSE_MB", "2")
    [page] = HttpClientResource(replay_dir=str(tmp_path)).client().fetch_pages(spec.listing())
    assert len(page.payload["data"]) == 1500
    assert HttpClientResource(max_response_mb=1).settings().max_response_bytes == 1024 * 1024
    monkeypatch.setenv("MODEL_SYNC_HTTP_MAX_RESPONSE_MB", "lots")
    with pytest.raises(ValueError, match="^MODEL_SYNC_HTTP_MAX_RESPONSE_MB must be a whole "
                                         "number, got 'lots'$"):
        HttpClientResource().settings()
