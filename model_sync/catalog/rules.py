"""Every audit rule, declared once: its name, whether it blocks, what it checks, and how.

The audit of a source sync and of a catalog build runs these rules; the asset checks, their
descriptions and blocking flags in the UI, and the alert sensor's check keys are derived from
this registry. Adding a rule is adding one `Rule` here (its function usually in `validate`).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from model_sync.catalog import CATALOG, validate
from model_sync.catalog.validate import Finding

Scope = Literal["source", "catalog", "models"]  # which asset a rule checks
Rows = Sequence[Mapping[str, Any]]


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
    """What a catalog rule sees: the built rows, the served ones, the active ones."""

    rows: Rows
    min_rows: int
    served: Rows = field(default=())  # all but unlisted: what is published as served
    active: Rows = field(default=())


@dataclass(frozen=True)
class ModelsAudit:
    """What a rule of the `models` rollup sees: its rows."""

    rows: Rows
    min_rows: int


@dataclass(frozen=True)
class Rule:
    """One audit rule. `blocking`: a failure at ERROR withholds the rows (write-audit-publish)."""

    name: str
    scope: Scope
    blocking: bool
    description: str
    check: Callable[[Any], Finding]


RULES: tuple[Rule, ...] = (
    Rule("min_rows", "source", True,
         "Blocking: the sync returned at least the minimum number of models.",
         lambda a: validate.min_rows(a.rows, a.limits.min_rows, a.name)),
    Rule("drop_guard", "source", True,
         "Blocking: the model count did not drop more than the allowed share (max_drop_share, "
         "default 20%) since the last good sync, and no more of its models are gone than "
         "max_removed_share (default 30%) even if as many new ones arrived (another set of "
         "models, e.g. an old snapshot); otherwise the last good rows are kept.",
         lambda a: validate.drop_guard(a.previous, a.rows, a.limits.max_drop_share, a.name,
                                       a.limits.max_removed_share)),
    Rule("price_coverage", "source", True,
         "Blocking: among the models also in the last good sync, the share with an input price "
         "did not fall by more than max_priced_share_drop (default 5 points; a sign of a "
         "renamed price field); the description names the models that lost their price.",
         lambda a: validate.price_coverage(a.previous, a.rows, a.limits.max_priced_share_drop,
                                           a.name)),
    Rule("price_jumps", "source", False,
         "Warning: no price moved by more than the allowed ratio (default 10x), turned free (0) "
         "or paid, or stopped being published (null) since the last sync; such moves are more "
         "often data errors than repricing.",
         lambda a: validate.price_jumps(a.previous, a.rows, a.limits.max_price_ratio, a.name)),
    Rule("rejected_entries", "source", True,
         "Every entry of the payload was normalized. Warning when some were rejected "
         "(malformed entries, set aside in the rejected_entries table); blocking when more "
         "than the allowed share (default 2%) were, since the format has likely changed.",
         lambda a: validate.rejected_entries(len(a.rows), a.rejected,
                                             a.limits.max_rejected_share, a.name)),
    Rule("min_rows", "catalog", True,
         "Blocking: the catalog has at least the minimum number of active offerings.",
         lambda a: validate.min_rows(a.active, a.min_rows, CATALOG)),
    Rule("prices_non_negative", "catalog", True,
         "Blocking: no price is negative.",
         lambda a: validate.prices_non_negative(a.served)),
    Rule("prices_plausible", "catalog", True,
         "Blocking: no price above 1,000 USD per 1M tokens. Such source prices are unit slips: "
         "another source's plausible prices are used, or the offering is left unpriced and "
         "flagged implausible_price.",
         lambda a: validate.prices_plausible(a.served)),
    Rule("output_price_present", "catalog", False,
         "Warning: text-generation offerings priced for input are priced for output too.",
         lambda a: validate.output_price_present(a.active)),
    Rule("context_window_range", "catalog", False,
         "Warning: no context window or output limit above 100M tokens, and text-generation "
         "context windows of at least 256. Source values outside that are typos: another "
         "source's plausible value is used, or none, and the description names the values "
         "withheld.",
         lambda a: validate.context_window_range(a.active)),
    Rule("min_rows", "models", True,
         "Blocking: the rollup has at least the minimum number of models (run config min_rows, "
         "default 500); fewer means identity resolution or the catalog collapsed, and the "
         "previous rollup is kept.",
         lambda a: validate.min_rows(a.rows, a.min_rows, "models")),
)


def rules(scope: Scope) -> tuple[Rule, ...]:
    """The rules of one scope, in the order they run."""
    return tuple(rule for rule in RULES if rule.scope == scope)


def audit(scope: Scope, subject: SourceAudit | CatalogAudit | ModelsAudit) -> list[Finding]:
    """Run every rule of `scope` on what it sees."""
    return [rule.check(subject) for rule in rules(scope)]
