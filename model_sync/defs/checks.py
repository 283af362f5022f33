"""Asset check specs and results for the sources and the catalog.

The rules are declared once in `model_sync.catalog.rules`; this module names them for Dagster.
Blocking rules are blocking checks: their rows are audited before publishing and withheld when
they fail.
"""

from collections.abc import Collection, Iterable

import dagster as dg

from model_sync.catalog.rules import Finding, Markdown, Rule, rules
from model_sync.sources.base import SourceSpec

# Views of the rule registry (`model_sync.catalog.rules`), where each rule is declared once.
SOURCE_RULES = {rule.name: rule.description for rule in rules("source")}
CATALOG_RULES = {rule.name: rule.description for rule in rules("catalog")}
# The rules of the tables derived from the catalog, by check name (`models_min_rows`, ...).
DERIVED_RULES = {f"{rule.scope}_{rule.name}": rule.description for scope in (
    "models", "price_history", "catalog_changes", "prices", "source_disagreements")
    for rule in rules(scope)}
BLOCKING = {rule.name for rule in (*rules("source"), *rules("catalog")) if rule.blocking}


def check_name(asset: str, rule: str) -> str:
    return f"{asset}_{rule}"


def specs(asset: str, of: Iterable[Rule]) -> list[dg.AssetCheckSpec]:
    """The check specs of an asset, one per rule."""
    return [dg.AssetCheckSpec(check_name(asset, rule.name), asset=asset,
                              description=rule.description, blocking=rule.blocking)
            for rule in of]


def source_check_specs(spec: SourceSpec) -> list[dg.AssetCheckSpec]:
    return specs(spec.name, rules("source"))


def results(asset: str, findings: Iterable[Finding],
            selected: Collection[dg.AssetCheckKey] | None = None) -> list[dg.AssetCheckResult]:
    """Dagster check results for a set of findings, with their numbers as metadata; only those
    of the `selected` checks when the run selected some."""
    return [
        dg.AssetCheckResult(
            asset_key=asset,
            check_name=check_name(asset, f.rule),
            passed=f.passed,
            severity=dg.AssetCheckSeverity.ERROR if f.severity == "ERROR"
            else dg.AssetCheckSeverity.WARN,
            description=f.description,
            metadata={k: _meta(v) for k, v in f.metadata.items()},
        )
        for f in findings
        if selected is None
        or dg.AssetCheckKey(dg.AssetKey(asset), check_name(asset, f.rule)) in selected
    ]


def _meta(value):
    if isinstance(value, Markdown):
        return dg.MetadataValue.md(value)
    if isinstance(value, list):
        return dg.MetadataValue.json(value)
    return value
