"""Export the active catalog (or the models rollup, or the price components) for consumers that
have no database driver.

JSON is shaped like models.dev's `api.json`: one object per provider with its models, prices as
exact JSON numbers (`0.0208333333333333`, never a binary float), each model with its price
components (`prices`). CSV and Parquet are flat tables (components as JSON text in `prices`, or
one row per component with `--table prices`).
"""

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from model_sync.catalog.clock import utcnow
from model_sync.catalog.money import exact_json, format_decimal

Format = Literal["json", "csv", "parquet"]
PRICE_COLUMNS = ["provider", "model_id", "canonical_id", "component", "unit", "mode", "region",
                 "min_prompt_tokens", "window", "price", "source", "valid_from", "valid_to"]


def attach_prices(store, rows: list[dict[str, Any]]) -> None:
    """Give each catalog row its price components in force now (`prices`)."""
    from model_sync.catalog.merge import catalog_key
    from model_sync.pricing.catalog import catalog_prices, published

    merged = catalog_prices(store, at=utcnow(),
                            offerings=[(r["provider"], r["model_id"]) for r in rows])
    for row in rows:
        found = merged.get(catalog_key(row["provider"], row["model_id"]))
        row["prices"] = published(found) if found else None


def price_table(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per component of each catalog row (after `attach_prices`)."""
    return [{"provider": r["provider"], "model_id": r["model_id"],
             "canonical_id": r.get("canonical_id"), **p}
            for r in rows for p in r.get("prices") or ()]


def prices_document(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The components as a JSON array of flat objects."""
    return [_compact(dict(r)) for r in rows]


def catalog_document(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{provider: {id, models: {model_id: {...}}}}` from catalog rows."""
    out: dict[str, Any] = {}
    for row in rows:
        provider = out.setdefault(row["provider"], {"id": row["provider"], "models": {}})
        provider["models"][row["model_id"]] = _compact({
            "id": row["model_id"],
            "name": row.get("name"),
            "canonical_id": row.get("canonical_id"),
            "creator": row.get("creator"),
            "kind": row.get("kind"),
            "state": row.get("state"),
            "cost": _compact({"input": row.get("input_price"), "output": row.get("output_price"),
                              "cache_read": row.get("cache_read_price"),
                              "cache_write": row.get("cache_write_price")}),
            "price_flags": row.get("price_flags"),
            "price_source": row.get("price_source"),
            "limit": _compact({"context": row.get("context_window"),
                               "output": row.get("max_output_tokens")}),
            "modalities": _compact({"input": row.get("input_modalities"),
                                    "output": row.get("output_modalities")}),
            "tool_call": row.get("supports_tools"),
            "vision": row.get("supports_vision"),
            "reasoning": row.get("supports_reasoning"),
            "structured_output": row.get("supports_structured_output"),
            "open_weights": row.get("open_weights"),
            "hugging_face_id": row.get("hugging_face_id"),
            "family": row.get("family"),
            "release_date": row.get("release_date"),
            "deprecation_date": row.get("deprecation_date"),
            "sources": row.get("sources"),
            "last_seen_at": row.get("last_seen_at"),
            "prices": row.get("prices"),
        })
    return out


def models_document(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{canonical_id: {...}}` from the models rollup."""
    return {r["canonical_id"]: _compact({k: v for k, v in r.items() if k != "content_hash"})
            for r in rows}


def dumps(document: Any) -> str:
    """JSON with Decimals written as exact number literals."""
    return exact_json(document, ensure_ascii=False, indent=1)


def frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *,
          decimals_as_text: bool = False) -> pd.DataFrame:
    """A flat table: nested values as JSON text; Decimals stay Decimal (Parquet keeps them as
    decimals) or become exact text (CSV)."""
    data = [{c: _flat(r.get(c), decimals_as_text) for c in columns if c != "content_hash"}
            for r in rows]
    return pd.DataFrame(data, columns=[c for c in columns if c != "content_hash"], dtype=object)


def write(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: Format,
          out: Path | None, document) -> str | None:
    """Write rows in `fmt` to `out` (or return the text for stdout)."""
    if fmt == "json":
        text = dumps(document(rows)) + "\n"
    elif fmt == "csv":
        text = frame(rows, columns, decimals_as_text=True).to_csv(index=False)
    else:
        if out is None:
            raise ValueError("parquet needs --out PATH")
        try:
            frame(rows, columns).to_parquet(out, index=False)
        except ImportError as exc:
            raise ValueError("parquet export needs pyarrow: pip install 'model_sync[parquet]'"
                             ) from exc
        return None
    if out is None:
        return text
    out.write_text(text)
    return None


def _flat(value: Any, decimals_as_text: bool = False) -> Any:
    if decimals_as_text and isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, list | dict):
        return exact_json(value, sort_keys=True)
    if hasattr(value, "tzinfo"):
        return value.isoformat()
    return value


def _compact(values: Mapping[str, Any]) -> dict[str, Any] | None:
    kept = {k: v for k, v in values.items() if v is not None and v != [] and v != {}}
    return kept or None
