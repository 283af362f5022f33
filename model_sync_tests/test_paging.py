"""Paginators and listings: the client pages plain values, and one spec can be fetched many
times at once; a page's JSON is decoded by the HTTP layer."""

import dataclasses
import json
from decimal import Decimal

import httpx
import pytest

from model_sync.http import BodyError, Credentials, FetchError, Listing, SourceClient
from model_sync.http.body import RepeatedKeys, decode
from model_sync.http.paging import Cursor, LinkHeader, LinkNext, NoPaging, PageNumber
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import FetchContext, ParseError, loads

FIREWORKS = SOURCES_BY_NAME["fireworks"]
OPENROUTER = SOURCES_BY_NAME["openrouter"]


def serve(handler) -> tuple[SourceClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return SourceClient(transport=httpx.MockTransport(answer), sleep=lambda _s: None), seen


def test_a_listing_of_plain_values_is_paged_with_its_own_parameter_names():
    def handler(request):
        page = int(request.url.params["p"])
        return httpx.Response(200, json={"items": [page], "more": page < 3})

    c, seen = serve(handler)
    listing = Listing(
        "catalog", "https://api.example.test/v1/items", {"kind": "chat"},
        PageNumber(param="p", has_more=lambda payload: payload["more"]),
        Credentials.for_urls({"x-token": "t0k3n"}, ["https://api.example.test/"]))
    pages = list(c.fetch_pages(listing))
    assert [p.payload["items"] for p in pages] == [[1], [2], [3]]
    assert [dict(r.url.params) for r in seen] == [{"kind": "chat", "p": str(n)} for n in (1, 2, 3)]
    assert all(r.headers["x-token"] == "t0k3n" for r in seen)
    assert [p.url for p in pages][-1] == "https://api.example.test/v1/items?kind=chat&p=3"


def test_a_cursor_is_sent_under_its_own_name_and_errors_name_the_listing():
    def handler(request):
        after = request.url.params.get("after")
        return httpx.Response(200, json={"next": {None: "a", "a": "b", "b": "a"}[after]})

    c, seen = serve(handler)
    listing = Listing("feed", "https://api.example.test/feed",
                      paging=Cursor(param="after", next_token=lambda payload: payload["next"]))
    with pytest.raises(FetchError, match="^feed: GET https://api.example.test/feed\\?after=b: "
                                         "page 3 gives a page token already followed"):
        list(c.fetch_pages(listing))
    assert [r.url.params.get("after") for r in seen] == [None, "a", "b"]


def fireworks_api(request: httpx.Request) -> httpx.Response:
    token = request.url.params.get("pageToken")
    following = {None: "tok1", "tok1": "tok2", "tok2": ""}[token]
    return httpx.Response(200, json={"models": [{"name": f"accounts/fireworks/models/{token}"}],
                                     "nextPageToken": following})


def test_one_spec_is_fetched_twice_at_once_without_sharing_its_paging_state():
    c, seen = serve(fireworks_api)
    first = c.fetch_pages(FIREWORKS.listing(api_key="fw"))
    second = c.fetch_pages(FIREWORKS.listing(api_key="fw"))
    pages: dict[str, list] = {"first": [], "second": []}
    for _ in range(3):  # page by page, in turn: each fetch follows the same tokens
        pages["first"].append(next(first).payload["models"][0]["name"])
        pages["second"].append(next(second).payload["models"][0]["name"])
    assert next(first, None) is None and next(second, None) is None
    assert pages["first"] == pages["second"] == [
        "accounts/fireworks/models/None", "accounts/fireworks/models/tok1",
        "accounts/fireworks/models/tok2"]
    assert len(seen) == 6
    assert len(list(c.fetch_pages(FIREWORKS.listing(api_key="fw")))) == 3  # and once more


def test_link_paging_of_one_spec_twice_at_once_is_no_paging_loop():
    def handler(request):
        offset = int(request.url.params.get("offset", "0"))
        following = f"/api/v1/models?offset={offset + 1}" if offset < 2 else None
        return httpx.Response(200, json={"data": [], "links": {"next": following}})

    c, _ = serve(handler)
    first, second = (c.fetch_pages(OPENROUTER.listing()) for _ in range(2))
    # the second follows the links the first has already followed, while the first is open
    numbers = [next(first).number for _ in range(3)] + [next(second).number for _ in range(3)]
    assert numbers == [1, 2, 3, 1, 2, 3]
    assert next(first, None) is None and next(second, None) is None


def test_paginators_are_frozen_descriptions():
    paging = FIREWORKS.paging
    with pytest.raises(dataclasses.FrozenInstanceError):
        paging.param = "cursor"
    c, _ = serve(fireworks_api)
    list(c.fetch_pages(FIREWORKS.listing(api_key="fw")))
    assert FIREWORKS.paging == paging and vars(paging) == {"param": "pageToken",
                                                           "next_token": paging.next_token}
    assert NoPaging() == NoPaging() and LinkNext() == LinkNext() and LinkHeader() != LinkNext()
    assert (NoPaging.paged, LinkNext.paged, PageNumber.paged, Cursor.paged) == (
        False, True, True, True)


def test_a_further_request_declares_its_own_paginator():
    hf = SOURCES_BY_NAME["huggingface"]
    [request] = hf.extra_requests(FetchContext(rows=[], hugging_face_ids=["Qwen/Qwen3.8-27B"]))
    listing = hf.listing(request=request, api_key="hf_x")
    assert (listing.paging, hf.paging) == (NoPaging(), LinkHeader())
    assert listing.variant == "repo-Qwen--Qwen3.8-27B" and dict(listing.query) == dict(
        request.params)
    assert hf.listing(params={"pipeline_tag": "x"}).variant == "pipeline_tag-x"
    assert hf.listing().variant is None  # the spec's own query names no variant


def test_the_probe_asks_for_the_first_page_of_a_page_number_listing():
    c, seen = serve(lambda request: httpx.Response(200, json={"data": []}))
    aa = SOURCES_BY_NAME["artificial_analysis"]
    probe = c.probe(aa.listing(api_key="aa-key"))
    assert probe.changed and set(probe.validators) == {"sha256"}
    [request] = seen
    assert request.url.params["page"] == "1" and request.headers["x-api-key"] == "aa-key"


# -- a page's JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the response body is empty"),
    (b" \n", "the response body is empty"),
    (b"<html>maintenance</html>", "the response is not valid JSON"),
])
def test_a_body_that_is_not_json_is_a_body_error_and_a_parse_error_from_loads(body, message):
    with pytest.raises(BodyError) as decoded:
        decode(body, "groq")
    assert not isinstance(decoded.value, ParseError)
    with pytest.raises(ParseError) as parsed:
        loads(body, "groq")
    assert isinstance(parsed.value, BodyError)
    assert str(decoded.value) == str(parsed.value) and str(parsed.value).startswith(
        f"groq: {message}")
    assert (parsed.value.source, parsed.value.message) == ("groq", decoded.value.message)


def test_decoding_keeps_decimals_exact_and_remembers_repeated_keys():
    payload = decode(b'{"a": {"p": 0.1, "p": 0.2}, "b": {"q": 1, "q": 1}, "c": 1e-7}', "x")
    assert payload["c"] == Decimal("1E-7") and isinstance(payload["c"], Decimal)
    assert isinstance(payload["a"], RepeatedKeys)
    assert payload["a"].repeats == {"p": [Decimal("0.1"), Decimal("0.2")]}
    assert not isinstance(payload["b"], RepeatedKeys)  # the same value twice loses nothing
    assert loads(json.dumps({"x": "1.5"}), "x") == {"x": "1.5"}


def test_an_entry_error_still_names_its_entry_and_field():
    error = ParseError("openrouter", "required field is missing", entry="a/b", field="id")
    assert str(error) == "openrouter: entry 'a/b': field 'id': required field is missing"
    assert error.reason == "field 'id': required field is missing"
    assert isinstance(error, BodyError) and isinstance(error, ValueError)
