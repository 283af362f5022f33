"""The team's corrections: a YAML file (`MODEL_SYNC_OVERRIDES_FILE`) of overrides, each setting
one field of one offering, with why and by whom. A file that cannot be used is one line naming
its line (`OverridesError`); `overlay` applies them to the catalog's rows."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from model_sync.catalog.contract import PRICE_FIELDS
from model_sync.catalog.merge import CONTEXT_MAX, PLAUSIBLE_MAX_PRICE, catalog_key
from model_sync.pricing.vocabulary import COMPONENTS, MODES, STANDARD

OVERRIDES_FILE_ENV = "MODEL_SYNC_OVERRIDES_FILE"
OVERRIDE = "override"  # the source an overridden value is said to come from
SERVED = "served"
LIMITS = ("context_window", "max_output_tokens")
# A headline price is its component's standard, all-region, base-tier price.
HEADLINE: dict[str, str] = {"input_price": "input", "output_price": "output",
                            "cache_read_price": "cache_read", "cache_write_price": "cache_write"}
FIELDS = (*PRICE_FIELDS, *LIMITS, SERVED)
REQUIRED = ("provider", "model", "field", "value", "reason", "author")
KEYS = (*REQUIRED, "expires", "mode", "region", "min_prompt_tokens")
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")

Slot = tuple[str, str, str | None, int]  # component, mode, region, min_prompt_tokens


class OverridesError(ValueError):
    """An overrides file that cannot be used, in one line: `file:line: what is wrong`."""


@dataclass(frozen=True)
class Override:
    """One correction: the offering, what it sets (a catalog column, a price component or
    both), the value, and its provenance."""

    line: int
    provider: str
    model: str
    field: str  # as written: a column, `served`, or a component of the price model
    value: Any  # Decimal (prices), int (token limits), bool (served)
    reason: str
    author: str
    expires: date | None = None
    column: str | None = None  # the catalog column it sets (`state` for `served`)
    slot: Slot | None = None  # the price component it sets

    @property
    def key(self) -> tuple[str, str]:
        """The catalog row it names, matched as the merge matches rows."""
        return catalog_key(self.provider, self.model)

    @property
    def target(self) -> str:
        """What it sets, for people: `input_price`, `input (batch, eu, from 200,001)`."""
        if self.slot is None or self.column is not None:
            return self.field
        name, mode, region, tier = self.slot
        parts = [p for p in (mode if mode != STANDARD else None, region,
                             f"from {tier:,} prompt tokens" if tier else None) if p]
        return f"{name} ({', '.join(parts)})" if parts else name

    def expired(self, now: datetime) -> bool:
        """Expired from its `expires` day on (UTC): it then applies no more."""
        return self.expires is not None and now.date() >= self.expires


@dataclass(frozen=True)
class Overrides:
    """The overrides of one file, in its order."""

    path: str
    entries: tuple[Override, ...] = ()

    def where(self, item: Override) -> str:
        return f"{self.path}:{item.line}"


def load_overrides(path: str | Path | None) -> Overrides | None:
    """The overrides of the file at `path`, or None when no file is configured."""
    return read_overrides(path) if path else None


def read_overrides(path: str | Path) -> Overrides:
    """The overrides of a YAML file; an unreadable or malformed one is an OverridesError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverridesError(f"{OVERRIDES_FILE_ENV}={path}: cannot read it ({exc})") from None
    return parse_overrides(text, str(path))


