"""The change feed: the catalog's change events, filtered, as a table, JSON, an Atom feed, a JSON
Feed, or a digest for a chat webhook.

A price event carries its old and new value and the relative change; "repriced" is the kind
people ask for, `price_changed` the one stored.
"""

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

KINDS = ("added", "removed", "repriced", "context_changed", "restored", "archived")
STORED = {"repriced": "price_changed"}
_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Filter:
    """Which events to show: since when, of which providers and kinds, how large a reprice."""

    since: datetime | None = None
    providers: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    min_change: Decimal | None = None  # relative: 0.05 is 5%; a price gained or lost always is

    def keeps(self, change: "Change") -> bool:
        if self.since and change.detected_at < self.since:
            return False
        if self.providers and change.provider not in self.providers:
            return False
        if self.kinds and change.kind not in self.kinds:
            return False
        if self.min_change is not None and change.kind == "repriced":
            return change.relative is None or abs(change.relative) >= self.min_change
        return True


@dataclass(frozen=True)
class Change:
    """One event, as people read it."""

    id: int
    detected_at: datetime
    kind: str
    provider: str
    model_id: str
    source: str
    field: str | None = None
    old: str | None = None
    new: str | None = None

    @property
    def relative(self) -> Decimal | None:
        """(new - old) / old for a price; None when either side is unpriced or old is 0."""
        try:
            old, new = Decimal(self.old or ""), Decimal(self.new or "")
        except InvalidOperation:
            return None
        return (new - old) / old if old else None

    def describe(self) -> str:
        where = f"{self.provider}/{self.model_id}"
        if self.kind in ("repriced", "context_changed"):
            move = f"{self.old or 'unpriced'} → {self.new or 'unpriced'}"
            pct = f" ({self.relative:+.1%})" if self.relative is not None else ""
            return f"{where} {self.field}: {move}{pct}"
        return where


def changes(events: Iterable[Mapping[str, Any]], where: Filter = Filter()) -> list[Change]:
    """The stored events (`catalog_changes` rows) as changes, filtered, oldest first."""
    kind_of = {stored: kind for kind, stored in STORED.items()}
    out = []
    for e in events:
        change = Change(id=e["id"], detected_at=e["detected_at"],
                        kind=kind_of.get(e["change"], e["change"]), provider=e["provider"],
                        model_id=e["model_id"], source=e["source"], field=e["field"],
                        old=e["old_value"], new=e["new_value"])
        if where.keeps(change):
            out.append(change)
    return out


def parse_since(text: str, now: datetime) -> datetime:
    """A date (`2026-11-01`), a time (`2026-11-01T12:00Z`) or a duration back from now (`7d`,
    `12h`, `30m`, `2w`). A ValueError names what is accepted."""
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since must be a date, a time or a duration such as 7d, 12h, 30m; "
                         f"got {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_kinds(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return kinds


def table(found: Sequence[Change]) -> str:
    """The changes as a table people read, newest first."""
    if not found:
        return "No change matches."
    lines = [f"{'when (UTC)':<16}  {'change':<15} {'source':<13} offering"]
    lines += [f"{c.detected_at:%Y-%m-%d %H:%M}  {c.kind:<15} {c.source:<13} {c.describe()}"
              for c in reversed(found)]
    return "\n".join(lines)


def as_json(found: Sequence[Change]) -> list[dict[str, Any]]:
    return [{"id": c.id, "detected_at": c.detected_at.isoformat(), "change": c.kind,
             "provider": c.provider, "model_id": c.model_id, "source": c.source,
             "field": c.field, "old": c.old, "new": c.new,
             "relative_change": None if c.relative is None else str(c.relative)}
            for c in found]


def counts(found: Sequence[Change]) -> Counter:
    return Counter(c.kind for c in found)


def digest_text(found: Sequence[Change], limit: int = 15, opened: int = 0) -> str:
    """One chat message: counts by kind (and the source disagreements opened), then the
    largest reprices and the first additions."""
    by_kind = counts(found)
    head = ", ".join([*(f"{by_kind[k]:,} {k}" for k in KINDS if by_kind.get(k)),
                      *([f"{opened:,} disagreements opened"] if opened else [])])
    lines = [f":newspaper: model_sync: catalog changes: {head}"]
    repriced = sorted((c for c in found if c.kind == "repriced"),
                      key=lambda c: -abs(c.relative) if c.relative is not None else 0)
    lines += [f"• {c.describe()}" for c in repriced[:limit]]
    others = [c for c in found if c.kind in ("added", "removed")][: max(0, limit - len(repriced))]
    lines += [f"• {c.kind}: {c.describe()}" for c in others]
    shown = min(len(repriced), limit) + len(others)
    if len(found) > shown:
        lines.append(f"… and {len(found) - shown:,} more (`model-sync changes`)")
    return "\n".join(lines)


def json_body(found: Sequence[Change], opened: int = 0) -> dict[str, Any]:
    """The generic JSON body of a digest, for webhooks that are not chat."""
    return {"source": "model_sync", "counts": dict(counts(found)), "changes": as_json(found),
            "disagreements_opened": opened}


def json_feed(found: Sequence[Change], home: str = "https://github.com/model-sync") -> str:
    """A JSON Feed 1.1 document of the changes, newest first."""
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "model_sync catalog changes",
        "home_page_url": home,
        "items": [{"id": f"model-sync-change-{c.id}", "title": f"{c.kind}: {c.describe()}",
                   "content_text": c.describe(), "date_published": c.detected_at.isoformat(),
                   "tags": [c.kind, c.provider, c.source]} for c in reversed(found)],
    }, indent=2)


def atom(found: Sequence[Change], now: datetime,
         home: str = "https://github.com/model-sync") -> str:
    """An Atom feed of the changes, newest first."""
    entries = "".join(
        f"  <entry>\n    <id>urn:model-sync:change:{c.id}</id>\n"
        f"    <title>{escape(f'{c.kind}: {c.describe()}')}</title>\n"
        f"    <updated>{c.detected_at.isoformat()}</updated>\n"
        f"    <category term=\"{escape(c.kind)}\"/>\n"
        f"    <summary>{escape(c.describe())} (from {escape(c.source)})</summary>\n  </entry>\n"
        for c in reversed(found))
    updated = (found[-1].detected_at if found else now).isoformat()
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">\n'
            "  <title>model_sync catalog changes</title>\n"
            f"  <id>urn:model-sync:changes</id>\n  <updated>{updated}</updated>\n"
            f'  <link href="{escape(home)}"/>\n' + entries + "</feed>\n")


def parse_share(text: str) -> Decimal:
    """A relative change given as text (`0.05`); a ValueError names the bad one."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"--min-change must be a share such as 0.05, got {text!r}") from None
    if value < 0:
        raise ValueError(f"--min-change must not be negative, got {text!r}")
    return value
