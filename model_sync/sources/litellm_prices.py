"""LiteLLM's cost fields as price components: a field is a base cost, optionally followed by a
long-context tier (`_above_200k_tokens`) and a mode (`_batches`, `_flex`, `_priority`).

A tier's threshold is exclusive, as LiteLLM's cost calculator compares it (`prompt_tokens >
threshold`), except for xAI, whose thresholds LiteLLM applies from the threshold on; either way
the tier prices every token of the request. `tiered_pricing` ranges are picked the same way
(`range_start < prompt_tokens`), the whole request at one tier's rates.
"""

import re
from typing import Any

from model_sync.catalog.money import PER_TOKEN
from model_sync.pricing.regions import split_region
from model_sync.pricing.sheet import PriceSheet

# The base cost fields: field -> (component, power of ten from the published unit).
BASE: dict[str, tuple[str, int]] = {
    "input_cost_per_token": ("input", PER_TOKEN),
    "output_cost_per_token": ("output", PER_TOKEN),
    "cache_read_input_token_cost": ("cache_read", PER_TOKEN),
    "input_cost_per_token_cache_hit": ("cache_read", PER_TOKEN),
    "cache_creation_input_token_cost": ("cache_write", PER_TOKEN),
    "cache_creation_input_token_cost_above_1hr": ("cache_write_1h", PER_TOKEN),
    "cache_creation_input_audio_token_cost": ("cache_audio_write", PER_TOKEN),
    "cache_read_input_audio_token_cost": ("cache_audio_read", PER_TOKEN),
    "cache_read_input_token_cost_per_audio_token": ("cache_audio_read", PER_TOKEN),
    "cache_read_input_image_token_cost": ("cache_image_read", PER_TOKEN),
    "citation_cost_per_token": ("citation", PER_TOKEN),
    "input_cost_per_audio_token": ("input_audio", PER_TOKEN),
    "output_cost_per_audio_token": ("output_audio", PER_TOKEN),
    "input_cost_per_image_token": ("input_image", PER_TOKEN),
    "output_cost_per_image_token": ("output_image", PER_TOKEN),
    "output_cost_per_reasoning_token": ("reasoning", PER_TOKEN),
    "computer_use_input_cost_per_1k_tokens": ("input", 3),
    "computer_use_output_cost_per_1k_tokens": ("output", 3),
    "input_cost_per_audio_per_second": ("input_audio_second", 0),
    "input_cost_per_video_per_second": ("input_video_second", 0),
    "output_cost_per_video_per_second": ("output_video_second", 0),
    "input_cost_per_second": ("input_second", 0),
    "output_cost_per_second": ("output_second", 0),
    "input_cost_per_character": ("input_character", 6),
    "output_cost_per_character": ("output_character", 6),
    "input_cost_per_image": ("input_images", 0),
    "output_cost_per_image": ("output_images", 0),
    "input_cost_per_pixel": ("input_pixel", 6),
    "output_cost_per_pixel": ("output_pixel", 6),
    "input_cost_per_query": ("query", 3),
    "input_cost_per_request": ("request", 0),
    "ocr_cost_per_page": ("document_page", 0),
    "annotation_cost_per_page": ("annotated_page", 0),
    "code_interpreter_cost_per_session": ("code_interpreter_session", 0),
    "file_search_cost_per_1k_calls": ("file_search", 0),
}
MODES = (("_batch_requests", "batch"), ("_batches", "batch"), ("_flex", "flex"),
         ("_priority", "priority"))
SEARCH_SIZES = {"search_context_size_low": "web_search_low_context",
                "search_context_size_medium": "web_search",
                "search_context_size_high": "web_search_high_context"}
_TIER = re.compile(r"_above_(\d+)(k?)_tokens$")
# Cost fields with no place in the price model, and why.
_UNMAPPED = (
    (re.compile(r"_dbu_cost_"), "priced in Databricks units (DBU), not USD; the USD price is "
     "the field without `_dbu`"),
    (re.compile(r"_above_\d+s_interval$"), "a price by the length of a video, for which the "
     "price model has no tier"),
    (re.compile(r"pixels|premium_image"), "a price by image size or quality, which the price "
     "model does not distinguish"),
    (re.compile(r"_per_gb_per_day$"), "a storage price (per GB and day), not a price of use"),
)


def price_sheet(entry: dict[str, Any], model_id: str, source_provider: str) -> PriceSheet:
    """Every cost field of one entry; a regional entry's prices carry its region."""
    sheet = PriceSheet()
    region, _ = split_region(model_id)
    inclusive = source_provider.lower() == "xai"
    for field, value in entry.items():
        if field == "tiered_pricing":
            _ranges(sheet, value, region)
        elif field == "search_context_cost_per_query":
            _searches(sheet, value, region)
        elif "cost" in field:
            _field(sheet, field, value, field, region, inclusive, 0)
    return sheet


def _field(sheet: PriceSheet, field: str, value: Any, shown: str, region: str | None,
           inclusive: bool, start: int) -> None:
    name, mode = field, "standard"
    for suffix, named in MODES:
        if name.endswith(suffix):
            name, mode = name.removesuffix(suffix), named
            break
    tier = _TIER.search(name)
    if tier:
        threshold = int(tier.group(1)) * (1000 if tier.group(2) else 1)
        start = threshold if inclusive else threshold + 1
        name = name[: tier.start()]
    if name not in BASE:
        reason = next((why for pattern, why in _UNMAPPED if pattern.search(field)),
                      "a cost field the price model has no component for")
        sheet.reject(shown, reason, value)
        return
    component, scale = BASE[name]
    sheet.add(component, value, scale, shown, mode=mode, region=region, min_prompt_tokens=start)


def _ranges(sheet: PriceSheet, tiers: Any, region: str | None) -> None:
    """`[{range: [start, end], <cost fields>}]`: a tier applies above its start."""
    if not isinstance(tiers, list):
        sheet.reject("tiered_pricing", "expected a list of tiers", tiers)
        return
    for i, tier in enumerate(tiers):
        span = tier.get("range") if isinstance(tier, dict) else None
        if isinstance(tier, dict) and "max_results_range" in tier:
            sheet.reject(f"tiered_pricing[{i}]", "a price by the number of search results, for "
                         "which the price model has no tier", tier)
            continue
        if not (isinstance(span, list) and len(span) == 2
                and all(isinstance(v, int | float) or hasattr(v, "is_finite") for v in span)):
            sheet.reject(f"tiered_pricing[{i}]", "a tier without a [start, end] range", tier)
            continue
        start = int(span[0])
        for field, value in tier.items():
            if field != "range":
                _field(sheet, field, value, f"tiered_pricing[{i}].{field}", region, False,
                       start + 1 if start else 0)


def _searches(sheet: PriceSheet, sizes: Any, region: str | None) -> None:
    """USD per query by search context size, as components per 1,000 searches."""
    if not isinstance(sizes, dict):
        sheet.reject("search_context_cost_per_query", "expected prices by context size", sizes)
        return
    for size, value in sizes.items():
        field = f"search_context_cost_per_query.{size}"
        if size in SEARCH_SIZES:
            sheet.add(SEARCH_SIZES[size], value, 3, field, region=region)
        else:
            sheet.reject(field, "a search context size the price model does not know", value)
