"""The rules of the catalog build and of the `models` rollup, run on the built rows before they
are published: each function beside its declaration in `RULES`."""

from collections.abc import Mapping, Sequence

from model_sync.catalog import CATALOG
from model_sync.catalog.contract import PRICE_FIELDS
from model_sync.catalog.merge import (
    CONTEXT_MAX,
    CONTEXT_MIN,
    PLAUSIBLE_MAX_PRICE,
    generates_text,
)
from model_sync.catalog.money import format_decimal
from model_sync.catalog.rules.base import Finding, Markdown, Rows, Rule, min_count


def prices_non_negative(rows: Rows) -> Finding:
    bad = [f"{r['provider']}/{r['model_id']} {p}={format_decimal(r[p])}"
           for r in rows for p in PRICE_FIELDS if r.get(p) is not None and r[p] < 0]
    text = "no negative prices" if not bad else f"{len(bad)} negative prices: {', '.join(bad[:5])}"
    return Finding("prices_non_negative", not bad, "ERROR", text,
                   {"negative_prices": len(bad), "sample": bad[:10]})


def prices_plausible(rows: Rows) -> Finding:
    """ERROR: no published price above 1,000 USD per 1M tokens. Such prices are unit slips
    upstream (a per-1M price written where a per-token one belongs): the merge withholds them,
    and this check reports which offerings it withheld."""
    bad = [f"{r['provider']}/{r['model_id']} {p}={format_decimal(r[p])}"
           for r in rows for p in PRICE_FIELDS
           if r.get(p) is not None and r[p] > PLAUSIBLE_MAX_PRICE]
    withheld = [f"{r['provider']}/{r['model_id']} ({r.get('price_source')})" for r in rows
                if "implausible_price" in (r.get("price_flags") or ())]
    if bad:
        text = (f"{len(bad)} prices above {PLAUSIBLE_MAX_PRICE:,} USD per 1M tokens: "
                + ", ".join(bad[:5]))
    else:
        text = f"no price above {PLAUSIBLE_MAX_PRICE:,} USD per 1M tokens"
        if withheld:
            text += (f"; {len(withheld)} offerings' implausible source prices withheld "
                     "(unpriced, flagged implausible_price): " + ", ".join(withheld[:5]))
    return Finding("prices_plausible", not bad, "ERROR", text,
                   {"implausible_prices": len(bad), "withheld": len(withheld),
                    "sample": (bad or withheld)[:10]})


def output_price_present(rows: Rows) -> Finding:
    """WARN: a text model priced for input but not output is usually a half-published price."""
    bad = [f"{r['provider']}/{r['model_id']}" for r in rows
           if r.get("input_price") is not None and r.get("output_price") is None
           and generates_text(r)]
    text = ("every text-generation offering priced for input is priced for output" if not bad
            else f"{len(bad)} text-generation offerings have an input price but no output "
            "price, e.g. "
            + ", ".join(bad[:5]))
    return Finding("output_price_present", not bad, "WARN", text,
                   {"missing_output_price": len(bad), "sample": bad[:10]})


def context_window_range(rows: Rows) -> Finding:
    """WARN: a context window or output limit above 100M tokens, or a text model's context window
    under 256, is more likely a typo; the merge withholds such source values and they are named
    here."""
    bad = [f"{r['provider']}/{r['model_id']}={r['context_window']:,}" for r in rows
           if r.get("context_window") is not None and (
               r["context_window"] > CONTEXT_MAX
               or (generates_text(r) and r["context_window"] < CONTEXT_MIN))]
    bad += [f"{r['provider']}/{r['model_id']} max_output_tokens={r['max_output_tokens']:,}"
            for r in rows
            if r.get("max_output_tokens") is not None and r["max_output_tokens"] > CONTEXT_MAX]
    withheld = [f"{r['provider']}/{r['model_id']} {name} {source}={value:,}" for r in rows
                for name, values in ((r.get("field_sources") or {}).get("withheld") or {}).items()
                for source, value in values.items()]
    bounds = f"{CONTEXT_MIN:,}..{CONTEXT_MAX:,} tokens"
    text = (f"every text-generation context window is within {bounds}" if not bad
            else f"{len(bad)} context windows or output limits outside {bounds}: "
            + ", ".join(bad[:5]))
    if withheld:
        text += (f"; {len(withheld)} implausible source limits withheld (the next source's "
                 "value is used, or none): " + ", ".join(withheld[:5]))
    return Finding("context_window_range", not bad, "WARN", text,
                   {"out_of_range": len(bad), "withheld": len(withheld),
                    "sample": (bad or withheld)[:10]})


