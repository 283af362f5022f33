"""One HTTP client for every listing: timeouts, retries with backoff, size limits, paging.

It knows no source: a `Listing` gives it a name (for logs, errors and replay), a URL, a query,
a paginator and the credentials, as plain values.
"""

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from model_sync import __version__
from model_sync.http.credentials import Credentials
from model_sync.http.errors import FetchError, NotRecorded, explain, shown_url
from model_sync.http.listing import Listing, Page
from model_sync.http.paging import NoPaging, PageState, PagingLoop
from model_sync.http.probe import Probe, conditional_headers
from model_sync.http.replay import REPLAY_HEADER, query_variant
from model_sync.http.retry import rate_limit_wait, retry_after, unreachable
from model_sync.redact import redact

USER_AGENT = f"model_sync/{__version__} (+https://github.com/model-sync/model_sync; catalog sync)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
_UNSET: Any = object()


@dataclass(frozen=True)
class HttpSettings:
    """Limits for every request; the defaults suit public catalog APIs."""

    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    max_retries: int = 4
    max_offline_retries: int = 1  # a host that does not resolve: one quick retry, no more
    offline_retry_seconds: float = 0.5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    max_response_bytes: int = 64 * 1024 * 1024
    user_agent: str = USER_AGENT


@dataclass
class SourceClient:
    """Fetches the pages of listings with retries; `transport` is swapped for replay or tests."""

    settings: HttpSettings = field(default_factory=HttpSettings)
    transport: httpx.BaseTransport | None = None
    log: logging.Logger | Any = field(default_factory=lambda: logging.getLogger("model_sync.http"))
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    requests_made: int = 0
    rate_limit_waits: list[float] = field(default_factory=list)
    _pause: float = 0.0  # the quota is spent: wait this long before the next request
    _withheld: set[tuple[str, str]] = field(default_factory=set)  # (source, host) warned about

    def _client(self) -> httpx.Client:
        s = self.settings
        timeout = httpx.Timeout(s.timeout_seconds, connect=s.connect_timeout_seconds)
        return httpx.Client(
            transport=self.transport,
            timeout=timeout,
            headers={"User-Agent": s.user_agent, "Accept": "application/json"},
            follow_redirects=False,  # followed by `_exchange`, which decides where keys go
        )

    # -- one request ---------------------------------------------------------------------------

    def get(self, url: str, *, source: str, params: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None, page: int = 1,
            client: httpx.Client | None = None, variant: str | None = _UNSET,
            paged: bool = False, credentials: Credentials | None = None) -> httpx.Response:
        """GET with retries on 429/5xx/timeouts; returns a response whose body is read.

        Redirects are followed; `credentials` (the auth headers) go only to their own origins,
        on the first request and on every redirect. When the previous response said the
        rate-limit quota is spent (`RateLimit` headers), waits for the window to reset first, or
        fails when that is longer than the client waits.
        """
        if client is None:
            with self._client() as own:
                return self.get(url, source=source, params=params, headers=headers, page=page,
                                client=own, variant=variant, paged=paged,
                                credentials=credentials)
        if variant is _UNSET:
            variant = query_variant(params)
        extensions = {"model_sync": {"source": source, "page": page, "variant": variant,
                                     "paged": paged}}
        if self._pause > 0:
            wait, self._pause = self._pause, 0.0
            if wait > self.settings.max_retry_after_seconds:
                raise FetchError(source, shown_url(httpx.URL(url)),
                                 f"rate-limit quota spent; it resets in {wait:.0f}s, over the "
                                 f"{self.settings.max_retry_after_seconds:.0f}s this client "
                                 "waits")
            self.log.warning(f"{source}: rate-limit quota spent; waiting {wait:.0f}s for the "
                             "window to reset")
            self.rate_limit_waits.append(wait)
            self.sleep(wait)
        attempt = 0
        while True:
            attempt += 1
            shown = shown_url(client.build_request("GET", url, params=params).url)
            try:
                response = self._exchange(client, url, params, headers, credentials,
                                          extensions, source)
                shown = shown_url(response.request.url)
            except httpx.TimeoutException as exc:
                reason = f"timed out ({type(exc).__name__})"
                response = None
            except httpx.TransportError as exc:
                host = httpx.URL(url).host
                if unreachable(exc):
                    # No DNS or no route: a resolver hiccup is possible, a missing network is
                    # not worth minutes of backoff.
                    if attempt > self.settings.max_offline_retries:
                        raise FetchError(source, shown, f"cannot reach {host} ({exc}); gave up "
                                         f"after {attempt} attempts", offline=True) from None
                    self.log.warning(f"{source}: cannot reach {host} ({exc}); retrying once")
                    self.sleep(self.settings.offline_retry_seconds)
                    continue
                reason = f"connection failed ({type(exc).__name__}: {exc})"
                response = None
            else:
                if response.status_code < 400:
                    # The page is good: a spent quota delays (or stops) the next request only.
                    self._pause = rate_limit_wait(response.headers) or 0.0
                    return response
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                if response.status_code not in RETRY_STATUSES:
                    raise FetchError(source, shown, explain(response, reason),
                                     response.status_code)
            if attempt > self.settings.max_retries:
                status = response.status_code if response is not None else None
                raise FetchError(source, shown, f"{reason}; gave up after {attempt} attempts",
                                 status, transient=True)
            delay = self._delay(attempt, response, source, shown)
            self.log.warning(redact(f"{source}: GET {shown}: {reason}; retry {attempt} of "
                                    f"{self.settings.max_retries} in {delay:.1f}s"))
            self.sleep(delay)

    def _exchange(self, client: httpx.Client, url: str | httpx.URL,
                  params: Mapping[str, str] | None, headers: Mapping[str, str] | None,
                  credentials: Credentials | None, extensions: dict,
                  source: str) -> httpx.Response:
        """One request and its redirects. Each hop gets the auth headers only when it goes to
        one of their origins: a redirect to another host never carries a key."""
        for _hop in range(MAX_REDIRECTS + 1):
            request = client.build_request("GET", url, params=params, headers=headers,
                                           extensions=extensions)
            self._authorize(request, credentials, source)
            self.requests_made += 1
            response = self._send(client, request, source, shown_url(request.url))
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            url, params = request.url.join(location), None  # the location carries its query
        raise FetchError(source, shown_url(request.url), f"more than {MAX_REDIRECTS} redirects")

    def _authorize(self, request: httpx.Request, credentials: Credentials | None,
                   source: str) -> None:
        if credentials is None:
            return
        if credentials.allows(request.url):
            request.headers.update(credentials.headers)
            return
        host = request.url.host
        if (source, host) not in self._withheld:
            self._withheld.add((source, host))
            self.log.warning(f"{source}: not sending the API key to {host}: it is not the host "
                             "of the source's API")

    def _send(self, client: httpx.Client, request: httpx.Request, source: str,
              shown: str) -> httpx.Response:
        limit = self.settings.max_response_bytes
        response = client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise FetchError(source, shown, f"response of {int(declared):,} bytes is over "
                                 f"the {limit:,} byte limit")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FetchError(source, shown, f"response is over the {limit:,} byte limit")
                chunks.append(chunk)
        finally:
            response.close()
        return httpx.Response(response.status_code, headers=response.headers,
                              content=b"".join(chunks), request=request)

    def _delay(self, attempt: int, response: httpx.Response | None, source: str,
               shown: str) -> float:
        s = self.settings
        wait = retry_after(response.headers.get("retry-after")) if response else None
        if wait is None and response is not None:
            wait = rate_limit_wait(response.headers)
        if wait is not None:
            if wait > s.max_retry_after_seconds:
                raise FetchError(source, shown, f"rate limited; the server asks to retry after "
                                 f"{wait:.0f}s, over the {s.max_retry_after_seconds:.0f}s "
                                 "this client waits", response.status_code if response else None)
            return wait
        backoff = min(s.max_backoff_seconds, s.backoff_seconds * 2 ** (attempt - 1))
        return backoff * (0.5 + self.jitter() / 2)  # "equal jitter": between half and all of it

    # -- a cheap change probe --------------------------------------------------------------------

    def probe(self, listing: Listing, *, previous: Mapping[str, str] | None = None) -> "Probe":
        """Ask whether a listing's first page changed since `previous` (its validators).

        A conditional GET (`If-None-Match` / `If-Modified-Since`) when the last answer carried
        an ETag or Last-Modified; where the server sends neither, the SHA-256 of the first page
        is the validator. In replay mode the replayed file's name is.
        """
        previous = dict(previous or {})
        headers = conditional_headers(previous)
        query = listing.paging.first(listing.query)
        response = self.get(listing.url, source=listing.name, params=query or None,
                            headers=headers, credentials=listing.credentials)
        if response.status_code == 304:
            return Probe(changed=False, validators=previous, status=304)
        if response.status_code >= 300:
            raise FetchError(listing.name, listing.url,
                             f"HTTP {response.status_code} on a probe", response.status_code)
        return Probe.of(response, previous)

    # -- a whole listing -----------------------------------------------------------------------

    def fetch_pages(self, listing: Listing) -> Iterator[Page]:
        """Yield every page of a listing, following its paginator to the end.

        A next-page link or token that repeats one already followed is a paging loop: it stops
        the listing with a FetchError at once. In replay mode a recording that ends before the
        listing does ends it with a warning.
        """
        name, paging = listing.name, listing.paging
        state = PageState(url=listing.url, query=paging.first(listing.query))
        with self._client() as client:
            while True:
                if state.number > listing.max_pages:
                    raise FetchError(name, shown_url(httpx.URL(state.url)),
                                     f"more than {listing.max_pages} pages; stopping")
                try:
                    response = self.get(state.url, source=name, params=state.query or None,
                                        page=state.number, client=client,
                                        variant=listing.variant, paged=paging.paged,
                                        credentials=listing.credentials)
                except NotRecorded:
                    if state.number == 1:
                        raise
                    self.log.warning(f"{name}: the recorded snapshot ends at page "
                                     f"{state.number - 1}; the live API has more pages")
                    return
                page = Page(url=shown_url(response.request.url), number=state.number,
                            body=response.content, headers=response.headers,
                            size=len(response.content), source=name,
                            snapshot=response.headers.get(REPLAY_HEADER),
                            digest=hashlib.sha256(response.content).hexdigest())
                yield page
                try:  # a single page is not decoded for its paging
                    following = paging.next_page(state, response, None if isinstance(
                        paging, NoPaging) else page.payload)
                except PagingLoop as loop:
                    raise FetchError(name, shown_url(httpx.URL(loop.url)),
                                     f"page {state.number} {loop.what} (a paging loop); "
                                     "stopping") from None
                if following is None:
                    return
                state.url, state.query = following
                state.number += 1
