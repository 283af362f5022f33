"""What a source is: a spec (endpoint, auth, paging, cadence) plus a pure `parse` function.

Nothing here knows about Dagster: the asset factory in `model_sync.defs` turns each spec into
an asset, a schedule and checks; the HTTP client in `model_sync.http` fetches its pages.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from model_sync.catalog.money import PriceError, exact_json, price_per_million
from model_sync.catalog.providers import canonical_provider
from model_sync.catalog.schema import OFFERING_COLUMNS
from model_sync.http.body import BodyError, decode
from model_sync.http.credentials import Credentials
from model_sync.http.listing import Listing
from model_sync.http.paging import NoPaging, Paginator
from model_sync.http.replay import query_variant

# provider: the provider's own API; registry: curated offerings of many providers; benchmarks and
# models: rows about models (scores, Hub metadata), kept in source_offerings, never catalog rows.
Role = Literal["provider", "registry", "benchmarks", "models"]
OFFERING_ROLES = frozenset({"provider", "registry"})

Row = dict[str, Any]


class ParseError(BodyError):
    """A payload (or one entry of it) that cannot be turned into offerings; names the source,
    entry and field. A body that is not JSON at all is its base, a BodyError."""

    def __init__(self, source: str, message: str, entry: str | None = None,
                 field: str | None = None):
        self.entry, self.field = entry, field
        super().__init__(source, message)

    @property
    def where(self) -> str:
        where = self.source
        if self.entry is not None:
            where += f": entry {self.entry!r}"
        if self.field is not None:
            where += f": field {self.field!r}"
        return where

    @property
    def reason(self) -> str:
        """What is wrong, without the source and entry: `field 'pricing': required ...`."""
        return f"field {self.field!r}: {self.message}" if self.field else self.message


# An entry of one of these shapes is set aside (rejected), not fatal to its source.
ENTRY_ERRORS = (ParseError, PriceError, TypeError, ValueError, AttributeError, KeyError,
                ArithmeticError)
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Rejection:
    """An entry set aside instead of failing its whole source: its key, why, and how it looked."""

    source_key: str
    reason: str  # names the field: "field 'pricing': required field is missing"
    field: str | None = None
    excerpt: str = ""  # the start of the raw entry, as compact JSON


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


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know besides the payload (which source, when it was fetched), and
    where it sets aside the entries it cannot normalize (`rejected`) and the entries that are
    not models at all (`not_models`: a schema sample, a metadata key)."""

    source: str
    fetched_at: datetime
    region: str | None = None  # the endpoint a regional source was read from (`intl`, `cn`)
    rejected: list[Rejection] = field(default_factory=list, compare=False, repr=False)
    not_models: list[tuple[str, str]] = field(default_factory=list, compare=False, repr=False)

    @property
    def today(self) -> date:
        return self.fetched_at.date()

    def listed(self, entries: Sequence[Any], build: Callable[[Any, int], Any], *,
               id_field: str = "id", prefix: str = "") -> list[Row]:
        """The rows of a JSON array of entries, `build(entry, index)` each; an entry it cannot
        normalize is rejected with its reason, the others are kept."""
        rows: list[Row] = []
        for index, entry in enumerate(entries):
            key = prefix + str(obj(entry).get(id_field) or f"#{index}")
            self._attempt(rows, key, entry, build, entry, index)
        return rows

    def keyed(self, entries: Mapping[str, Any], build: Callable[[str, Any], Any], *,
              describes_a_model: Callable[[str], bool] | None = None,
              prefix: str = "") -> list[Row]:
        """The rows of a JSON object keyed by entry, `build(key, entry)` each; an entry it
        cannot normalize is rejected with its reason. A key given twice with different values
        is rejected.

        With `describes_a_model` (for payloads that mix models and other keys), a value that is
        not a model is skipped, recognized by its shape: not an object (a `last_updated`
        stamp), an object with none of the fields a model has (`describes_a_model(field)`; a
        rule set, metadata), or a schema sample documenting the fields instead of filling them.
        """
        repeats = getattr(entries, "repeats", {})
        rows: list[Row] = []
        for name, entry in entries.items():
            key = prefix + str(name)
            if name in repeats:
                self.rejected.append(Rejection(
                    key, f"the key appears {len(repeats[name])} times in the payload with "
                         "different values; none is taken", None, excerpt(repeats[name])))
                continue
            why = describes_a_model and _not_a_model(entry, describes_a_model)
            if why:
                self.not_models.append((key, why))
                continue
            self._attempt(rows, key, entry, build, name, entry)
        return rows

    def _attempt(self, rows: list[Row], key: str, entry: Any, build, *args) -> None:
        try:
            built = build(*args)
        except ENTRY_ERRORS as exc:
            if isinstance(exc, ParseError):
                reason, name = exc.reason, exc.field
            elif isinstance(exc, PriceError):
                reason, name = str(exc), None
            else:  # a shape the mapping did not expect: a number where text belongs, ...
                reason, name = f"unexpected shape ({type(exc).__name__}: {exc})", None
            self.rejected.append(Rejection(key, reason, name, excerpt(entry)))
            return
        if isinstance(built, list):
            rows.extend(built)
        elif built is not None:
            rows.append(built)


