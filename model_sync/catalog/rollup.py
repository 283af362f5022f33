"""The `models` table: one row per canonical model, rolled up across every provider serving it."""

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from model_sync.catalog.contract import CatalogRow, ModelRow, StoredOffering
from model_sync.catalog.identity import base_id, squashed

# Effort settings Artificial Analysis benchmarks separately; the model is the same.
_EFFORT = re.compile(r"-(?:non-reasoning|reasoning|thinking|xhigh|high|medium|low|minimal)$")


def build_models(catalog: Iterable[CatalogRow], benchmarks: Iterable[StoredOffering] = (),
                 hub: Iterable[StoredOffering] = ()) -> list[ModelRow]:
    """Roll catalog rows (not archived or unlisted) up by `canonical_id`, with benchmark and hub
    figures.

    Prices: the cheapest active, fixed, paid price and the provider offering it (ties: provider
    id); $0 prices count only when no provider charges.
    Benchmarks (Artificial Analysis) join by the model's undated name; when AA lists several
    effort settings of one model, the plain one is used, else the best scoring.
    """
    groups: dict[str, list[CatalogRow]] = defaultdict(list)
    for row in filter(_rolled_up, catalog):
        groups[row["canonical_id"] or ""].append(row)
    return list(model_rows((row for _, rows in sorted(groups.items()) for row in rows),
                           benchmarks, hub))


def model_rows(catalog: Iterable[CatalogRow], benchmarks: Iterable[StoredOffering] = (),
               hub: Iterable[StoredOffering] = ()) -> Iterator[ModelRow]:
    """`build_models` of catalog rows read in `canonical_id` order (and, within one, in catalog
    order): one model at a time."""
    figures = joined(benchmarks, hub)
    for canonical_id, rows in groupby(filter(_rolled_up, catalog),
                                      key=itemgetter("canonical_id")):
        yield model_row(canonical_id, list(rows), figures)


Figures = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


def joined(benchmarks: Iterable[StoredOffering], hub: Iterable[StoredOffering]) -> Figures:
    """The benchmark figures by squashed model name and the Hub figures by repository: what
    `model_row` joins to a model (`figures_of`)."""
    return _benchmarks_by_name(benchmarks), {str(r["model_id"]).lower(): r.get("extra") or {}
                                             for r in hub if r.get("model_id")}


def figures_of(canonical_id: str, rows: Sequence[Mapping[str, Any]], figures: Figures
               ) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The benchmark and Hub figures a model's rows (at least their `hugging_face_id`) join,
    and the repository they join by."""
    scores, hub_by_repo = figures
    hf_id = _most_common(r.get("hugging_face_id") for r in rows)
    return (scores.get(squashed(canonical_id), {}),
            hub_by_repo.get(hf_id.lower(), {}) if hf_id else {}, hf_id)


def _rolled_up(row: CatalogRow) -> bool:
    # An offering its provider's own API does not list is not served: no figure comes of it.
    return bool(row.get("canonical_id")) and row.get("state") not in ("archived", "unlisted")


def model_row(canonical_id: str, rows: Sequence[CatalogRow], figures: Figures,
              joined: tuple[dict[str, Any], dict[str, Any], str | None] | None = None
              ) -> ModelRow:
    """One model rolled up from its served catalog rows, with the figures joined to it
    (`joined`: `figures_of` the model, when already looked up)."""
    active = [r for r in rows if r.get("state", "active") == "active"]
    input_row = _cheapest(active, "input_price")
    output_row = _cheapest(active, "output_price")
    bench, hub, hf_id = joined or figures_of(canonical_id, rows, figures)
    weights = [r.get("open_weights") for r in rows if r.get("open_weights") is not None]
    return {
        "canonical_id": canonical_id,
        "name": _name(rows),
        "creator": _most_common(r.get("creator") for r in rows),
        "family": _most_common(r.get("family") for r in rows),
        "release_date": min(filter(None, (r.get("release_date") for r in rows)), default=None),
        "open_weights": any(weights) if weights else None,
        "context_window": max(filter(None, (r.get("context_window") for r in rows)),
                              default=None),
        "cheapest_input_price": input_row["input_price"] if input_row else None,
        "cheapest_input_provider": input_row["provider"] if input_row else None,
        "cheapest_output_price": output_row["output_price"] if output_row else None,
        "cheapest_output_provider": output_row["provider"] if output_row else None,
        "providers": len({r["provider"] for r in active}),
        "provider_ids": sorted({r["provider"] for r in active}),
        "hugging_face_id": hf_id,
        "hf_downloads": hub.get("downloads"),
        "hf_likes": hub.get("likes"),
        "intelligence_index": _number(bench.get("intelligence_index")),
        "coding_index": _number(bench.get("coding_index")),
        "agentic_index": _number(bench.get("agentic_index")),
        "output_tokens_per_second": _number(bench.get("output_tokens_per_second")),
    }


def _cheapest(rows: Sequence[Mapping[str, Any]], field: str) -> Mapping[str, Any] | None:
    """The cheapest paid offer; a $0 price (free tier, subscription) only when nothing is paid."""
    priced = [r for r in rows if r.get(field) is not None
              and "variable_price" not in (r.get("price_flags") or ())]
    paid = [r for r in priced if r[field] > 0]
    return min(paid or priced, key=lambda r: (r[field], r["provider"]), default=None)


def _name(rows: Sequence[Mapping[str, Any]]) -> str | None:
    # OpenRouter writes "Maker: Name"; the maker's own spelling reads better.
    names = [str(r["name"]).split(": ", 1)[-1] for r in rows if r.get("name")]
    if not names:
        return None
    if names.count(names[0]) == len(names):  # one spelling: most models
        return names[0]
    counts = Counter(names)
    return min(counts, key=lambda n: (-counts[n], len(n), n))


def _most_common(values: Iterable[Any]) -> Any:
    present = [v for v in values if v]
    if not present or present.count(present[0]) == len(present):  # none, or one value
        return present[0] if present else None
    counts = Counter(present)
    return min(counts, key=lambda v: (-counts[v], str(v)))


def _benchmarks_by_name(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    plain: dict[str, dict[str, Any]] = {}
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        extra = row.get("extra") or {}
        slug = base_id(str(row.get("model_id") or ""))
        stripped = _EFFORT.sub("", slug)
        key = squashed(stripped)
        if stripped == slug:
            plain[key] = extra
        elif (score := _number(extra.get("intelligence_index"))) is not None and (
                key not in best or (_number(best[key].get("intelligence_index")) or -1) < score):
            best[key] = extra
    return {**best, **plain}


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
