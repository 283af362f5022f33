"""The tables built from the catalog after it: the `models` rollup, the price history held to
the rows it describes, and the change feed's summary. Each is skipped when what it reads is as
its last build left it (`build_digests`).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from model_sync.catalog.build_digests import (
    combined,
    held,
    sources_stamp,
    table_stamp,
)
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.inputs import most_changed
from model_sync.catalog.publishing import Blocked
from model_sync.catalog.reconcile import Repair
from model_sync.catalog.rolled import ModelsPublish, every_model
from model_sync.catalog.rollup import Figures, joined
from model_sync.catalog.rules import ChangesAudit, Finding, HistoryAudit, ModelsAudit, audit
from model_sync.catalog.schema import model_catalog, models, price_history
from model_sync.catalog.store import CatalogStore
from model_sync.ingest.batch import without_gc
from model_sync.sources import SOURCES
from model_sync.sources.base import Row

MODELS, PRICE_HISTORY = "models", "price_history"  # their builds' names in `build_digests`


@dataclass
class Rollup:
    """What a build of the `models` rollup did: its rows, those served by more than one
    provider; `written` is None when its audit blocked it (its rows are not kept)."""

    rows: int
    shared: int
    findings: list[Finding]
    written: int | None = None

    @property
    def blocked(self) -> list[Finding]:
        return [f for f in self.findings if f.blocks]


@without_gc
def build_models_table(store: CatalogStore, *, started: datetime, min_rows: int) -> Rollup:
    """Roll the catalog up by canonical model, with the benchmark and Hub figures of the
    sources that describe models; write what changed as it is rolled up, and commit it when
    the audit passes."""
    by_role = {s.name: s.role for s in SOURCES}
    describing = [name for name, role in by_role.items() if role in ("benchmarks", "models")]
    with store.engine.begin() as conn:
        read = table_stamp(conn, model_catalog), sources_stamp(conn, describing)
        if held(conn, MODELS, combined(*read, table_stamp(conn, models)),
                now=started) is not None:
            # The rollup as the last build left it, audited as it stands.
            count, shared = conn.execute(sa.select(
                sa.func.count(), sa.func.count().filter(models.c.providers > 1))).one()
            rollup = Rollup(count, shared, audit("models", ModelsAudit(count, min_rows)))
            rollup.written = None if rollup.blocked else 0
            return rollup
    described = store.offerings(describing)
    figures = joined(benchmarks=[r for r in described if by_role[r["source"]] == "benchmarks"],
                     hub=[r for r in described if by_role[r["source"]] == "models"])
    rollup = Rollup(0, 0, [])
    try:
        with store.engine.begin() as conn:
            publish = ModelsPublish(conn, now=started)
            for row, inputs in _models(conn, publish, figures):
                publish.add(row, inputs)
            written = publish.finish()
            rollup.rows, rollup.shared = publish.rows, publish.shared
            rollup.findings = audit("models", ModelsAudit(rollup.rows, min_rows))
            if rollup.blocked:
                raise Blocked  # nothing of it is published
            rollup.written = written
            record_digest(conn, MODELS, combined(*read, table_stamp(conn, models)),
                          now=started)
    except Blocked:
        pass
    return rollup


def _models(conn: sa.Connection, publish: ModelsPublish, figures: Figures):
    """The models to roll up, with their inputs hash: only those whose inputs changed (the rest
    kept as stored), when most stored models know their inputs, few changed and the last
    rollup left its record; else every model."""
    most = most_changed(conn, MODELS, known=len(publish.inputs), stored=len(publish.previous))
    if most is not None and (changed := publish.changed(conn, figures, most=most)) is not None:
        return changed
    return every_model(conn, figures)


@without_gc
def reconcile_price_history(store: CatalogStore, *, started: datetime,
                            run_id: str | None) -> tuple[Repair, list[Finding]]:
    """Hold the price history to the rows it describes, and say what had to be repaired
    (nothing, when the rows and the open intervals are those the last repair left)."""
    with store.engine.begin() as conn:
        read = sources_stamp(conn), table_stamp(conn, model_catalog)
        last = held(conn, PRICE_HISTORY, combined(*read, table_stamp(conn, price_history)),
                    now=started)
    if last is not None:
        repair = Repair(checked=last["checked"])
    else:
        repair = store.reconcile_price_history(now=started, run_id=run_id)
        with store.engine.begin() as conn:
            record_digest(conn, PRICE_HISTORY, combined(*read, table_stamp(conn, price_history)),
                          now=started, outcome={"checked": repair.checked})
    return repair, audit("price_history", HistoryAudit(repair.offerings, repair.checked))


def summarize_changes(store: CatalogStore, *, since: datetime | None,
                      max_removed_share: float = 0.3) -> tuple[Counter, list[Row], list[Finding]]:
    """The change events since `since` (all of them when None), by kind, the latest ones, and
    what the change feed's rules find in them."""
    counts = Counter(store.change_counts(since=since))  # counted by the database
    findings = audit("catalog_changes", ChangesAudit(counts, store.catalog_count(),
                                                     max_removed_share))
    return counts, store.latest_changes(since=since, limit=20), findings
