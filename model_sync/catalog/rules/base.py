"""What every rule shares: its declaration (`Rule`), its outcome (`Finding`), and what each
kind of rule sees (the audit subjects)."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["ERROR", "WARN"]
# Which asset a rule checks: every source's, or one of the catalog group's.
Scope = Literal["source", "catalog", "models", "price_history", "catalog_changes", "prices",
                "source_disagreements"]
Rows = Sequence[Mapping[str, Any]]


@dataclass
class Finding:
    """The outcome of one rule: passed or not, how bad, why, and the numbers behind it."""

    rule: str
    passed: bool
    severity: Severity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    blocking: bool = True  # its rule's: an ERROR of a non-blocking rule fails, publishing

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "ERROR" and self.blocking


@dataclass(frozen=True)
class SourceLimits:
    """The thresholds of a source's audit (run config of its asset)."""

    min_rows: int = 1
    max_drop_share: float = 0.2
    max_removed_share: float = 0.3
    max_priced_share_drop: float = 0.05
    max_price_ratio: float = 10.0
    max_rejected_share: float = 0.02


@dataclass(frozen=True)
class SourceAudit:
    """What a source rule sees: the sync's rows and rejected entries, the last good rows."""

    name: str
    rows: Rows
    previous: Rows
    limits: SourceLimits
    rejected: Sequence[Any] = ()


@dataclass(frozen=True)
class CatalogAudit:
    """What a catalog rule sees: the built rows, the served ones, the active ones (of each,
    those a rule may name, in catalog order), and how many rows are active."""

    rows: Rows
    min_rows: int
    served: Rows = field(default=())  # all but unlisted: what is published as served
    active: Rows = field(default=())
    overrides: Any = None  # the overlay's Outcome: what became of each override
    active_rows: int = 0


@dataclass(frozen=True)
class ModelsAudit:
    """What a rule of the `models` rollup sees: how many rows it has."""

    rows: int
    min_rows: int


@dataclass(frozen=True)
class HistoryAudit:
    """What a rule of the price history sees: the offerings whose open intervals had to be
    repaired to match their rows, of how many checked."""

    repaired: Sequence[str]
    checked: int


@dataclass(frozen=True)
class PricesAudit:
    """What a rule of the catalog's price components sees: the offerings priced, the prices
    the merge withheld because they contradict their source's others (offering: why), and any
    published price that still does."""

    offerings: int
    withheld: Sequence[str] = ()
    published: Sequence[str] = ()


@dataclass(frozen=True)
class ChangesAudit:
    """What a rule of the change feed sees: the events since the feed was last built, by kind,
    and how many offerings the catalog serves now."""

    counts: Mapping[str, int]
    served: int
    max_removed_share: float = 0.3


@dataclass(frozen=True)
class DisagreementsAudit:
    """What a rule of the source disagreements sees: those the build opened (new, or found
    again), largest first, how many are open in all, and the largest as a markdown table."""

    opened: Rows
    open_total: int
    largest: str = ""
    baseline: bool = False  # the first build: what it finds is the baseline, not news


class Markdown(str):
    """A finding's metadata value shown as markdown."""


@dataclass(frozen=True)
class Rule:
    """One audit rule. `blocking`: a failure at ERROR withholds the rows (write-audit-publish)."""

    name: str
    scope: Scope
    blocking: bool
    description: str
    check: Callable[[Any], Finding]


def min_rows(rows: Rows, minimum: int, what: str) -> Finding:
    return min_count(len(rows), minimum, what)


def min_count(count: int, minimum: int, what: str) -> Finding:
    """ERROR: at least `minimum` rows."""
    passed = count >= minimum
    verdict = "at least" if passed else "fewer than"
    return Finding("min_rows", passed, "ERROR",
                   f"{what} has {count:,} rows, {verdict} the minimum of {minimum:,}",
                   {"rows": count, "minimum": minimum})


def _pct(share: float, sign: bool = True) -> str:
    text = f"{share * 100:+.1f}%" if sign else f"{share * 100:.1f}%"
    return text
