"""Merge every source's offerings into the combined catalog: one row per provider x model_id.

Offerings of the same provider and model id (compared case-insensitively) are one catalog row.
Each field is taken from the first source in its precedence order that has a value; the four
prices are taken together, as one set, from the first source that publishes any of them, so an
input price is never paired with another source's output price. Where the provider's own API has
synced, its listing decides what the provider serves: the curated rest is `unlisted`.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from model_sync.catalog.contract import (
    ACTIVE,
    CATALOG_COLUMNS,
    DESCRIPTIVE_FIELDS,
    PRICE_FIELDS,
    REMOVED,
    UNLISTED,
    CatalogRow,
    StoredOffering,
)

# The provider's own API first, then the curated databases. Sources not listed (new provider
# APIs) rank with the provider APIs, in the order given to `build_catalog`.
METADATA_PRECEDENCE = ("models_dev", "litellm", "genai_prices")
PRICE_PRECEDENCE = ("genai_prices", "models_dev", "litellm")
PRICE_SET = (*PRICE_FIELDS, "price_flags")
# The dearest real token prices are in the hundreds of USD per 1M tokens (o1-pro's output:
# 600); thousands are unit slips, e.g. a per-1M price written where a per-token one belongs.
PLAUSIBLE_MAX_PRICE = Decimal(1000)
# Plausible token limits: a text model's context window outside them, or an output limit above
# the maximum, is a typo upstream (10^12 tokens) and is withheld like an implausible price.
TEXT_KINDS = frozenset({"chat", "completion", "responses"})
CONTEXT_MIN, CONTEXT_MAX = 256, 100_000_000
_METADATA_FIELDS = [f.name for f in DESCRIPTIVE_FIELDS if f.name not in PRICE_SET]


def catalog_key(provider: str, model_id: str) -> tuple[str, str]:
    """Two offerings are the same catalog row when their provider and model id match."""
    return provider, model_id.casefold()


def _ranking(order: Sequence[str], curated: Sequence[str]):
    position = {name: i for i, name in enumerate(curated)}

    def rank(row: Mapping[str, Any]) -> tuple:
        source = row["source"]
        tier = (1, position[source]) if source in position else (0, order.index(source)
                                                                  if source in order else 99)
        # Rows still listed by their source before removed ones; several rows of one source for
        # one offering (LiteLLM aliases): the shortest key wins.
        return (not _listed(row), *tier, len(row["source_key"]), row["source_key"])

    return rank


def price_ranking(provider_sources: Sequence[str]):
    """The order the merge takes prices in (the provider's own API first, then the curated
    sources), as a sort key of rows with `source` and `source_key`."""
    return _ranking(provider_sources, PRICE_PRECEDENCE)


def build_catalog(offerings: Iterable[StoredOffering], *, provider_sources: Sequence[str],
                  built_at: datetime) -> list[CatalogRow]:
    """The combined catalog rows, sorted by provider and model id.

    `provider_sources` are the sources that are a provider's own API (role `provider`).
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    own = set(provider_sources)
    # Providers whose own API lists offerings in this build, by the rows' canonical provider
    # (`alibaba_cloud` lists `alibaba`), not by the source's name.
    listing: set[str] = set()
    for row in offerings:
        if row.get("provider") and row.get("model_id"):
            groups[catalog_key(row["provider"], row["model_id"])].append(row)
            if listed_by_own_api(row, own):
                listing.add(row["provider"])
    # Each group is let go once merged: the rows it held need not outlive their catalog row.
    catalog = list(merge_groups((groups.pop(key) for key in list(groups)),
                                provider_sources=provider_sources, built_at=built_at,
                                listing=listing))
    catalog.sort(key=lambda r: (r["provider"], r["model_id"]))
    return catalog


def merge_groups(groups: Iterable[Sequence[Mapping[str, Any]]], *,
                 provider_sources: Sequence[str], built_at: datetime,
                 listing: Collection[str]) -> Iterator[CatalogRow]:
    """One catalog row per group of offerings (one catalog key each), as `build_catalog`
    merges them; `listing`: the providers whose own API lists offerings in this build."""
    own = set(provider_sources)
    by_metadata = _ranking(provider_sources, METADATA_PRECEDENCE)
    by_price = _ranking(provider_sources, PRICE_PRECEDENCE)
    for rows in groups:
        yield _merge(rows, by_metadata, by_price, built_at, own, listing)


def listed_by_own_api(row: Mapping[str, Any], own: Collection[str]) -> bool:
    """Whether a row shows its provider's own API listing offerings (see `build_catalog`)."""
    return bool(row.get("provider") and row.get("model_id") and row["source"] in own
                and _listed(row))


