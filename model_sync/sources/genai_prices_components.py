"""genai-prices' prices as price components, exactly as its calculator reads them.

A model's `prices` is one price set or a list of conditional ones, tried last to first: the
last whose constraint holds wins (a `start_date` from that day on, a `start_time`..`end_time`
window each day, UTC), and when none holds the first is used. Each stretch between two start
dates becomes components valid over it; a window that wins in it becomes components with that
window. A tiered price `{base, tiers: [{start, price}]}` bills every token of a request whose
input tokens exceed `start` at the tier's price, so the tier applies from `start + 1` on.
"""

from datetime import date
from typing import Any

from model_sync.pricing.sheet import PriceSheet

# genai-prices price key -> (component, power of ten to the component's unit).
PRICE_KEYS: dict[str, tuple[str, int]] = {
    "input_mtok": ("input", 0), "output_mtok": ("output", 0),
    "cache_read_mtok": ("cache_read", 0), "cache_write_mtok": ("cache_write", 0),
    "cache_write_5m_mtok": ("cache_write_5m", 0), "cache_write_1h_mtok": ("cache_write_1h", 0),
    "input_audio_mtok": ("input_audio", 0), "output_audio_mtok": ("output_audio", 0),
    "cache_audio_read_mtok": ("cache_audio_read", 0),
    "cache_audio_write_mtok": ("cache_audio_write", 0),
    "input_image_mtok": ("input_image", 0), "output_image_mtok": ("output_image", 0),
    "cache_image_read_mtok": ("cache_image_read", 0),
    "input_video_mtok": ("input_video", 0), "output_video_mtok": ("output_video", 0),
    "output_reasoning_mtok": ("reasoning", 0), "output_citation_mtok": ("citation", 0),
    "web_searches_kcount": ("web_search", 0), "requests_kcount": ("request", -3),
    "storage_searches_kcount": ("file_search", 0), "rerank_searches_kcount": ("query", 0),
    "input_mchars": ("input_character", 0), "input_gpixels": ("input_pixel", -3),
    "input_document_kpages": ("document_page", -3),
    "input_annotated_document_kpages": ("annotated_page", -3),
}

Entry = dict[str, Any]  # {"constraint": {...}, "prices": {...}}


def price_sheet(entries: list[Entry]) -> PriceSheet:
    """The components of a model's (normalized) price entries, over their stretches of time."""
    sheet = PriceSheet()
    starts = sorted({d for e in entries if (d := _start_date(e)) is not None})
    bounds = [None, *starts]
    for index, start in enumerate(bounds):
        end = bounds[index + 1] if index + 1 < len(bounds) else None
        base, windows = _winners(entries, start)
        _prices(sheet, base, start, end, None)
        for entry in windows:
            _prices(sheet, entry, start, end, _window(entry))
    return sheet


def _start_date(entry: Entry) -> date | None:
    start = entry["constraint"].get("start_date")
    return date.fromisoformat(str(start)[:10]) if start else None


def _winners(entries: list[Entry], start: date | None) -> tuple[Entry, list[Entry]]:
    """The entry in force all day from `start` (the last one whose date has come, else the
    first), and the windowed entries listed after it, which win during their windows."""
    def all_day(entry: Entry) -> bool:
        constraint = entry["constraint"]
        if "start_time" in constraint:
            return False
        day = _start_date(entry)
        return day is None or (start is not None and day <= start)

    always = [i for i, e in enumerate(entries) if all_day(e)]
    base = always[-1] if always else -1
    windows = [e for e in entries[base + 1:] if "start_time" in e["constraint"]]
    return (entries[base] if always else entries[0]), windows


def _window(entry: Entry) -> str:
    constraint = entry["constraint"]
    return "-".join(str(constraint.get(k, "23:59:59Z"))[:5] for k in ("start_time", "end_time"))


def _prices(sheet: PriceSheet, entry: Entry, start: date | None, end: date | None,
            window: str | None) -> None:
    for key, value in entry["prices"].items():
        field = f"prices.{key}"
        if key not in PRICE_KEYS:
            sheet.reject(field, "a price key the price model has no component for", value)
            continue
        name, scale = PRICE_KEYS[key]
        tiers = value.get("tiers") or [] if isinstance(value, dict) else []
        base = value.get("base") if isinstance(value, dict) else value
        sheet.add(name, base, scale, field, window=window, valid_from=start, valid_to=end)
        for i, tier in enumerate(tiers):
            threshold = tier.get("start") if isinstance(tier, dict) else None
            if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
                sheet.reject(f"{field}.tiers[{i}]", "a tier without an integer start", tier)
                continue
            sheet.add(name, tier.get("price"), scale, f"{field}.tiers[{i}]",
                      min_prompt_tokens=threshold + 1, window=window, valid_from=start,
                      valid_to=end)