def parse_overrides(text: str, path: str) -> Overrides:
    """The overrides of a document (safe YAML); every scalar is read from its own text, so a
    price is exact however it is written."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise OverridesError(f"{where}: not valid YAML ({problem})") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None or _null(root):
        return Overrides(path)
    if not isinstance(root, yaml.MappingNode) or [_text(k) for k, _ in root.value] != [
            "overrides"]:
        raise OverridesError(f"{path}:{_line(root)}: expected a mapping with one key, "
                             "`overrides:`, holding a list of entries")
    listing = root.value[0][1]
    if _null(listing):
        return Overrides(path)
    if not isinstance(listing, yaml.SequenceNode):
        raise OverridesError(f"{path}:{_line(listing)}: `overrides` must be a list of entries")
    entries: list[Override] = []
    seen: dict[tuple, int] = {}
    for node in listing.value:
        entry = _entry(node, path)
        wanted = (*entry.key, entry.slot or entry.column)
        if wanted in seen:
            raise OverridesError(f"{path}:{entry.line}: {entry.provider}/{entry.model} "
                                 f"{entry.target} is already overridden on line {seen[wanted]}")
        seen[wanted] = entry.line
        entries.append(entry)
    return Overrides(path, tuple(entries))


def _entry(node: yaml.Node, path: str) -> Override:
    line = _line(node)

    def fail(message: str) -> OverridesError:
        return OverridesError(f"{path}:{line}: {message}")

    if not isinstance(node, yaml.MappingNode):
        raise fail("an entry must be a mapping (provider, model, field, value, reason, author)")
    fields: dict[str, yaml.ScalarNode] = {}
    for key_node, value_node in node.value:
        key = _text(key_node)
        if key not in KEYS:
            raise fail(f"unknown key {key!r}; keys: {', '.join(KEYS)}")
        if key in fields:
            raise fail(f"{key} is given twice")
        if not isinstance(value_node, yaml.ScalarNode):
            raise fail(f"{key} must be a single value")
        fields[key] = value_node
    text = {k: v.value.strip() for k, v in fields.items() if not _null(v)}
    missing = [k for k in REQUIRED if not text.get(k)]
    if missing:
        raise fail(f"missing {', '.join(missing)} (every override needs {', '.join(REQUIRED)})")
    name = text["field"]
    extra = [k for k in ("mode", "region", "min_prompt_tokens") if k in text]
    if name not in FIELDS and name not in COMPONENTS:
        raise fail(f"unknown field {name!r}; fields: {', '.join(FIELDS)}, or a price component "
                   "of the price model (input, output, cache_read, reasoning, web_search, ...)")
    if extra and name not in COMPONENTS:
        raise fail(f"{', '.join(extra)} apply to a price component (input, output, ...), not "
                   f"to {name}")
    try:
        value, column, slot = _target(name, fields["value"], text)
        expires = _day(text["expires"]) if "expires" in text else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    return Override(line, text["provider"], text["model"], name, value, text["reason"],
                    text["author"], expires, column, slot)


def _target(name: str, node: yaml.ScalarNode,
            text: Mapping[str, str]) -> tuple[Any, str | None, Slot | None]:
    """The value and what it sets: a column, a price component, or both."""
    raw = node.value.strip()
    if name == SERVED:
        if node.tag.endswith(":bool") and raw.lower() in (*_TRUE, *_FALSE):
            return raw.lower() in _TRUE, "state", None
        raise ValueError(f"served must be true or false, got {raw!r}")
    if name in LIMITS:
        number = _whole(raw, name)
        if not 0 < number <= CONTEXT_MAX:
            raise ValueError(f"{name} must be between 1 and {CONTEXT_MAX:,} tokens, got {raw}")
        return number, name, None
    if name in HEADLINE:
        slot: Slot = (HEADLINE[name], STANDARD, None, 0)
    else:
        mode = text.get("mode", STANDARD)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        tier = _whole(text["min_prompt_tokens"], "min_prompt_tokens") if (
            "min_prompt_tokens" in text) else 0
        slot = (name, mode, text.get("region") or None, tier)
    price = _price(raw, node, name)
    column = next((c for c, n in HEADLINE.items() if slot == (n, STANDARD, None, 0)), None)
    return price, column, slot


def _price(raw: str, node: yaml.ScalarNode, name: str) -> Decimal:
    unit = COMPONENTS[HEADLINE.get(name, name)].unit
    try:
        if node.tag.endswith((":bool", ":null")):
            raise InvalidOperation
        price = Decimal(raw.replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{name} must be an exact decimal (USD per {unit}, e.g. \"2.5\"), "
                         f"got {raw!r}") from None
    if not price.is_finite():
        raise ValueError(f"{name} must be a finite price, got {raw!r}")
    if price < 0:
        raise ValueError(f"{name} must not be negative, got {raw}")
    if unit == "1M tokens" and price > PLAUSIBLE_MAX_PRICE:
        raise ValueError(f"{name} {raw} is above {PLAUSIBLE_MAX_PRICE:,} USD per 1M tokens, "
                         "more than any real token price (prices are per 1M tokens)")
    return price


def _whole(raw: str, name: str) -> int:
    try:
        number = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number of tokens, got {raw!r}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {raw}")
    return number


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"expires must be a date (YYYY-MM-DD), got {raw!r}") from None


def _text(node: yaml.Node) -> str:
    return node.value.strip() if isinstance(node, yaml.ScalarNode) else ""


def _null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