def overrides_matched(outcome) -> Finding:
    """ERROR, not blocking: every override names an offering of the catalog. The others still
    apply and the catalog is published; the description names the file's lines."""
    bad = outcome.lines("unmatched") if outcome else []
    text = (f"{len(bad)} overrides name no offering of the catalog: " + "; ".join(bad[:5])
            if bad else _overrides_text(outcome, "every override names an offering"))
    return Finding("overrides_matched", not bad, "ERROR", text,
                   {"unmatched": len(bad), "sample": bad[:10]})


def overrides_current(outcome) -> Finding:
    """WARN: no override has expired (an expired one is not applied: delete or renew it)."""
    bad = outcome.lines("expired") if outcome else []
    text = (f"{len(bad)} overrides expired and are not applied: " + "; ".join(bad[:5])
            if bad else _overrides_text(outcome, "no override has expired"))
    return Finding("overrides_current", not bad, "WARN", text,
                   {"expired": len(bad), "sample": bad[:10]})


def overrides_needed(outcome) -> Finding:
    """WARN: no override merely restates what every source now publishes."""
    bad = outcome.lines("redundant") if outcome else []
    text = (f"{len(bad)} overrides equal every source's value and are no longer needed: "
            + "; ".join(bad[:5]) if bad else _overrides_text(outcome, "every override is "
                                                             "still needed"))
    return Finding("overrides_needed", not bad, "WARN", text,
                   {"redundant": len(bad), "sample": bad[:10]})


def _overrides_text(outcome, verdict: str) -> str:
    if outcome is None or outcome.path is None:
        return "no overrides file (MODEL_SYNC_OVERRIDES_FILE is not set)"
    return f"{verdict} ({len(outcome.results)} in {outcome.path})"


def price_history_consistent(repaired: Sequence[str], checked: int) -> Finding:
    """WARN: every priced offering had exactly one open price interval, with its prices; the
    build repaired the ones that did not (a database edited by hand, restored from a backup)."""
    if not repaired:
        return Finding("consistent", True, "WARN", f"the open price intervals of all {checked:,} "
                       "source rows match their prices", {"repaired": 0, "checked": checked})
    return Finding("consistent", False, "WARN",
                   f"{len(repaired):,} of {checked:,} offerings' open price intervals did not "
                   "match their prices and were repaired, e.g. " + ", ".join(repaired[:5]),
                   {"repaired": len(repaired), "checked": checked, "sample": list(repaired[:10])})


def prices_consistent(offerings: int, withheld: Sequence[str],
                      published: Sequence[str]) -> Finding:
    """WARN: no price the catalog publishes contradicts its source's others (a batch or flex
    price above the standard one, a long-context tier below the tier under it); the merge
    withholds such source prices, and the description names them."""
    meta = {"offerings": offerings, "withheld": len(withheld), "contradicting": len(published),
            "sample": list((published or withheld)[:10])}
    if published:
        return Finding("consistent", False, "WARN", f"{len(published):,} published prices "
                       "contradict their source's others, e.g. " + "; ".join(published[:5]),
                       meta)
    text = f"no price of the {offerings:,} priced offerings contradicts its source's others"
    if withheld:
        text += (f"; {len(withheld):,} source prices that did were withheld (the set's other "
                 "prices are used): " + "; ".join(withheld[:5]))
    return Finding("consistent", True, "WARN", text, meta)


def mass_removal(counts: Mapping[str, int], served: int, max_share: float) -> Finding:
    """WARN: since the change feed was last built, no more than `max_share` of the served
    offerings were removed; more usually means a source's listing lost part of itself."""
    removed = counts.get("removed", 0)
    before = served + removed
    share = removed / before if before else 0.0
    meta = {"removed": removed, "served": served, "removed_share": round(share, 4),
            "max_removed_share": max_share}
    text = (f"{removed:,} offerings removed since the last build, {share:.1%} of "
            f"{before:,} (allowed: {max_share:.0%})")
    return Finding("mass_removal", share <= max_share, "WARN", text, meta)


