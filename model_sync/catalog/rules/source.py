"""The rules of a source sync, run on its rows against its last good rows before they are
published: each function beside its declaration in `RULES`."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from model_sync.catalog.contract import PRICE_FIELDS
from model_sync.catalog.money import format_decimal
from model_sync.catalog.rules.base import Finding, Rows, Rule, _pct, min_rows


def drop_guard(previous: Rows, rows: Rows, max_drop_share: float, what: str,
               max_removed_share: float = 0.3) -> Finding:
    """Fail when the row count fell by more than `max_drop_share` since the last good sync, or
    more than `max_removed_share` of its rows are gone however many new ones came (never below
    `max_drop_share`: accepting a drop accepts its removals)."""
    count, before = len(rows), len(previous)
    if before == 0:
        return Finding("drop_guard", True, "ERROR",
                       f"{what}: no previous good sync to compare with",
                       {"rows": count, "previous_rows": 0})
    keys = {r["source_key"] for r in rows}
    old_keys = {r["source_key"] for r in previous}
    removed = sorted(old_keys - keys)
    added = len(keys - old_keys)
    drop = (before - count) / before
    change = (count - before) / before  # not -drop: an unchanged count reads +0.0%, not -0.0%
    removed_share = len(removed) / before
    removal_limit = max(max_removed_share, max_drop_share)
    dropped = drop > max_drop_share
    churned = removed_share > removal_limit
    churn = (f"{len(removed):,} removed ({_pct(removed_share, sign=False)}, allowed: "
             f"{_pct(removal_limit, sign=False)}) and {added:,} added")
    if dropped:
        text = (f"{what} has {count:,} rows, {_pct(drop, sign=False)} fewer than the "
                f"{before:,} of its last good sync (allowed: "
                f"{_pct(max_drop_share, sign=False)}); {churn}")
    elif churned:
        text = (f"{what}: {len(removed):,} of the {before:,} rows of its last good sync are "
                f"gone ({_pct(removed_share, sign=False)}, allowed: "
                f"{_pct(removal_limit, sign=False)}) while {added:,} new ones arrived "
                f"({count:,} rows, {_pct(change)} net): a different set of models, not an update")
    else:
        text = (f"{what} has {count:,} rows; the last good sync had {before:,} "
                f"({_pct(change)}), within the allowed drop of {_pct(max_drop_share, sign=False)}; "
                f"{churn}")
    if dropped or churned:
        text += f", e.g. gone: {', '.join(removed[:5])}; the last good rows are kept"
    return Finding("drop_guard", not (dropped or churned), "ERROR", text,
                   {"rows": count, "previous_rows": before, "drop_share": round(drop, 4),
                    "max_drop_share": max_drop_share, "removed": len(removed), "added": added,
                    "removed_share": round(removed_share, 4),
                    "max_removed_share": removal_limit, "removed_sample": removed[:10]})


def price_coverage(previous: Rows, rows: Rows, max_share_drop: float, what: str) -> Finding:
    """Fail when, among the rows listed both in the last good sync and now, the share with an
    input price fell by more than `max_share_drop` (0.05: 5 points): a renamed price field."""
    count = len(rows)
    before = {r["source_key"]: r.get("input_price") is not None for r in previous}
    # One pass, holding no row: the rows may be a million, read back a chunk at a time.
    priced = compared = was = now = 0
    lost: list[str] = []
    for row in rows:
        has = row.get("input_price") is not None
        priced += has
        had = before.get(row["source_key"])
        if had is None:
            continue
        compared, was, now = compared + 1, was + had, now + has
        if had and not has:
            lost.append(f"{row['provider']}/{row['model_id']}")
    meta: dict[str, Any] = {"priced_rows": priced, "rows": count, "compared_rows": compared}
    if not compared:
        return Finding("price_coverage", True, "ERROR",
                       f"{what}: {priced:,} of {count:,} rows have an input price; no row in "
                       "common with a last good sync to compare with", meta)
    # Added and removed rows are left out: a wave of new unpriced models is not a lost price.
    share, previous_share = now / compared, was / compared
    fall = (was - now) / compared  # one division, so 2 of 100 is exactly 0.02
    passed = fall <= max_share_drop
    meta.update({"priced_share": round(share, 4), "previous_priced_share": round(previous_share, 4),
                 "share_drop": round(fall, 4), "max_priced_share_drop": max_share_drop,
                 "lost_price": len(lost), "sample": lost[:10]})
    text = (f"{what}: {priced:,} of {count:,} rows have an input price; of the {compared:,} "
            f"also in the last good sync, {_pct(share, sign=False)} are priced (last good sync: "
            f"{_pct(previous_share, sign=False)}, allowed fall: "
            f"{max_share_drop * 100:.1f} points); {len(lost):,} previously priced rows lost "
            "their input price")
    if lost:
        text += ", e.g. " + ", ".join(lost[:5])
    if not passed:
        text += "; a price field may have been renamed, so these rows are not published"
    return Finding("price_coverage", passed, "ERROR", text, meta)


_MOVES = {
    "jumps": "prices moved by more than {ratio}x",
    "turned_free": "prices turned free (0)",
    "turned_paid": "free prices turned paid",
    "price_lost": "prices are no longer published (now null)",
}


def price_jumps(previous: Rows, rows: Rows, max_ratio: float, what: str) -> Finding:
    """WARN: a price that moved by more than `max_ratio` (up or down), turned free or paid, or is
    no longer published (now null) is more often a data error (a unit slip, a misplaced decimal
    point, a dropped field) than a real repricing."""
    # An unchanged sync's rows are its last good rows: nothing moved.
    before = {} if previous is rows else {r["source_key"]: r for r in previous}
    moves: dict[str, list[str]] = {kind: [] for kind in _MOVES}
    for row in rows if before else ():
        old = before.get(row["source_key"])
        if old is None:
            continue
        for name in PRICE_FIELDS:
            a, b = old.get(name), row.get(name)
            if a == b:  # the common case: the price did not move
                continue
            kind = _price_move(a, b, max_ratio)
            if kind is not None:
                moves[kind].append(f"{row['provider']}/{row['model_id']} {name} "
                                   f"{format_decimal(a)} → "
                                   f"{'null' if b is None else format_decimal(b)}")
    found = [(kind, items) for kind, items in moves.items() if items]
    summary = ", ".join(f"{len(items)} {_MOVES[kind].format(ratio=f'{max_ratio:g}')}"
                        for kind, items in found)
    # Taken in turns from each kind, so a few jumps are not hidden behind many lost prices.
    per_kind = 10 // len(found) if found else 0
    sample = [item for _, item in sorted(((i, item) for _, items in found
                                          for i, item in enumerate(items[:per_kind])),
                                         key=lambda pair: pair[0])]
    text = (f"{what}: no price moved by more than {max_ratio:g}x, turned free or paid, or lost "
            "its value" if not found else f"{what}: {summary}, e.g. " + "; ".join(sample[:5]))
    return Finding("price_jumps", not found, "WARN", text,
                   {**{kind: len(items) for kind, items in moves.items()},
                    "max_ratio": max_ratio, "sample": sample})


def _price_move(old: Any, new: Any, max_ratio: float) -> str | None:
    """Which kind of suspicious move a price made, if any (prices are never negative)."""
    if old is None:
        return None
    if new is None:
        return "price_lost"
    if old > 0 and new == 0:
        return "turned_free"
    if old == 0 and new > 0:
        return "turned_paid"
    if old > 0 and max(old / new, new / old) > max_ratio:
        return "jumps"
    return None


def rejected_entries(kept: int, rejected: Sequence[Any], max_share: float,
                     what: str) -> Finding:
    """WARN when any entry of the payload was rejected (set aside as malformed); ERROR, which
    blocks the sync, when more than `max_share` of the entries were: then the payload's format
    has likely changed, and the last good rows are kept."""
    count = len(rejected)
    total = kept + count
    share = count / total if total else 0.0
    meta = {"rejected_entries": count, "entries": total, "rejected_share": round(share, 4),
            "max_rejected_share": max_share,
            "sample": [f"{r.source_key}: {r.reason}" for r in rejected[:10]]}
    if not count:
        return Finding("rejected_entries", True, "ERROR",
                       f"{what}: every one of its {total:,} entries was normalized", meta)
    reasons = Counter(r.reason for r in rejected)
    common = "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common(3))
    text = (f"{what}: {count:,} of {total:,} entries rejected ({_pct(share, sign=False)}, "
            f"allowed: {_pct(max_share, sign=False)}): {common}")
    if share > max_share:
        return Finding("rejected_entries", False, "ERROR",
                       text + "; the payload's format may have changed, so the last good rows "
                       "are kept", meta)
    return Finding("rejected_entries", False, "WARN",
                   text + "; the other entries are published", meta)


RULES: tuple[Rule, ...] = (
    Rule("min_rows", "source", True,
         "Blocking: the sync returned at least the minimum number of models.",
         lambda a: min_rows(a.rows, a.limits.min_rows, a.name)),
    Rule("drop_guard", "source", True,
         "Blocking: the model count did not drop more than the allowed share (max_drop_share, "
         "default 20%) since the last good sync, and no more of its models are gone than "
         "max_removed_share (default 30%) even if as many new ones arrived (another set of "
         "models, e.g. an old snapshot); otherwise the last good rows are kept.",
         lambda a: drop_guard(a.previous, a.rows, a.limits.max_drop_share, a.name,
                              a.limits.max_removed_share)),
    Rule("price_coverage", "source", True,
         "Blocking: among the models also in the last good sync, the share with an input price "
         "did not fall by more than max_priced_share_drop (default 5 points; a sign of a "
         "renamed price field); the description names the models that lost their price.",
         lambda a: price_coverage(a.previous, a.rows, a.limits.max_priced_share_drop,
                                  a.name)),
    Rule("price_jumps", "source", False,
         "Warning: no price moved by more than the allowed ratio (default 10x), turned free (0) "
         "or paid, or stopped being published (null) since the last sync; such moves are more "
         "often data errors than repricing.",
         lambda a: price_jumps(a.previous, a.rows, a.limits.max_price_ratio, a.name)),
    Rule("rejected_entries", "source", True,
         "Every entry of the payload was normalized. Warning when some were rejected "
         "(malformed entries, set aside in the rejected_entries table); blocking when more "
         "than the allowed share (default 2%) were, since the format has likely changed.",
         lambda a: rejected_entries(len(a.rows), a.rejected, a.limits.max_rejected_share,
                                    a.name)),
)
