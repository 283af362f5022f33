"""`model-sync cost` and `model-sync compare`: the exact cost of a request, and which provider
serving a model is cheapest for a workload."""

import argparse
import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from model_sync.pricing.vocabulary import MODES, USAGE_FIELDS

# The usage flags shown in --help; every other field of genai-prices' Usage is accepted too.
SHOWN = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
         "cache_write_1h_tokens", "output_reasoning_tokens", "input_audio_tokens",
         "output_audio_tokens", "cache_audio_read_tokens", "input_image_tokens",
         "output_image_tokens", "web_searches", "requests")


def add_commands(sub) -> None:
    """The `cost` and `compare` subcommands."""
    cost = sub.add_parser("cost", help="the exact cost of one request (USD), per component")
    cost.add_argument("provider", help="the provider, as any source spells it (aws, bedrock, "
                                       "amazon-bedrock, google, openai, ...)")
    cost.add_argument("model", help="the model as the API reports it (dated snapshot, "
                                    "models/ or region prefix, alias)")
    cost.add_argument("--region", help="a regional price (eu, us, us-east-1, ...); default: "
                                       "the region the model id names, else none")
    compare = sub.add_parser("compare", help="every provider serving a model, ranked by the "
                                             "exact cost of a usage")
    compare.add_argument("model", help="a model id or canonical id (claude-sonnet-4-5, ...)")
    compare.add_argument("--min-context", type=int, metavar="N",
                         help="only offerings with a context window of at least N tokens")
    compare.add_argument("--tools", action="store_true", help="only offerings with tool calls")
    for parser in (cost, compare):
        parser.add_argument("--at", help="when the request was made (ISO 8601, e.g. "
                                         "2026-05-01T12:00Z; default now): the prices then")
        parser.add_argument("--mode", choices=MODES, default="standard")
        parser.add_argument("--json", action="store_true", help="print JSON")
        usage = parser.add_argument_group(
            "usage", "counts as genai-prices' Usage names them; input tokens include cached "
                     "ones, output tokens reasoning ones; every Usage field is a flag")
        for name in sorted(USAGE_FIELDS | {"requests"}):
            usage.add_argument(f"--{name.replace('_', '-')}", dest=f"usage_{name}",
                               metavar="N", type=Decimal,
                               help=None if name in SHOWN else argparse.SUPPRESS)


def main(args) -> int:
    """Run `cost` or `compare`; a cost that cannot be computed is one line and exit 1."""
    from model_sync.catalog.engine import DATABASE_URL_ENV
    from model_sync.catalog.store import CatalogStore
    from model_sync.pricing.calculator import PricingError
    from model_sync.pricing.lookup import Pricer
    from model_sync.pricing.usage import UsageError

    usage = {k.removeprefix("usage_"): v for k, v in vars(args).items()
             if k.startswith("usage_") and v is not None}
    try:
        at = _instant(args.at) if args.at else None
    except ValueError:
        print(f"model-sync: --at must be an ISO 8601 instant such as 2026-05-01T12:00Z, got "
              f"{args.at!r}", file=sys.stderr)
        return 2
    store = CatalogStore.from_url(os.environ.get(DATABASE_URL_ENV))
    try:
        pricer = Pricer(store)
        if args.command == "cost":
            result = pricer.cost(args.provider, args.model, usage, at=at, mode=args.mode,
                                 region=args.region)
            print(json.dumps(result.as_json(), indent=2) if args.json else _receipt(result))
        else:
            from model_sync.pricing.compare import compare

            ranked = compare(pricer, args.model, usage, at=at, mode=args.mode,
                             min_context=args.min_context, tools=args.tools)
            print(json.dumps(_comparison_json(ranked), indent=2) if args.json
                  else _ranking(ranked, args.mode))
        return 0
    except (PricingError, UsageError) as exc:
        print(f"model-sync: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()


def _instant(text: str) -> datetime:
    from datetime import UTC

    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _plain(value: Decimal) -> str:
    from model_sync.catalog.money import format_decimal

    return format_decimal(value) or "0"


def _receipt(cost) -> str:
    head = (f"{cost.provider}/{cost.model_id} ({cost.canonical_id or 'no canonical id'}) at "
            f"{cost.at.isoformat(timespec='seconds')}, {cost.mode}"
            + (f", region {cost.region}" if cost.region else ""))
    rows = [("component", "quantity", "price (USD)", "amount (USD)", "source")]
    for line in cost.components:
        terms = [f"from {line.min_prompt_tokens:,} prompt tokens" if line.min_prompt_tokens
                 else "", f"{line.window} UTC" if line.window else "",
                 line.mode if line.mode != cost.mode else ""]
        note = "; ".join(t for t in terms if t)
        rows.append((line.component, _plain(line.quantity),
                     f"{_plain(line.price)} / {line.unit}" + (f" ({note})" if note else ""),
                     _plain(line.amount), f"{line.source} {line.source_key}"))
    rows.append(("total", "", "", _plain(cost.total), ""))
    return head + "\n" + _table(rows, right=(1, 3))


def _ranking(result, mode: str) -> str:
    speed = (f"; Artificial Analysis: {result.output_tokens_per_second:.0f} output tokens/s"
             if result.output_tokens_per_second else "")
    rows = [("provider", "model id", "context", "max output", "cost (USD)", "prices from")]
    for o in result.options:
        rows.append((o.provider, o.model_id, f"{o.context_window:,}" if o.context_window else "",
                     f"{o.max_output_tokens:,}" if o.max_output_tokens else "",
                     _plain(o.total) if o.total is not None else "unpriced",
                     o.sources or (o.error or "").split(": ", 1)[-1]))
    return (f"{result.canonical_id}: {len(result.options)} offerings, {mode}{speed}\n"
            + _table(rows, right=(2, 3, 4)))


def _comparison_json(result) -> dict[str, Any]:
    return {"canonical_id": result.canonical_id,
            "output_tokens_per_second": result.output_tokens_per_second,
            "offerings": [{"provider": o.provider, "model_id": o.model_id,
                           "context_window": o.context_window,
                           "max_output_tokens": o.max_output_tokens,
                           "supports_tools": o.supports_tools,
                           "total": None if o.total is None else _plain(o.total),
                           "sources": o.sources, "error": o.error} for o in result.options]}


def _table(rows: list[tuple[str, ...]], right: tuple[int, ...]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                     for row in rows)
