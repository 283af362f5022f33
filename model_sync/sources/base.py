"""What a source is: a spec (endpoint, auth, paging, cadence) plus a pure `parse` function.

Nothing here knows about Dagster: the asset factory in `model_sync.defs` turns each spec into
an asset, a schedule and checks; the HTTP client in `model_sync.http` fetches its pages. A source
module imports all it needs from here: the parse context and helpers live in `parsing` and
`payload`, and are re-exported below.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from model_sync.catalog.contract import Offering
from model_sync.http.credentials import Credentials
from model_sync.http.listing import Listing
from model_sync.http.paging import NoPaging, Paginator
from model_sync.http.replay import query_variant
from model_sync.pricing.sheet import PriceSheet
from model_sync.sources.parsing import (
    ENTRY_ERRORS,
    EXCERPT_CHARS,
    ParseContext,
    ParseError,
    Rejection,
    excerpt,
    json_type,
    obj,
)
from model_sync.sources.payload import (
    boolean,
    components,
    day,
    entry_id,
    expect,
    integer,
    listed,
    loads,
    model_offering,
    offering,
    org_of,
    parse_entries,
    parse_listing,
    price,
    price_set,
    required,
    strings,
    text,
    unix_time,
)

__all__ = [
    "ENTRY_ERRORS", "EXCERPT_CHARS", "OFFERING_ROLES", "Auth", "FetchContext", "Offering",
    "ParseContext", "ParseError", "Parser", "PriceSheet", "Rejection", "Request", "Row",
    "SettingError", "SourceSpec", "boolean", "checked_url", "components", "day", "entry_id",
    "excerpt", "expect", "integer",
    "json_type", "listed", "loads", "model_offering", "obj", "offering", "org_of",
    "parse_entries", "parse_listing", "price", "price_set", "required", "strings", "text",
    "unix_time",
]

# provider: the provider's own API; registry: curated offerings of many providers; benchmarks and
# models: rows about models (scores, Hub metadata), kept in source_offerings, never catalog rows.
Role = Literal["provider", "registry", "benchmarks", "models"]
OFFERING_ROLES = frozenset({"provider", "registry"})

Row = dict[str, Any]


class SettingError(ValueError):
    """A source setting that cannot be used (its URL, its region); the message names where it
    was set."""


@dataclass(frozen=True)
class Auth:
    """An API key read from the environment and sent as a header."""

    env_var: str
    header: str = "Authorization"
    scheme: str = "Bearer"  # empty for a raw key (x-api-key)
    required: bool = True  # False: the key only raises limits

    def header_value(self, key: str) -> str:
        return f"{self.scheme} {key}" if self.scheme else key


Parser = Callable[[Any, ParseContext], list[Offering]]


@dataclass(frozen=True)
class Request:
    """A further listing a source fetches after its main one (one repository, one account).

    `variant` names its recording in replay (`<date>.<variant>.json`); `params` replace the
    spec's; `paging` (a paginator) defaults to the spec's.
    """

    url: str
    variant: str
    params: Mapping[str, str] = field(default_factory=dict)
    paging: Paginator | None = None


@dataclass(frozen=True)
class FetchContext:
    """What a source may use to plan further requests: the rows of its main listing, the URL it
    was read from, settings from the environment, and the Hugging Face repositories other
    sources name."""

    rows: Sequence[Offering]
    url: str | None = None  # the listing's URL (a configured one, a region's); None: the spec's
    setting: Callable[[str], str | None] = lambda _name: None
    hugging_face_ids: Sequence[str] = ()


@dataclass(frozen=True)
class SourceSpec:
    """Everything model_sync needs to know to sync one source."""

    name: str
    title: str
    description: str
    url: str
    parse: Parser
    role: Role = "provider"
    # NoPaging(), LinkNext(), LinkHeader(), PageNumber(has_more=...), Cursor(next_token=...)
    paging: Paginator = field(default_factory=NoPaging)
    params: Mapping[str, str] = field(default_factory=dict)
    auth: Auth | None = None
    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    freshness_hours: int = 24
    probe_minutes: int = 15  # how often the change sensor probes the first page
    min_rows: int = 1
    max_pages: int = 200
    # The number of entries the API says it has (read from each page); fewer rows is a shortfall.
    advertised_total: Callable[[Any], int | None] | None = None
    max_rows: int | None = None  # stop after this many rows (a top-N selection)
    extra_requests: Callable[[FetchContext], Iterable[Request]] | None = None
    max_extra_requests: int = 200
    regions: Mapping[str, str] = field(default_factory=dict)  # region -> URL of its endpoint
    region_env: str | None = None  # the variable choosing the region; default: the first
    docs_url: str | None = None

    @property
    def url_env(self) -> str:
        """The variable that replaces the source's URL: `MODEL_SYNC_<SOURCE>_URL`."""
        return f"MODEL_SYNC_{self.name.upper()}_URL"

    def endpoint(self, region: str | None,
                 url: str | None = None) -> tuple[str, str | None]:
        """The URL to read and its region: `url` when one is configured, else the chosen
        region's endpoint (default the first listed), else the spec's `url`."""
        if not self.regions:
            return url or self.url, None
        chosen = region or next(iter(self.regions))
        if chosen not in self.regions:
            known = ", ".join(self.regions)
            raise SettingError(f"{self.name}: unknown region {chosen!r} in {self.region_env}; "
                               f"known: {known}")
        return url or self.regions[chosen], chosen

    def credentials(self, api_key: str | None,
                    override: str | None = None) -> Credentials | None:
        """The auth header for `api_key`, for the origins of the source's `url` and regional
        endpoints only, or of `override` alone (the URL configured in their place)."""
        if self.auth is None or not api_key:
            return None
        urls = [override] if override else [self.url, *self.regions.values()]
        return Credentials.for_urls({self.auth.header: self.auth.header_value(api_key)}, urls)

    def listing(self, *, api_key: str | None = None, url: str | None = None,
                override: str | None = None, params: Mapping[str, str] | None = None,
                request: Request | None = None) -> Listing:
        """What the HTTP client fetches: the listing at `url` (default `override`, else the
        spec's) with the spec's query plus `params` (which name the replay variant), or the
        further `request`."""
        credentials = self.credentials(api_key, override)
        if request is not None:
            return Listing(self.name, request.url, dict(request.params),
                           request.paging or self.paging, credentials, request.variant,
                           self.max_pages)
        return Listing(self.name, url or override or self.url, {**self.params, **(params or {})},
                       self.paging, credentials, query_variant(params), self.max_pages)


def checked_url(value: str, source: str, setting: str) -> str:
    """`value` (stripped) when it is an http(s) URL with a host, else a SettingError naming the
    source and the `setting` it came from (a password in the value is masked)."""
    url = value.strip()
    try:
        parts = urlsplit(url)
        usable = (parts.scheme in ("http", "https") and bool(parts.hostname)
                  and not any(c.isspace() for c in url))
        _port = parts.port  # a port that is not a number raises here
    except ValueError:
        usable = False
    if not usable:
        shown = re.sub(r"//[^/?#]*@", "//***@", url)[:200]  # no credentials in the message
        raise SettingError(f"{source}: {setting} must be an http(s) URL such as "
                           f"https://host/path, got {shown!r}")
    return url
