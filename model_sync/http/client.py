"""One HTTP client for every source: timeouts, retries with backoff, size limits, paging."""

import errno
import hashlib
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from model_sync import __version__
from model_sync.redact import redact
from model_sync.sources.base import ParseError, SourceSpec, loads, obj

USER_AGENT = f"model_sync/{__version__} (+https://github.com/model-sync/model_sync; catalog sync)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
DEFAULT_PORTS = {"http": 80, "https": 443}
REPLAY_HEADER = "x-model-sync-replay"
SNAPSHOT_HEADER = "x-model-sync-snapshot-date"
# Not part of a snapshot's variant name: they change from page to page.
PAGING_PARAMS = frozenset({"page", "per_page", "limit", "offset", "cursor", "pageToken",
                           "pageSize"})
_UNSET: Any = object()


class FetchError(RuntimeError):
    """A source could not be fetched; the message names the source, URL and cause (never a key:
    it is redacted).

    `transient`: the cause may be gone in a minute (429, 5xx, a timeout, a dropped connection),
    so a later attempt is worth it; a 4xx, a host name that does not resolve or a bad payload
    size are not. `offline`: the host could not be reached at all (no DNS, no route).
    """

    def __init__(self, source: str, url: str, message: str, status: int | None = None, *,
                 transient: bool = False, offline: bool = False):
        super().__init__(redact(f"{source}: GET {url}: {message}"))
        self.source, self.url, self.status = source, url, status
        self.cause, self.transient, self.offline = redact(message), transient, offline


class NotRecorded(FetchError):
    """Replay mode has no recording of the request: the source is skipped, not failed."""


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


Origin = tuple[str, str, int | None]


def _origin(url: httpx.URL | str) -> Origin:
    url = httpx.URL(url)
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


@dataclass(frozen=True)
class Credentials:
    """A source's auth headers and the origins they may go to: those of the URLs the source is
    configured with (its `url` and its regional endpoints, or the URL a setting puts in their
    place), never a host a next-page link or a redirect points to."""

    headers: Mapping[str, str]
    origins: frozenset[Origin]

    @classmethod
    def of(cls, spec: SourceSpec, api_key: str | None,
           override: str | None = None) -> "Credentials | None":
        """`override` is the URL configured in place of the spec's: then only its origin gets
        the key, not the spec's own hosts."""
        if spec.auth is None or not api_key:
            return None
        urls = [override] if override else [spec.url, *spec.regions.values()]
        return cls({spec.auth.header: spec.auth.header_value(api_key)},
                   frozenset(_origin(u) for u in urls))

    def allows(self, url: httpx.URL) -> bool:
        return _origin(url) in self.origins


@dataclass
class Page:
    """One fetched page: where it came from, its decoded JSON, and the response headers."""

    url: str
    number: int
    payload: Any
    headers: httpx.Headers
    size: int
    snapshot: str | None = None  # the replayed file, in replay mode

    @property
    def snapshot_date(self) -> str | None:
        return self.headers.get(SNAPSHOT_HEADER)


