"""Which catalog offering a model string names, as an API reports it: a dated snapshot
(`claude-sonnet-4-5-20250929`), a `models/` or provider prefix, another case, an alias, a
Bedrock region prefix. Pure: it reads the provider's rows it is given.

In order: the model id itself (case aside, prefixes stripped); genai-prices' match rules (the
longest matching model id first, as its lists put specific models before their families); the
identity rules (`base_id`, the alias table, the one known snapshot of an undated name). Every
row of the provider that serves the same canonical model is part of the offering.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model_sync.catalog.identity import Resolver, base_id
from model_sync.pricing.regions import split_region

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Resolved:
    """The rows an offering is made of, the ones the model string named, and its region."""

    rows: tuple[Row, ...]
    named: frozenset[str]  # source keys of the rows the string matched directly
    region: str | None
    canonical_id: str | None

    @property
    def model_id(self) -> str:
        named = [r for r in self.rows if r["source_key"] in self.named] or list(self.rows)
        return min((r["model_id"] for r in named), key=len)


def spellings(model: str, provider: str) -> list[str]:
    """The model string, then without a `models/` prefix, a region, a provider prefix."""
    out = [model.strip()]
    for step in (lambda s: s.removeprefix("models/"), lambda s: split_region(s)[1],
                 lambda s: s.split("/", 1)[1] if s.lower().startswith(provider + "/") else s):
        out.append(step(out[-1]))
    return list(dict.fromkeys(out))


def resolve(model: str, provider: str, rows: Sequence[Row]) -> Resolved | None:
    """The offering of `provider` that `model` names among its rows, or None."""
    forms = spellings(model, provider)
    region = next((r for r in (split_region(f)[0] for f in forms) if r), None)
    named = _exact(forms, rows) or _by_rule(forms, rows) or _by_identity(forms, provider, rows)
    if not named:
        return None
    canonical = {r.get("canonical_id") for r in named} - {None}
    members = [r for r in rows if r in named or r.get("canonical_id") in canonical]
    ids = {r["canonical_id"] for r in named if r.get("canonical_id")}
    return Resolved(tuple(members), frozenset(r["source_key"] for r in named), region,
                    min(ids, key=len) if ids else None)


def _exact(forms: Sequence[str], rows: Sequence[Row]) -> list[Row]:
    for form in forms:
        found = [r for r in rows if r["model_id"].casefold() == form.casefold()]
        if found:
            return found
    return []


def _by_rule(forms: Sequence[str], rows: Sequence[Row]) -> list[Row]:
    for form in forms:
        found = [r for r in rows if (r.get("extra") or {}).get("match") is not None
                 and matches((r.get("extra") or {})["match"], form.lower())]
        if found:
            best = max(found, key=lambda r: (form.lower().startswith(r["model_id"].lower()),
                                             len(r["model_id"])))
            return [best]
    return []


def _by_identity(forms: Sequence[str], provider: str, rows: Sequence[Row]) -> list[Row]:
    resolver = Resolver(rows)
    for form in forms:
        found = [r for r in rows if base_id(r["model_id"]) == base_id(form)]
        if found:
            return found
        wanted = resolver.canonical_id({"model_id": form, "provider": provider})
        found = [r for r in rows if r.get("canonical_id") == wanted]
        if found:
            return found
    return []


def matches(rule: Any, text: str) -> bool:
    """Whether genai-prices' match rule (`equals`, `starts_with`, `ends_with`, `contains`,
    `regex`, `or`, `and`) holds for a lower-cased model string."""
    if not isinstance(rule, Mapping) or not rule:
        return False
    kind, value = next(iter(rule.items()))
    if kind == "or":
        return any(matches(r, text) for r in value or ())
    if kind == "and":
        return all(matches(r, text) for r in value or ())
    value = str(value)
    if kind == "regex":
        return re.search(value, text) is not None
    value = value.lower()
    return {"equals": text == value, "starts_with": text.startswith(value),
            "ends_with": text.endswith(value), "contains": value in text}.get(kind, False)