def excerpt(entry: Any, limit: int = EXCERPT_CHARS) -> str:
    """The start of a raw entry as compact JSON, for a rejection record."""
    try:
        text = exact_json(entry, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(entry)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _prose(value: Any) -> bool:
    return isinstance(value, str) and len(value.split()) >= 4


def _not_a_model(entry: Any, describes_a_model: Callable[[str], bool]) -> str | None:
    """Why a keyed value is not a model entry, by its shape; None when it may be one."""
    if not isinstance(entry, Mapping):
        return f"a {_json_type(entry)}, not an object (metadata)"
    if not any(describes_a_model(str(name)) for name in entry):
        return "an object without any model field (metadata or rules)"
    if sum(1 for value in entry.values() if _prose(value)) >= 3:
        return "a schema sample: its fields hold descriptions, not values"
    return None


Parser = Callable[[Any, ParseContext], list[Row]]


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

    rows: Sequence[Row]
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


# ---------------------------------------------------------------------------------------------
# Helpers shared by the parsers


def loads(body: bytes | str, source: str) -> Any:
    """Decode a JSON body as the HTTP client does (`model_sync.http.body.decode`: exact
    decimals, keys given twice remembered); a malformed or empty body is a ParseError."""
    try:
        return decode(body, source)
    except BodyError as exc:
        raise ParseError(source, exc.message) from None


def expect(value: Any, kind: type | tuple[type, ...], source: str, what: str) -> Any:
    """Require a payload's envelope to have the expected JSON type."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        shown = "nothing (it is missing)" if value is None else f"a JSON {_json_type(value)}"
        raise ParseError(source, f"expected {what} to be a JSON {_json_name(names)}, got {shown}")
    return value


def _json_name(python_name: str) -> str:
    return python_name.replace("dict", "object").replace("list", "array")


def _json_type(value: Any) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return _json_name(type(value).__name__)


def listed(payload: Any, source: str, field: str = "data") -> list[Any]:
    """The entries of a `{field: [...]}` response; anything else is a ParseError."""
    return expect(obj(payload).get(field), list, source, f"the '{field}' field of the response")


def entry_id(entry: Any, index: int, source: str, field: str = "id") -> tuple[str, str]:
    """An entry's key for messages (its id, else its position) and its required id."""
    key = str(obj(entry).get(field) or f"#{index}")
    return key, required(entry, field, source, key)


def required(entry: Mapping[str, Any], name: str, source: str, key: str) -> Any:
    """A field every entry must carry; a missing or null one fails the sync with its name."""
    if not isinstance(entry, Mapping):
        raise ParseError(source, f"expected an object, got a JSON {_json_type(entry)}", entry=key)
    value = entry.get(name)
    if value is None or value == "":
        raise ParseError(source, "required field is missing", entry=key, field=name)
    return value


def obj(value: Any) -> Mapping[str, Any]:
    """A nested object, or an empty one when absent or of the wrong type."""
    return value if isinstance(value, Mapping) else {}


def price(value: Any, unit: int, source: str, key: str, name: str, flags: set[str]):
    """A price in USD per 1M tokens; a negative one is recorded as `variable_price`."""
    try:
        amount, variable = price_per_million(value, unit)
    except PriceError as exc:
        raise ParseError(source, str(exc), entry=key, field=name) from None
    if variable:
        flags.add("variable_price")
    return amount


def price_set(values: Mapping[str, Any], fields: Iterable[tuple[str, str]], unit: int,
           source: str, key: str, flags: set[str], prefix: str = "") -> dict[str, Any]:
    """Contract prices from `(column, published field)` pairs, named `prefix + field` in errors."""
    return {column: price(values.get(field), unit, source, key, f"{prefix}{field}", flags)
            for column, field in fields}


def integer(value: Any) -> int | None:
    """A token count; tolerates numbers published as text or with a trailing `.0`."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    if not number.is_finite() or number <= 0 or number != number.to_integral_value():
        return None
    return int(number)


def boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def day(value: Any) -> str | None:
    """A date as YYYY-MM-DD from a date or datetime string; other text is dropped."""
    value = text(value)
    if value and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    return None


def unix_time(value: Any) -> datetime | None:
    number = integer(value)
    return datetime.fromtimestamp(number, tz=UTC) if number else None


def strings(value: Any) -> list[str] | None:
    if not isinstance(value, list | tuple):
        return None
    return sorted({str(v).strip().lower() for v in value if v is not None and str(v).strip()})


def offering(ctx: ParseContext, *, source_key: str, source_provider: str, model_id: str,
             flags: Iterable[str] = (), **values: Any) -> Row:
    """Build one normalized offering with every contract column present (no null `extra` keys)."""
    row: Row = dict.fromkeys(OFFERING_COLUMNS)
    row.update(values)
    unknown = set(values) - set(OFFERING_COLUMNS)
    if unknown:
        raise TypeError(f"not contract fields: {sorted(unknown)}")
    row["source"] = ctx.source
    row["source_key"] = source_key
    row["source_provider"] = source_provider
    row["provider"] = canonical_provider(source_provider)
    row["model_id"] = model_id
    row["price_flags"] = sorted(set(flags)) or None
    row["fetched_at"] = ctx.fetched_at
    extra = row.get("extra") or {}
    row["extra"] = {k: v for k, v in extra.items() if v is not None} or None  # no null keys
    return row