def _merge(rows, by_metadata, by_price, built_at, own, listing) -> CatalogRow:
    ordered = sorted(rows, key=by_metadata)
    first = ordered[0]
    merged: dict[str, Any] = dict.fromkeys(CATALOG_COLUMNS)
    lineage: dict[str, Any] = {}
    merged["provider"] = first["provider"]
    merged["model_id"] = first["model_id"]
    text = _generates_text(ordered)
    withheld: dict[str, dict[str, Any]] = {}
    for name in _METADATA_FIELDS:
        for row in ordered:
            value = row.get(name)
            if value is not None and value != []:
                if not plausible_limit(name, value, text):
                    # Like an implausible price: the next source's value, else none.
                    withheld.setdefault(name, {}).setdefault(row["source"], value)
                    continue
                merged[name] = value
                lineage[name] = row["source"]
                break
    candidates = [r for r in sorted(rows, key=by_price) if _has_prices(r)]
    # A price set with an implausible price (a unit slip upstream) gives way to another
    # source's plausible one; with no alternative it is withheld: null prices, flagged.
    priced = next((r for r in candidates if plausible(r)), None)
    if priced is None and candidates:
        merged["price_flags"] = ["implausible_price"]
        merged["price_source"] = candidates[0]["source"]
    if priced is not None:
        for name in PRICE_SET:
            merged[name] = priced.get(name)
        merged["price_source"] = priced["source"]
        for name in PRICE_FIELDS:
            if priced.get(name) is not None:
                lineage[name] = priced["source"]
    if withheld:
        lineage["withheld"] = withheld
    merged["sources"] = sorted({r["source"] for r in rows})
    merged["field_sources"] = lineage
    merged["updated_at"] = built_at
    merged["canonical_id"] = first.get("canonical_id")
    _lifecycle(merged, rows, own_api=merged["provider"] in listing, own=own)
    return cast(CatalogRow, merged)  # every CATALOG_COLUMNS key, filled above


def _listed(row: Mapping[str, Any]) -> bool:
    return row.get("state", ACTIVE) == ACTIVE


def _lifecycle(merged: dict[str, Any], rows, *, own_api: bool, own: set[str]) -> None:
    """Active while a source lists it; unlisted when the provider's own API lists offerings but
    not this one (curated sources only); removed (with when) once every source dropped it."""
    listed = [r for r in rows if _listed(r)]
    if not listed:
        merged["state"] = REMOVED
    elif own_api and not any(r["source"] in own for r in listed):
        merged["state"] = UNLISTED
    else:
        merged["state"] = ACTIVE
    merged["first_seen_at"] = min((r["first_seen_at"] for r in rows if r.get("first_seen_at")),
                                  default=None)
    merged["last_seen_at"] = max((r["last_seen_at"] for r in rows if r.get("last_seen_at")),
                                 default=None)
    merged["removed_at"] = None if listed else max(
        (r["removed_at"] for r in rows if r.get("removed_at")), default=None)
    merged["archived_at"] = None


def plausible(row: Mapping[str, Any]) -> bool:
    """Whether every price of a row is at most PLAUSIBLE_MAX_PRICE USD per 1M tokens."""
    return all(row.get(p) is None or row[p] <= PLAUSIBLE_MAX_PRICE for p in PRICE_FIELDS)


def generates_text(row: Mapping[str, Any]) -> bool:
    """Text-generation offerings: the ones that have an output price and a context window.

    Embedding, image and audio models are priced and limited differently (an image model's
    77-token prompt limit is real), so the limit rules leave them out.
    """
    if row.get("kind") is not None:
        return row["kind"] in TEXT_KINDS
    return "text" in (row.get("output_modalities") or ())


def plausible_limit(name: str, value: Any, text_generation: bool) -> bool:
    """Whether a token limit is believable: no context window or output limit above CONTEXT_MAX
    (for any model, its kind known or not), and a text model's context window at least
    CONTEXT_MIN (an image model's 77-token prompt limit is real). Other fields are not judged."""
    if name == "context_window":
        return value <= CONTEXT_MAX and (not text_generation or CONTEXT_MIN <= value)
    if name == "max_output_tokens":
        return value <= CONTEXT_MAX
    return True


def _generates_text(ordered) -> bool:
    # Judged on the kind and output modalities the field loop picks for the merged row.
    picked = {name: next((r[name] for r in ordered if r.get(name) not in (None, [])), None)
              for name in ("kind", "output_modalities")}
    return generates_text(picked)


def _has_prices(row: Mapping[str, Any]) -> bool:
    flags = row.get("price_flags") or ()
    return any(row.get(p) is not None for p in PRICE_FIELDS) or "variable_price" in flags