def new_disagreements(opened: Rows, open_total: int, largest: str,
                      baseline: bool = False) -> Finding:
    """WARN: the build found no new disagreement between independent sources; the new ones
    are counted and the largest shown. The first build's are the baseline, not news."""
    if baseline:
        return Finding("new_disagreements", True, "WARN", f"first build: {open_total:,} "
                       "disagreements between sources recorded as the baseline",
                       {"new": 0, "open": open_total, "largest": Markdown(largest)})
    meta = {"new": len(opened), "open": open_total, "largest": Markdown(largest)}
    if not opened:
        return Finding("new_disagreements", True, "WARN", "no new disagreement between sources "
                       f"since the last build ({open_total:,} open)", meta)
    shown = ", ".join(f"{r['provider']}/{r['model_id']} {r['slot']}" for r in opened[:3])
    return Finding("new_disagreements", False, "WARN",
                   f"{len(opened):,} new disagreements between sources since the last build "
                   f"({open_total:,} open), the largest: {shown}", meta)


RULES: tuple[Rule, ...] = (
    Rule("min_rows", "catalog", True,
         "Blocking: the catalog has at least the minimum number of active offerings.",
         lambda a: min_count(a.active_rows, a.min_rows, CATALOG)),
    Rule("prices_non_negative", "catalog", True,
         "Blocking: no price is negative.",
         lambda a: prices_non_negative(a.served)),
    Rule("prices_plausible", "catalog", True,
         "Blocking: no price above 1,000 USD per 1M tokens. Such source prices are unit slips: "
         "another source's plausible prices are used, or the offering is left unpriced and "
         "flagged implausible_price.",
         lambda a: prices_plausible(a.served)),
    Rule("output_price_present", "catalog", False,
         "Warning: text-generation offerings priced for input are priced for output too.",
         lambda a: output_price_present(a.active)),
    Rule("context_window_range", "catalog", False,
         "Warning: no context window or output limit above 100M tokens, and text-generation "
         "context windows of at least 256. Source values outside that are typos: another "
         "source's plausible value is used, or none, and the description names the values "
         "withheld.",
         lambda a: context_window_range(a.active)),
    Rule("overrides_matched", "catalog", False,
         "Error, not blocking: every override of MODEL_SYNC_OVERRIDES_FILE names an offering of "
         "the catalog (provider and model id as the catalog spells them); the others still "
         "apply, and the description names the file's lines.",
         lambda a: overrides_matched(a.overrides)),
    Rule("overrides_current", "catalog", False,
         "Warning: no override has expired; an expired override is not applied.",
         lambda a: overrides_current(a.overrides)),
    Rule("overrides_needed", "catalog", False,
         "Warning: no override equals every source's value (it is applied, but no longer "
         "needed).",
         lambda a: overrides_needed(a.overrides)),
    Rule("min_rows", "models", True,
         "Blocking: the rollup has at least the minimum number of models (run config min_rows, "
         "default 500); fewer means identity resolution or the catalog collapsed, and the "
         "previous rollup is kept.",
         lambda a: min_count(a.rows, a.min_rows, "models")),
    Rule("consistent", "price_history", False,
         "Warning: every listed, priced offering has exactly one open price interval, with its "
         "current prices, and no other offering has one; the build repairs what does not and "
         "names it.",
         lambda a: price_history_consistent(a.repaired, a.checked)),
    Rule("consistent", "prices", False,
         "Warning: no published price contradicts its source's others: a batch or flex price "
         "above the standard one, a long-context tier below the tier under it. The merge "
         "withholds such source prices and the description names them.",
         lambda a: prices_consistent(a.offerings, a.withheld, a.published)),
    Rule("mass_removal", "catalog_changes", False,
         "Warning: since the change feed was last built, no more than 30% of the served "
         "offerings were removed (more usually means a source's listing lost part of itself, "
         "past its own checks).",
         lambda a: mass_removal(a.counts, a.served, a.max_removed_share)),
    Rule("new_disagreements", "source_disagreements", False,
         "Warning: the build found no new disagreement between independent sources on an "
         "offering's price or token limit (new, or found again after the sources agreed); the "
         "new ones are counted, the largest shown in a table. The first build's are the "
         "baseline.",
         lambda a: new_disagreements(a.opened, a.open_total, a.largest, a.baseline)),
)
