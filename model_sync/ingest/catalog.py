"""The catalog build: every source's last good rows merged into one row per offering, audited
by the catalog rules, then published (write-audit-publish); and the `models` rollup built from
it, audited and published the same way.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from model_sync.catalog import CATALOG
from model_sync.catalog.build_digests import (
    combined,
    forget,
    held,
    listed,
    source_digests,
    sources_stamp,
    table_stamp,
)
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.grouped import mappings
from model_sync.catalog.history import SyncStats
from model_sync.catalog.merge import build_catalog, catalog_key
from model_sync.catalog.overlay import Outcome, apply_overrides
from model_sync.catalog.overrides import Overrides, OverridesError, load_overrides
from model_sync.catalog.providers import canonical_provider
from model_sync.catalog.publishing import Blocked, CatalogPublish, Tally, publish_merged
from model_sync.catalog.reconcile import Repair
from model_sync.catalog.rollup import model_rows
from model_sync.catalog.rules import (
    CatalogAudit,
    ChangesAudit,
    Finding,
    HistoryAudit,
    ModelsAudit,
    audit,
)
from model_sync.catalog.schema import model_catalog, models, price_history
from model_sync.catalog.sourced import Sourced
from model_sync.catalog.store import CatalogStore
from model_sync.ingest.batch import without_gc
from model_sync.ingest.source import record_quietly
from model_sync.pricing.storage import publish_override_prices
from model_sync.redact import redact
from model_sync.sources import SOURCES
from model_sync.sources.base import OFFERING_ROLES, Row

MODELS, PRICE_HISTORY = "models", "price_history"  # their builds' names in `build_digests`
# What the merge does not read of a source row: its price components (only an override's review
# of its source does) and its bookkeeping.
UNMERGED = ("prices", "fetched_at", "content_hash", "source_provider", "archived_at")


@dataclass
class Build:
    """What a catalog build did. `stats` is None when the audit blocked it: nothing published.
    Its rows are not kept: `tally` holds what the audit and the metadata read of them."""

    tally: Tally
    source_rows: int  # the offerings it was built from
    findings: list[Finding]
    archived: SyncStats
    renamed: int
    stats: SyncStats | None = None
    cleaned: dict[str, int] = field(default_factory=dict)
    overrides: Outcome = field(default_factory=Outcome)

    @property
    def blocked(self) -> list[Finding]:
        return [f for f in self.findings if f.blocks]


@without_gc
def build_catalog_tables(store: CatalogStore, *, run_id: str | None, started: datetime, log,
                         min_rows: int, archive_after_days: float, retention_days: float,
                         overrides_file: str | None = None) -> Build:
    """Archive what the grace period ended, merge, apply the overrides, audit, publish the
    catalog and its rollup, and clean up old history. A blocked build is recorded and returned
    unpublished; an error (a malformed overrides file too) is recorded and raised, and the
    previous catalog stays."""
    try:
        overrides = load_overrides(overrides_file)
    except OverridesError as exc:
        # Publishing without the team's corrections would publish prices they know are wrong.
        record_quietly(store, CATALOG, run_id, started, "failed",
                       f"{CATALOG}: {exc}; the previous catalog is kept", log)
        raise
    try:
        archived = store.archive_removed(now=started, grace_days=archive_after_days,
                                         run_id=run_id)
        if overrides is None and (kept := _as_built(store, archived, min_rows, run_id=run_id,
                                                    started=started)) is not None:
            kept.cleaned = store.cleanup(now=started, retention_days=retention_days)
            return kept
        wanted = {item.key for item in overrides.entries} if overrides else set()
        by_role = {s.name: s.role for s in SOURCES}
        # Benchmarks and Hub metadata describe models, not offerings: never catalog rows.
        sourced = Sourced([name for name, role in by_role.items() if role in OFFERING_ROLES],
                          [s.name for s in SOURCES if s.role == "provider"], wanted)
        build = Build(Tally(), 0, [], archived, 0)
        try:
            with store.engine.begin() as conn:  # merged, written and audited in one go
                publish = CatalogPublish(conn, now=started)
                read = source_digests(conn)  # before reading them: a later change is seen
                sourced.index(conn)
                build.stats, build.overrides = publish_merged(
                    sourced.groups(conn, () if overrides else UNMERGED), sourced, publish,
                    build.tally, overrides, run_id=run_id)
                build.source_rows = sourced.count
                if _blocked(build, min_rows):
                    raise Blocked
                publish.record(run_id=run_id, started_at=started, rows=build.tally.rows)
        except Blocked:
            build.stats = None
        moved: dict[str, tuple[str, str]] = {}
        build.renamed = store.update_canonical_ids(sourced.moved, moved)
        for source, (before, after) in moved.items():
            if read.get(source) == before:  # only this build's new canonical ids since
                read[source] = after
        if build.stats is None:
            _record_blocked(store, build, run_id=run_id, started=started)
            return build
        publish_override_prices(store.engine, build.overrides.components, now=started,
                                run_id=run_id)
        with store.engine.begin() as conn:  # what the next build may find as this one left it
            if overrides is None:
                record_digest(conn, CATALOG, combined(*listed(read),
                                                      table_stamp(conn, model_catalog)),
                              now=started, outcome={"source_rows": build.source_rows,
                                                    "tally": build.tally.summary()})
            else:  # overrides apply by date: their build is never skipped
                forget(conn, CATALOG)
        build.cleaned = store.cleanup(now=started, retention_days=retention_days)
        return build
    except Exception as exc:
        record_quietly(store, CATALOG, run_id, started, "failed",
                       f"{CATALOG}: {type(exc).__name__}: {exc}; the previous catalog is kept",
                       log)
        raise
    except BaseException:  # the run was terminated: the publish transaction rolled back
        record_quietly(store, CATALOG, run_id, started, "interrupted",
                       f"{CATALOG}: the run was terminated mid-build; the previous catalog is "
                       "kept", log)
        raise


def _blocked(build: Build, min_rows: int) -> bool:
    """Audit the built rows (`build.findings`): whether the audit blocks the build."""
    tally = build.tally
    build.findings = audit("catalog", CatalogAudit(
        tally.noted, min_rows, served=tally.noted_served, active=tally.noted_active,
        overrides=build.overrides, active_rows=tally.active))
    return bool(build.blocked)


def _record_blocked(store: CatalogStore, build: Build, *, run_id: str | None,
                    started: datetime) -> None:
    """Record a blocked build: nothing of it is published."""
    store.record_failure(CATALOG, run_id=run_id, started_at=started, status="blocked",
                         error=redact("; ".join(f.description for f in build.blocked)),
                         rows_fetched=build.tally.rows)


def _as_built(store: CatalogStore, archived: SyncStats, min_rows: int, *, run_id: str | None,
              started: datetime) -> Build | None:
    """The catalog as the last build left it, audited and recorded as a build, when every
    source's rows and the catalog's are as that build left them; else None."""
    with store.engine.begin() as conn:
        last = held(conn, CATALOG, combined(*listed(source_digests(conn)),
                                            table_stamp(conn, model_catalog)), now=started)
        if last is None:
            return None
        build = Build(Tally.as_built(conn, last.get("tally")), last["source_rows"], [],
                      archived, 0)
    if _blocked(build, min_rows):
        _record_blocked(store, build, run_id=run_id, started=started)
        return build
    build.stats = store.record_unchanged(CATALOG, build.tally.served, run_id=run_id,
                                         started_at=started, fetched=build.tally.rows)
    return build


def review_overrides(store: CatalogStore, overrides: Overrides, *, now: datetime) -> Outcome:
    """What the next catalog build makes of each override, read-only: the merge of the
    overridden providers' rows (a provider's rows merge alone), with the overrides applied."""
    by_role = {s.name: s.role for s in SOURCES}
    providers = {p for item in overrides.entries
                 for p in (item.provider, canonical_provider(item.provider)) if p}
    offerings = [r for r in store.offerings(providers=sorted(providers))
                 if by_role.get(r["source"]) in OFFERING_ROLES]
    described: dict[tuple[str, str], list[Row]] = {}
    for row in offerings:
        described.setdefault(catalog_key(row["provider"], row["model_id"] or ""), []).append(row)
    rows = build_catalog(offerings, built_at=now,
                         provider_sources=[s.name for s in SOURCES if s.role == "provider"])
    return apply_overrides(rows, described, overrides, now=now)


# What the rollup reads of each catalog row (`rollup.model_rows`): no JSON lineage to decode.
ROLLUP_COLUMNS = ("provider", "model_id", "canonical_id", "state", "name", "creator", "family",
                  "release_date", "open_weights", "context_window", "hugging_face_id",
                  "input_price", "output_price", "price_flags")


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
    rollup, catalog = Rollup(0, 0, []), model_catalog
    try:
        with store.engine.begin() as conn:
            rows = model_rows(mappings(conn, sa.select(*(catalog.c[c] for c in ROLLUP_COLUMNS))
                                       .order_by(catalog.c.canonical_id, catalog.c.provider,
                                                 catalog.c.model_id)),
                              benchmarks=[r for r in described
                                          if by_role[r["source"]] == "benchmarks"],
                              hub=[r for r in described if by_role[r["source"]] == "models"])
            written = store.publish_models(_counted(rows, rollup), now=started, conn=conn)
            rollup.findings = audit("models", ModelsAudit(rollup.rows, min_rows))
            if rollup.blocked:
                raise Blocked  # nothing of it is published
            rollup.written = written
            record_digest(conn, MODELS, combined(*read, table_stamp(conn, models)),
                          now=started)
    except Blocked:
        pass
    return rollup


def _counted(rows, rollup: Rollup):
    for row in rows:
        rollup.rows += 1
        rollup.shared += (row.get("providers") or 0) > 1
        yield row


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
