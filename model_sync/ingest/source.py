"""A source sync, start to end: fetch -> parse -> dedupe -> identify -> audit -> publish.

Write-audit-publish: the rows are audited by the rules (`model_sync.catalog.rules`) before they
are written; rows a blocking rule rejects are never published and the source keeps its last
good rows. Every sync that does not finish is recorded in `sync_runs` with its error.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import chain

from model_sync.catalog.history import SyncStats
from model_sync.catalog.identity import Resolver
from model_sync.catalog.rules import Finding, SourceAudit, SourceLimits, audit
from model_sync.catalog.store import CatalogStore, CatalogUnavailable
from model_sync.http import BodyError, FetchError, NotRecorded
from model_sync.ingest.batch import without_gc
from model_sync.ingest.fetch import Access, Fetched, fetch_rows
from model_sync.ingest.rows import Rows
from model_sync.pricing.storage import publish_prices, record_price_rejections
from model_sync.redact import redact
from model_sync.sources.base import SettingError, SourceSpec

# The failures a sync expects (the network, the payload, a setting, the database): recorded with
# their own message. Anything else is recorded with its type, as a bug. A ParseError is a
# BodyError.
EXPECTED = (FetchError, BodyError, SettingError, CatalogUnavailable)


@dataclass
class Outcome:
    """What a sync did: what it fetched, what the audit found, and what publishing changed
    (None when the audit blocked it or on a dry run: nothing was written)."""

    fetched: Fetched
    findings: list[Finding] = field(default_factory=list)
    stats: SyncStats | None = None

    @property
    def blocked(self) -> list[Finding]:
        return [f for f in self.findings if f.blocks]


@without_gc
def sync_source(spec: SourceSpec, access: Access, store: CatalogStore, limits: SourceLimits, *,
                run_id: str | None, started: datetime, log, params: dict[str, str] | None = None,
                dry_run: bool = False, max_rows: int | None = None,
                max_extra_requests: int | None = None) -> Outcome:
    """Sync one source into the catalog and say what happened.

    Raises what stopped it (`EXPECTED` failures, `NotRecorded` in replay mode, an interruption),
    after recording it; a blocked sync returns normally, with its blocking findings. A dry run
    fetches and audits but writes nothing, not even its history.
    """
    def record(status: str, error: str, rows_fetched: int | None = None) -> None:
        if not dry_run:
            record_quietly(store, spec.name, run_id, started, status, error, log, rows_fetched)

    try:
        fetched = fetch_rows(spec, access, params or {}, log,
                             hugging_face_ids=named_repositories(spec, store),
                             max_rows=max_rows, max_extra_requests=max_extra_requests,
                             unchanged=None if dry_run else partial(store.unchanged_payload,
                                                                    spec.name),
                             recorded=None if dry_run else store.recorded_payload(spec.name))
        if fetched.unchanged is not None:
            return _unchanged(spec, fetched, store, limits, run_id, started, record)
        identify(spec, fetched.rows, store)
        outcome = Outcome(fetched, source_audit(spec, fetched, store, limits))
        if not dry_run:
            store.record_rejections(spec.name, fetched.rejected, run_id=run_id, now=started)
        if outcome.blocked:
            record("blocked", "; ".join(f.description for f in outcome.blocked),
                   rows_fetched=len(fetched.rows))
            return outcome
        if not dry_run:
            outcome.stats = store.publish_source(
                spec.name, fetched.rows, run_id=run_id, started_at=started, now=started,
                digest=fetched.digest if fetched.clean else None, not_models=fetched.not_models)
            write_prices(spec.name, fetched, store, run_id=run_id, started=started, log=log,
                         stats=outcome.stats)
        return outcome
    except NotRecorded:
        raise  # nothing to replay: skipped, not a sync
    except Exception as exc:
        record("failed", str(exc) if isinstance(exc, EXPECTED)
               else f"{spec.name}: {type(exc).__name__}: {exc}")
        raise
    except BaseException:  # the run was terminated: the publish transaction rolled back
        record("interrupted", f"{spec.name}: the run was terminated mid-sync; the previous "
               "rows are kept")
        raise


def _unchanged(spec: SourceSpec, fetched: Fetched, store: CatalogStore, limits: SourceLimits,
               run_id: str | None, started: datetime, record) -> Outcome:
    """A payload the last clean sync read, with the rows it left: audited as they stand (as
    the same rows parsed again would be), recorded, nothing written."""
    fetched.rows = Rows(store.listed_rows(spec.name))
    outcome = Outcome(fetched, audit("source", SourceAudit(spec.name, fetched.rows, fetched.rows,
                                                           limits, [])))
    if outcome.blocked:
        record("blocked", "; ".join(f.description for f in outcome.blocked),
               rows_fetched=len(fetched.rows))
        return outcome
    outcome.stats = store.record_unchanged(spec.name, len(fetched.rows), run_id=run_id,
                                           started_at=started)
    return outcome


def write_prices(name: str, fetched: Fetched, store: CatalogStore, *, run_id: str | None,
                 started: datetime, log, stats: SyncStats | None = None) -> None:
    """The published rows' price intervals and the prices set aside, beside the publish
    (`stats`: what it wrote; the rows' content hashes as published). The rows are already
    published: a failure here is a warning, repaired by the next sync or build of `prices`."""
    try:
        published = written = stamps = None
        if stats is not None:
            written, stamps = stats.written, stats.stamps
            published = {row["source_key"]: (digest, row.get("prices"))
                         for row, digest in zip(fetched.rows, stats.hashes, strict=True)
                         if written is None or row["source_key"] in written}
        publish_prices(store.engine, name, now=started, run_id=run_id, published=published,
                       written=written, stamps=stamps)
        record_price_rejections(store.engine, name, fetched.rejected_prices, run_id=run_id,
                                now=started)
    except Exception as exc:
        log.warning(redact(f"{name}: price components not written ({type(exc).__name__}: "
                           f"{exc}); the next build of prices repairs them"))


def identify(spec: SourceSpec, rows: Rows, store: CatalogStore) -> None:
    """Give each row its canonical_id, knowing what every other source lists."""
    resolver = Resolver(chain(store.identity_rows(exclude_source=spec.name), rows))
    rows.assign("canonical_id", resolver.canonical_id)


def source_audit(spec: SourceSpec, fetched: Fetched, store: CatalogStore,
                 limits: SourceLimits) -> list[Finding]:
    """Run the source rules on a sync's rows against the source's last good rows."""
    previous = store.source_prices(spec.name)  # what the rules read of the last good rows
    return audit("source", SourceAudit(spec.name, fetched.rows, previous, limits,
                                       fetched.rejected))


def record_quietly(store: CatalogStore, name: str, run_id: str | None, started: datetime,
                   status: str, error: str, log, rows_fetched: int | None = None) -> None:
    """Record a sync that did not finish, without hiding the error that stopped it."""
    try:
        store.record_failure(name, run_id=run_id, started_at=started, status=status, error=error,
                             rows_fetched=rows_fetched)
    except Exception as exc:
        log.warning(redact(f"{name}: could not record the {status} sync in sync_runs: {exc}"))


def named_repositories(spec: SourceSpec, store: CatalogStore | None) -> Sequence[str]:
    """The Hugging Face repositories other sources name, for a source that looks them up."""
    if spec.extra_requests is None or store is None:
        return ()
    return store.hugging_face_ids(exclude_source=spec.name)
