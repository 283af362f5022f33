"""How a parser works through a payload: its context, the errors that name the source, entry
and field at fault, and the entries it sets aside (rejected) instead of failing its source.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from model_sync.catalog.contract import Offering
from model_sync.catalog.money import PriceError, exact_json
from model_sync.http.body import BodyError


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


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know besides the payload (which source, when it was fetched), and
    where it sets aside entries it cannot normalize (`rejected`), entries that are not models
    (`not_models`) and kept entries' prices with no place in the price model (`rejected_prices`)."""

    source: str
    fetched_at: datetime
    region: str | None = None  # the endpoint a regional source was read from (`intl`, `cn`)
    rejected: list[Rejection] = field(default_factory=list, compare=False, repr=False)
    not_models: list[tuple[str, str]] = field(default_factory=list, compare=False, repr=False)
    rejected_prices: list[Rejection] = field(default_factory=list, compare=False, repr=False)

    @property
    def today(self) -> date:
        return self.fetched_at.date()

    def listed(self, entries: Sequence[Any], build: Callable[[Any, int], Any], *,
               id_field: str = "id", prefix: str = "") -> list[Offering]:
        """The rows of a JSON array of entries, `build(entry, index)` each; an entry it cannot
        normalize is rejected with its reason, the others are kept."""
        rows: list[Offering] = []
        for index, entry in enumerate(entries):
            key = prefix + str(obj(entry).get(id_field) or f"#{index}")
            self._attempt(rows, key, entry, build, entry, index)
        return rows

    def keyed(self, entries: Mapping[str, Any], build: Callable[[str, Any], Any], *,
              describes_a_model: Callable[[str], bool] | None = None,
              prefix: str = "") -> list[Offering]:
        """The rows of a JSON object keyed by entry, `build(key, entry)` each; an entry it
        cannot normalize is rejected with its reason. A key given twice with different values
        is rejected.

        With `describes_a_model` (for payloads that mix models and other keys), a value that is
        not a model is skipped, recognized by its shape: not an object (a `last_updated`
        stamp), an object with none of the fields a model has (`describes_a_model(field)`; a
        rule set, metadata), or a schema sample documenting the fields instead of filling them.
        """
        repeats = getattr(entries, "repeats", {})
        rows: list[Offering] = []
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

    def _attempt(self, rows: list[Offering], key: str, entry: Any, build: Callable[..., Any],
                 *args: Any) -> None:
        aside = len(self.rejected_prices)
        try:
            built = build(*args)
        except ENTRY_ERRORS as exc:
            del self.rejected_prices[aside:]  # the entry as a whole is set aside instead
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
        return f"a {json_type(entry)}, not an object (metadata)"
    if not any(describes_a_model(str(name)) for name in entry):
        return "an object without any model field (metadata or rules)"
    if sum(1 for value in entry.values() if _prose(value)) >= 3:
        return "a schema sample: its fields hold descriptions, not values"
    return None


def obj(value: Any) -> Mapping[str, Any]:
    """A nested object, or an empty one when absent or of the wrong type."""
    return value if type(value) is dict or isinstance(value, Mapping) else {}  # dict: no ABC


def json_name(python_name: str) -> str:
    """A Python type's name as JSON calls it: a dict is an object, a list an array."""
    return python_name.replace("dict", "object").replace("list", "array")


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return json_name(type(value).__name__)
