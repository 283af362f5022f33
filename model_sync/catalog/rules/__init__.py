"""Every audit rule, declared once: its name, the asset it checks, whether it blocks, what it
checks, and how (`Rule`, beside its function in `source.py` or `catalog.py`).

The audit of a source sync, of a catalog build and of the models rollup runs these rules; the
asset checks, their descriptions and blocking flags in the UI, and the alert sensor's check keys
are derived from this registry. Adding a rule is one edit: a function and its `Rule` in the
module of the asset it checks.
"""

from typing import Any

from model_sync.catalog.rules import catalog, source
from model_sync.catalog.rules.base import (
    CatalogAudit,
    ChangesAudit,
    DisagreementsAudit,
    Finding,
    HistoryAudit,
    Markdown,
    ModelsAudit,
    PricesAudit,
    Rule,
    Scope,
    SourceAudit,
    SourceLimits,
    min_rows,
)
from model_sync.catalog.rules.catalog import (
    context_window_range,
    output_price_present,
    prices_non_negative,
    prices_plausible,
)
from model_sync.catalog.rules.source import (
    drop_guard,
    price_coverage,
    price_jumps,
    rejected_entries,
)

RULES: tuple[Rule, ...] = (*source.RULES, *catalog.RULES)


def rules(scope: Scope) -> tuple[Rule, ...]:
    """The rules of one scope, in the order they run."""
    return tuple(rule for rule in RULES if rule.scope == scope)


def audit(scope: Scope, subject: Any) -> list[Finding]:
    """Run every rule of `scope` on what it sees."""
    findings = []
    for rule in rules(scope):
        finding = rule.check(subject)
        finding.blocking = rule.blocking
        findings.append(finding)
    return findings


__all__ = ["RULES", "CatalogAudit", "ChangesAudit", "DisagreementsAudit", "Finding",
           "HistoryAudit", "Markdown", "ModelsAudit",
           "PricesAudit", "Rule", "SourceAudit", "SourceLimits", "audit", "context_window_range",
           "drop_guard", "min_rows", "output_price_present", "price_coverage", "price_jumps",
           "prices_non_negative", "prices_plausible", "rejected_entries", "rules"]
