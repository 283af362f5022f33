"""The catalog build: every source's last good rows merged into one row per offering, audited
by the catalog rules, then published (write-audit-publish). Only the offerings whose inputs
changed are merged again (`catalog.inputs`); the tables built from it are in `derived`.
"""

from dataclasses import dataclass, field
from datetime import datetime

from model_sync.catalog import CATALOG
from model_sync.catalog.build_digests import (
    combined,
    forget,
    held,
    listed,
    source_digests,
    table_stamp,
)
from model_sync.catalog.build_digests import record as record_digest
from model_sync.catalog.contract import ARCHIVED
from model_sync.catalog.history import SyncStats
from model_sync.catalog.inputs import most_changed
from model_sync.catalog.merge import build_catalog, catalog_key
from model_sync.catalog.overlay import Outcome, apply_overrides
from model_sync.catalog.overrides import Overrides, OverridesError, load_overrides
from model_sync.catalog.providers import canonical_provider
from model_sync.catalog.publishing import Blocked, CatalogPublish, publish_merged
from model_sync.catalog.rules import (
    CatalogAudit,
    Finding,
    audit,
)
from model_sync.catalog.schema import model_catalog
from model_sync.catalog.sourced import Sourced
from model_sync.catalog.store import CatalogStore
from model_sync.catalog.tally import Tally
from model_sync.ingest.batch import without_gc
from model_sync.ingest.source import record_quietly
from model_sync.pricing.storage import publish_override_prices
from model_sync.redact import redact
from model_sync.sources import SOURCES
from model_sync.sources.base import OFFERING_ROLES, Row

# What the merge does not read of a source row: its price components (only an override's review
# of its source does) and its bookkeeping (but the content hash, one of its inputs).
UNMERGED = ("prices", "fetched_at", "source_provider", "archived_at")


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
                    _groups(conn, sourced, publish, overrides), sourced, publish, overrides,
                    run_id=run_id)
                build.tally = Tally.counted(conn)
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


def _groups(conn, sourced: Sourced, publish: CatalogPublish, overrides: Overrides | None):
    """The offerings to merge, with their inputs hash: only those whose inputs changed, the
    rest kept as stored, when most catalog rows know their inputs, few changed, no override
    applies and the last build left its record (`DELETE FROM build_digests` has every offering
    merged again); else every offering."""
    stored = sum(state != ARCHIVED for _, state, _ in publish.previous.values())
    most = None if overrides is not None else most_changed(
        conn, CATALOG, known=len(publish.inputs), stored=stored)
    if most is not None and (changed := sourced.changed(conn, publish.inputs, most=most,
                                                        leave_out=UNMERGED)) is not None:
        publish.keep_unchanged()
        return changed
    return sourced.groups(conn, () if overrides else UNMERGED)


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