@dataclass
class SourceClient:
    """Fetches a source's pages with retries; `transport` is swapped for replay or tests."""

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
            variant = _variant(params)
        extensions = {"model_sync": {"source": source, "page": page, "variant": variant,
                                     "paged": paged}}
        if self._pause > 0:
            wait, self._pause = self._pause, 0.0
            if wait > self.settings.max_retry_after_seconds:
                raise FetchError(source, _shown_url(httpx.URL(url)),
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
            shown = _shown_url(client.build_request("GET", url, params=params).url)
            try:
                response = self._exchange(client, url, params, headers, credentials,
                                          extensions, source)
                shown = _shown_url(response.request.url)
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
                if response.status_code < 400 or response.headers.get(REPLAY_HEADER) == "missing":
                    # The page is good: a spent quota delays (or stops) the next request only.
                    self._pause = rate_limit_wait(response.headers) or 0.0
                    return response
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                if response.status_code not in RETRY_STATUSES:
                    raise FetchError(source, shown, _explain(response, reason),
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
            response = self._send(client, request, source, _shown_url(request.url))
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            url, params = request.url.join(location), None  # the location carries its query
        raise FetchError(source, _shown_url(request.url), f"more than {MAX_REDIRECTS} redirects")

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
        retry_after = _retry_after(response.headers.get("retry-after")) if response else None
        if retry_after is None and response is not None:
            retry_after = rate_limit_wait(response.headers)
        if retry_after is not None:
            if retry_after > s.max_retry_after_seconds:
                raise FetchError(source, shown, f"rate limited; the server asks to retry after "
                                 f"{retry_after:.0f}s, over the {s.max_retry_after_seconds:.0f}s "
                                 "this client waits", response.status_code if response else None)
            return retry_after
        backoff = min(s.max_backoff_seconds, s.backoff_seconds * 2 ** (attempt - 1))
        return backoff * (0.5 + self.jitter() / 2)  # "equal jitter": between half and all of it

    # -- a cheap change probe --------------------------------------------------------------------

    def probe(self, spec: SourceSpec, *, previous: Mapping[str, str] | None = None,
              api_key: str | None = None, url: str | None = None,
              override: str | None = None) -> "Probe":
        """Ask whether a source's first page changed since `previous` (its validators).

        `url` is the endpoint the source is read from (its region's), default `override` (the
        URL configured in place of the spec's: then the only origin given the key) or `spec.url`.
        A conditional GET (`If-None-Match` / `If-Modified-Since`) when the last answer carried
        an ETag or Last-Modified; where the server sends neither, the SHA-256 of the first page
        is the validator. In replay mode the replayed file's name is.
        """
        previous = dict(previous or {})
        url = url or override or spec.url
        headers = {}
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
        query = dict(spec.params)
        if spec.paging == "page_param":
            query[spec.page_param] = "1"
        response = self.get(url, source=spec.name, params=query or None, headers=headers,
                            credentials=Credentials.of(spec, api_key, override))
        if response.headers.get(REPLAY_HEADER) == "missing":
            raise NotRecorded(spec.name, url, _replay_message(response), 404)
        if response.status_code == 304:
            return Probe(changed=False, validators=previous, status=304)
        if response.status_code >= 300:
            raise FetchError(spec.name, url, f"HTTP {response.status_code} on a probe",
                             response.status_code)
        validators = {k: v for k, v in (
            ("etag", response.headers.get("etag")),
            ("last_modified", response.headers.get("last-modified")),
            ("snapshot", response.headers.get(REPLAY_HEADER)),
        ) if v}
        if not validators.keys() & {"etag", "last_modified"}:
            validators["sha256"] = hashlib.sha256(response.content).hexdigest()
        changed = _identity(validators) != _identity(previous)
        return Probe(changed=changed, validators=validators, status=response.status_code)

    # -- a whole source ------------------------------------------------------------------------

    def fetch_pages(self, spec: SourceSpec, *, params: Mapping[str, str] | None = None,
                    api_key: str | None = None, url: str | None = None,
                    variant: str | None = _UNSET, base_params: Mapping[str, str] | None = None,
                    paging: str | None = None, override: str | None = None) -> Iterator[Page]:
        """Yield every page of a source, following its paging style to the end.

        `params` are the caller's query on top of the spec's (they name the replay variant);
        `url`, `variant`, `base_params` and `paging` fetch another listing of the same source.
        `override` is the URL configured in place of the spec's: the default `url`, and the only
        origin the key then goes to.
        A next-page link or token that repeats one already followed is a paging loop: it stops
        the listing with a FetchError at once.
        """
        credentials = Credentials.of(spec, api_key, override)
        base = spec.params if base_params is None else base_params
        query = {**base, **(params or {})}
        if variant is _UNSET:
            variant = _variant(params)
        paging = paging or spec.paging
        next_url: str | None = url or override or spec.url
        number = 1
        followed: set[str] = set()  # the links (or page tokens) already followed
        with self._client() as client:
            while next_url is not None:
                if number > spec.max_pages:
                    raise FetchError(spec.name, _shown_url(httpx.URL(next_url)),
                                     f"more than {spec.max_pages} pages; stopping")
                if paging == "page_param":
                    query[spec.page_param] = str(number)
                requested = next_url
                asked = str(client.build_request("GET", next_url, params=query or None).url)
                response = self.get(next_url, source=spec.name, params=query or None,
                                    page=number, client=client, variant=variant,
                                    paged=paging != "none", credentials=credentials)
                if response.headers.get(REPLAY_HEADER) == "missing":
                    if number == 1:
                        raise NotRecorded(spec.name, str(response.request.url),
                                          _replay_message(response), 404)
                    self.log.warning(f"{spec.name}: the recorded snapshot ends at page "
                                     f"{number - 1}; the live API has more pages")
                    return
                payload = loads(response.content, spec.name)
                yield Page(url=_shown_url(response.request.url), number=number, payload=payload,
                           headers=response.headers, size=len(response.content),
                           snapshot=response.headers.get(REPLAY_HEADER))
                next_url = self._next_url(spec, paging, response, payload)
                if paging in ("links_next", "link_header"):
                    query = {}  # the next link carries its own query
                    followed.update({asked, str(response.request.url)})
                    if next_url is not None and str(httpx.URL(next_url)) in followed:
                        raise FetchError(spec.name, _shown_url(httpx.URL(next_url)),
                                         f"page {number} links back to a page already read "
                                         "(a paging loop); stopping")
                elif paging == "cursor" and next_url is not None:
                    token = spec.next_cursor(payload)
                    if token in followed:
                        raise FetchError(spec.name, _shown_url(response.request.url),
                                         f"page {number} gives a page token already followed "
                                         "(a paging loop); stopping")
                    followed.add(token)
                    query[spec.cursor_param] = token
                    next_url = str(response.request.url.copy_with(query=None))
                elif paging == "page_param" and next_url is not None:
                    # the same listing (a regional endpoint, a further request), next page
                    next_url = str(httpx.URL(requested).copy_with(query=None))
                number += 1

    @staticmethod
    def _next_url(spec: SourceSpec, paging: str, response: httpx.Response,
                  payload: Any) -> str | None:
        current = str(response.request.url)
        if paging == "cursor":
            if spec.next_cursor is None:
                raise ParseError(spec.name, "cursor paging needs a next_cursor function")
            return current if spec.next_cursor(payload) else None
        if paging == "links_next":
            nxt = obj(obj(payload).get("links")).get("next")
            return urljoin(current, nxt) if isinstance(nxt, str) and nxt else None
        if paging == "link_header":
            nxt = response.links.get("next", {}).get("url")
            return urljoin(current, nxt) if nxt else None
        if paging == "page_param":
            if spec.has_more is None:
                raise ParseError(spec.name, "page_param paging needs a has_more function")
            return current if spec.has_more(payload) else None
        return None


@dataclass(frozen=True)
class Probe:
    """The answer to a change probe: whether the source changed, and its current validators."""

    changed: bool
    validators: dict[str, str]
    status: int

    @property
    def version(self) -> str:
        """A short, stable name of the source's current version, for run keys."""
        return hashlib.sha256(_identity(self.validators).encode()).hexdigest()[:16]


def _identity(validators: Mapping[str, str] | None) -> str:
    """What identifies a version: the strongest validator present."""
    for key in ("etag", "sha256", "snapshot", "last_modified"):
        if validators and validators.get(key):
            return f"{key}={validators[key]}"
    return ""


def _variant(params: Mapping[str, str] | None) -> str | None:
    """The snapshot variant of a request: its non-paging query, e.g. `output_modalities-all`."""
    parts = [f"{k}-{v}" for k, v in sorted((params or {}).items()) if k not in PAGING_PARAMS]
    return ".".join(parts) or None


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit window resets when its quota is spent, else None.

    Reads `RateLimit: "api";r=0;t=60` (draft-ietf-httpapi-ratelimit-headers-09, as the
    Hugging Face Hub sends it), the earlier `RateLimit: limit=500, remaining=0, reset=60`, and
    `RateLimit-Remaining` / `RateLimit-Reset` (also with the `X-` prefix).
    """
    waits = []
    value = headers.get("ratelimit") or ""
    # Draft 9 lists policies as `"name";r=..;t=..` items; earlier drafts one `remaining=, reset=`.
    items = [value] if "remaining=" in value else value.split(",")
    for item in items:
        fields = {}
        for part in re.split(r"[;,]", item):
            name, _, number = part.strip().partition("=")
            fields[name.strip().lower()] = number.strip().strip('"')
        wait = _spent(fields.get("r", fields.get("remaining")),
                      fields.get("t", fields.get("reset")))
        if wait is not None:
            waits.append(wait)
    for prefix in ("ratelimit-", "x-ratelimit-"):
        wait = _spent(headers.get(prefix + "remaining"), headers.get(prefix + "reset"))
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def _spent(remaining: str | None, reset: str | None) -> float | None:
    try:
        if remaining is None or reset is None or float(remaining) > 0:
            return None
        seconds = float(reset)
    except ValueError:
        return None
    if seconds > 1_000_000_000:  # an epoch timestamp, not a delay
        seconds -= datetime.now(UTC).timestamp()
    return max(0.0, seconds)


def _shown_url(url: httpx.URL) -> str:
    """The URL as logged: without userinfo, and with secret-looking query values masked."""
    masked = [(k, "***" if any(s in k.lower() for s in ("key", "token", "secret")) else v)
              for k, v in url.params.multi_items()]
    return str(url.copy_with(userinfo=b"", params=masked or None))


def unreachable(exc: BaseException) -> bool:
    """Whether a transport error means the host cannot be reached at all: its name does not
    resolve, or there is no route to it (as opposed to a refused or dropped connection)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, socket.gaierror):
            return True
        if isinstance(error, OSError) and error.errno in _UNREACHABLE:
            return True
        error = error.__cause__ or error.__context__
    text = str(exc).lower()
    return any(marker in text for marker in _UNRESOLVED)


_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_UNRESOLVED = ("name or service not known", "nodename nor servname", "name resolution",
               "no address associated", "network is unreachable", "no route to host")


def _replay_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text or "no recorded snapshot"


def _explain(response: httpx.Response, reason: str) -> str:
    if response.status_code in (401, 403):
        return f"{reason}: the API key was refused or is missing"
    # Redacted before it is cut, so no key is cut in two and half of it shown.
    snippet = redact(response.text[:4000])[:200].strip().replace("\n", " ")
    return f"{reason}: {snippet}" if snippet else reason


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
