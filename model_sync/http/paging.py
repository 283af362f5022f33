"""Paginators: how a listing reaches its next page (the shapes of singer-sdk's
`BaseAPIPaginator` and dlt's REST client paginators).

A paginator is a frozen description a source declares once. The state of one fetch (the current
page, the links and page tokens already followed) is a `PageState` the client keeps, so one
spec can be fetched many times, and at the same time.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx

NextPage = tuple[str, dict[str, str]]  # the URL and query of a page


class PagingLoop(Exception):
    """A next page that repeats one already followed: `what` says how, `url` is shown."""

    def __init__(self, url: str, what: str):
        super().__init__(what)
        self.url, self.what = url, what


@dataclass
class PageState:
    """Where one fetch of a listing is: the URL and query of the current page, its number, and
    the links or page tokens already followed (a repeat is a paging loop)."""

    url: str
    query: dict[str, str]
    number: int = 1
    followed: set[str] = field(default_factory=set)

    @property
    def asked(self) -> str:
        """The URL asked for the current page, before any redirect."""
        return str(httpx.URL(self.url, params=self.query) if self.query else httpx.URL(self.url))


class Paginator(ABC):
    """How a listing reaches its next page, read from the response of the current one."""

    paged: ClassVar[bool] = True  # replay names each page's recording `page-N`

    def first(self, query: Mapping[str, str]) -> dict[str, str]:
        """The query of the first page."""
        return dict(query)

    @abstractmethod
    def next_page(self, state: PageState, response: httpx.Response,
                  payload: Any) -> NextPage | None:
        """The page after the current one, None after the last; a PagingLoop when it repeats
        one already followed."""


@dataclass(frozen=True)
class NoPaging(Paginator):
    """One response holds the whole listing."""

    paged: ClassVar[bool] = False

    def next_page(self, state: PageState, response: httpx.Response,
                  payload: Any) -> NextPage | None:
        return None


class _Link(Paginator):
    """The response gives the next page's URL, query included."""

    @abstractmethod
    def link(self, response: httpx.Response, payload: Any) -> str | None:
        """The next page's link as given (it may be relative), or None."""

    def next_page(self, state: PageState, response: httpx.Response,
                  payload: Any) -> NextPage | None:
        current = str(response.request.url)
        state.followed.update({state.asked, current})
        link = self.link(response, payload)
        if not link:
            return None
        url = urljoin(current, link)
        if str(httpx.URL(url)) in state.followed:
            raise PagingLoop(url, "links back to a page already read")
        return url, {}


@dataclass(frozen=True)
class LinkNext(_Link):
    """A `links.next` URL in the JSON body, null on the last page (OpenRouter)."""

    def link(self, response: httpx.Response, payload: Any) -> str | None:
        nxt = _object(_object(payload).get("links")).get("next")
        return nxt if isinstance(nxt, str) else None


@dataclass(frozen=True)
class LinkHeader(_Link):
    """A `Link: <...>; rel="next"` response header, absent on the last page (Hugging Face)."""

    def link(self, response: httpx.Response, payload: Any) -> str | None:
        return response.links.get("next", {}).get("url")


@dataclass(frozen=True, kw_only=True)
class PageNumber(Paginator):
    """`?page=1`, `?page=2`, ... on the URL being paged, while `has_more(payload)` says so."""

    param: str = "page"
    has_more: Callable[[Any], bool]

    def first(self, query: Mapping[str, str]) -> dict[str, str]:
        return {**query, self.param: "1"}

    def next_page(self, state: PageState, response: httpx.Response,
                  payload: Any) -> NextPage | None:
        if not self.has_more(payload):
            return None
        # The URL being paged (a regional endpoint, a further request), not where it redirected.
        url = str(httpx.URL(state.url).copy_with(query=None))
        return url, {**state.query, self.param: str(state.number + 1)}


@dataclass(frozen=True, kw_only=True)
class Cursor(Paginator):
    """The next page's token, read by `next_token(payload)`, sent as `?pageToken=...` until it is
    empty (Fireworks)."""

    param: str = "pageToken"
    next_token: Callable[[Any], str | None]

    def next_page(self, state: PageState, response: httpx.Response,
                  payload: Any) -> NextPage | None:
        token = self.next_token(payload)
        if not token:
            return None
        if token in state.followed:
            raise PagingLoop(str(response.request.url), "gives a page token already followed")
        state.followed.add(token)
        return str(response.request.url.copy_with(query=None)), {**state.query, self.param: token}


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
