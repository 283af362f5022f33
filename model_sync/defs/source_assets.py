"""One asset per source, from its spec: fetch, parse, audit, then publish (write-audit-publish).

The rows of a sync are audited by the blocking checks before they are written; rows that fail
are never published, so the catalog keeps the source's last good rows.
"""

import random
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from model_sync.cadence import Cadence
from model_sync.catalog import validate
from model_sync.catalog.clock import utcnow
from model_sync.catalog.identity import Resolver
from model_sync.catalog.schema import LIFECYCLE_FIELDS, OFFERING_FIELDS
from model_sync.catalog.store import CatalogStore, CatalogUnavailable
from model_sync.defs.checks import BLOCKING, SOURCE_RULES, results, source_check_specs
from model_sync.defs.interrupts import hold_interrupt, stop_point
from model_sync.defs.metadata import preview, stats_metadata, table_schema
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.http import FetchError, NotRecorded, SourceClient
from model_sync.redact import redact
from model_sync.sources.base import (
    FetchContext,
    ParseContext,
    ParseError,
    Rejection,
    Row,
    SettingError,
    SourceSpec,
    excerpt,
)

OWNERS = ["team:model-catalog"]
TRIGGER_TAG = "model_sync/trigger"  # what started a run: cli, full_resync, change_sensor, ...
SOURCE_GROUP = "sources"
# Tags Dagster puts on runs nobody is watching: they can wait minutes for an outage to pass.
UNATTENDED_TAGS = ("dagster/schedule_name", "dagster/sensor_name", "dagster/backfill",
                   "dagster/from_automation_condition")


@dataclass(frozen=True)
class RetrySchedule:
    """Seconds to wait before each retry of a transient fetch failure (429, 5xx, timeouts,
    dropped connections), each +/- 20%. Everything else (a missing key or recording, a 4xx, a
    host that does not resolve, a parse error, a blocked audit) fails at once: a retry would
    meet the same answer."""

    unattended: tuple[float, ...] = (60.0, 180.0, 420.0)
    interactive: tuple[float, ...] = (10.0,)


SOURCE_RETRIES = RetrySchedule()


class SourceSyncConfig(dg.Config):
    """Run options of a source sync (set in the launchpad)."""

    min_rows: int | None = Field(default=None, description="Fewest models accepted; default "
                                                           "from the source's spec.")
    max_drop_share: float = Field(default=0.2, description="Largest drop of the model count "
                                                           "since the last good sync, 0..1.")
    max_removed_share: float = Field(default=0.3, description="Largest share of the last good "
                                     "sync's models that may be gone, even when as many new "
                                     "ones arrive, 0..1 (a larger max_drop_share raises it).")
    max_priced_share_drop: float = Field(default=0.05, description="Largest fall of the share "
                                         "of models with an input price, among those also in "
                                         "the last good sync, 0..1 (0.05: 5 points).")
    params: dict[str, str] = Field(default_factory=dict, description="Extra query parameters, "
                                   "e.g. {output_modalities: all} for OpenRouter.")
    max_price_ratio: float = Field(default=10.0, description="Price moves above this ratio "
                                                             "are flagged (warning).")
    dry_run: bool = Field(default=False, description="Fetch, parse and audit without writing.")
    max_rows: int | None = Field(default=None, description="Top-N sources (Hugging Face): how "
                                 "many models to read; default from the source's spec.")
    max_extra_requests: int | None = Field(default=None, description="Most further requests "
                                           "(e.g. Hugging Face repositories other sources name).")
    max_rejected_share: float = Field(default=0.02, description="Largest share of entries that "
                                      "may be rejected (malformed) before the sync is blocked, "
                                      "0..1; any rejected entry is a warning.")
    url: str | None = Field(default=None, description="The source's listing URL (a proxy, a "
                            "mirror, a test server); default $MODEL_SYNC_<SOURCE>_URL, else the "
                            "API's. The key is sent to this URL's host only.")


class SyncBlocked(Exception):
    """The audit withheld a sync's rows."""


@dataclass
class Fetched:
    """What a fetch of a source gave: its rows, the entries set aside, and fetch metadata."""

    rows: list[Row]
    meta: dict[str, Any] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    not_models: list[tuple[str, str]] = field(default_factory=list)  # (key, why), skipped


def fetch_rows(spec: SourceSpec, http: HttpClientResource, params: dict[str, str], log, *,
               store: CatalogStore | None = None, client: SourceClient | None = None,
               max_rows: int | None = None, max_extra_requests: int | None = None,
               url: str | None = None) -> Fetched:
    """Fetch every page of a source and parse it into offerings; also return fetch metadata.

    Pages are parsed one at a time, so only one raw page is held in memory. An entry that
    cannot be normalized is set aside (rejected, with its reason), not fatal. A top-N source
    stops requesting pages after `max_rows`; further listings (`spec.extra_requests`) follow.
    `url` replaces the source's URL (see `HttpClientResource.url_override`).
    """
    client = client or http.client(log=log)
    api_key = http.api_key(spec)
    override = http.url_override(spec, url)
    url, region = http.endpoint(spec, override)
    limit = max_rows if max_rows is not None else spec.max_rows
    fetched = Fetched(rows=[])
    rows = fetched.rows
    pages, size, snapshots, advertised = 0, 0, [], None
    fetched_at = utcnow()

    def parse(page) -> list[Row]:
        nonlocal pages, size
        as_of = page.snapshot_date
        when = datetime.fromisoformat(as_of).replace(tzinfo=UTC) if as_of else fetched_at
        ctx = ParseContext(source=spec.name, fetched_at=when, region=region)
        parsed = spec.parse(page.payload, ctx)  # a ParseError here: the page as a whole is wrong
        fetched.rejected.extend(ctx.rejected)
        fetched.not_models.extend(ctx.not_models)
        pages, size = pages + 1, size + page.size
        if page.snapshot:
            snapshots.append(page.snapshot)
        where = f" (replayed {page.snapshot})" if page.snapshot else ""
        aside = f", {len(ctx.rejected):,} rejected" if ctx.rejected else ""
        log.info(f"{spec.name}: page {page.number}: {len(parsed):,} models{aside}, "
                 f"{page.size / 1024:,.0f} KiB{where}")
        return parsed

    listing = client.fetch_pages(spec, params=params, api_key=api_key, url=url,
                                 override=override)
    for page in listing:
        rows.extend(parse(page))
        if spec.advertised_total is not None:
            advertised = spec.advertised_total(page.payload) or advertised
        if limit is not None and len(rows) >= limit:
            del rows[limit:]
            listing.close()  # no further page is requested
            log.info(f"{spec.name}: stopped at the first {limit:,} models")
            break
    meta: dict[str, Any] = {"region": region} if region else {}
    if spec.extra_requests is not None:
        meta.update(_fetch_extra(spec, http, client, store, rows, api_key, parse, log,
                                 max_extra_requests, url, override))
    fetched.rows = rows = dedupe(rows, spec.name, log, fetched.rejected)
    meta.update({"pages": pages, "bytes": size, "requests": client.requests_made})
    if client.rate_limit_waits:
        meta["rate_limit_wait_seconds"] = round(sum(client.rate_limit_waits), 1)
    if advertised is not None:
        meta["advertised_rows"] = advertised
        if len(rows) < advertised:
            meta["shortfall"] = advertised - len(rows)
            log.warning(f"{spec.name}: the API advertises {advertised:,} models but its pages "
                        f"held {len(rows):,}: {advertised - len(rows):,} missing (pages ran "
                        "empty before the end); the rows that came are published")
    if snapshots:
        meta["replayed_snapshots"] = ", ".join(snapshots)
    fetched.meta = meta
    log_set_aside(spec.name, fetched, log)
    return fetched


def log_set_aside(source: str, fetched: Fetched, log) -> None:
    """One line per reason for the rejected entries (with a count and examples), and a debug
    line per entry that is not a model."""
    by_reason: dict[str, list[str]] = {}
    for rejection in fetched.rejected:
        by_reason.setdefault(rejection.reason, []).append(rejection.source_key)
    for reason, keys in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
        log.warning(f"{source}: {len(keys):,} {'entry' if len(keys) == 1 else 'entries'} "
                    f"rejected: {reason} (e.g. {shown})")
    for key, why in fetched.not_models:
        log.debug(f"{source}: skipped {key!r}: not a model ({why})")


def _fetch_extra(spec, http, client, store, rows, api_key, parse, log, limit: int | None,
                 url: str, override: str | None) -> dict[str, Any]:
    """Fetch the further listings a source asks for; a missing one is skipped with a warning.

    They are planned from `url`, the listing's URL, so they follow a configured one."""
    ids = store.hugging_face_ids(exclude_source=spec.name) if store is not None else []
    context = FetchContext(rows=list(rows), url=url, setting=http.setting,
                           hugging_face_ids=ids)
    requests = list(spec.extra_requests(context))
    limit = spec.max_extra_requests if limit is None else limit
    if len(requests) > limit:
        log.info(f"{spec.name}: {len(requests):,} further requests planned; the first "
                 f"{limit:,} are made")
        requests = requests[:limit]
    missing = []
    for request in requests:
        try:
            for page in client.fetch_pages(spec, api_key=api_key, url=request.url,
                                           variant=request.variant, base_params=request.params,
                                           paging=request.paging, override=override):
                rows.extend(parse(page))
        except FetchError as exc:
            if exc.status not in (401, 403, 404):
                raise
            missing.append(request.variant)
    if missing:
        log.warning(f"{spec.name}: {len(missing)} of {len(requests)} further requests found "
                    f"nothing (gone, private or not recorded), e.g. {missing[0]}")
    return {"extra_requests": len(requests), "extra_missing": len(missing)}


def dedupe(rows: list[Row], source: str, log, rejected: list[Rejection]) -> list[Row]:
    """Paged APIs can repeat an entry across pages: an identical copy is dropped (keeping the
    first); copies of one key that differ are all rejected, since neither can be trusted."""
    copies: dict[str, list[Row]] = {}
    for row in rows:
        copies.setdefault(row["source_key"], []).append(row)
    if len(copies) == len(rows):
        return rows
    kept, repeated = [], 0
    for key, same_key in copies.items():
        if len(same_key) == 1:
            kept.append(same_key[0])
            continue
        first = _content(same_key[0])
        if all(_content(row) == first for row in same_key[1:]):
            kept.append(same_key[0])
            repeated += len(same_key) - 1
            continue
        rejected.append(Rejection(
            key, f"the id appears {len(same_key)} times in the payload with different values; "
                 "none is taken", None, excerpt([_content(r) for r in same_key])))
    if repeated:
        log.warning(f"{source}: {repeated} entries appeared twice with the same content; "
                    "kept the first")
    return kept


def _content(row: Row) -> Row:
    return {k: v for k, v in row.items() if k != "fetched_at"}


def resolve_identities(spec: SourceSpec, rows: list[Row], store: CatalogStore) -> None:
    """Give each row its canonical_id, knowing what every other source lists."""
    others = [r for r in store.identity_rows() if r["source"] != spec.name]
    resolver = Resolver([*others, *rows])
    for row in rows:
        row["canonical_id"] = resolver.canonical_id(row)


def audit(spec: SourceSpec, fetched: Fetched, store: CatalogStore,
          config: SourceSyncConfig) -> list[validate.Finding]:
    """Compare a sync's rows with the last good rows of the source."""
    rows = fetched.rows
    previous = store.source_rows(spec.name, active_only=True)
    what = spec.name
    return [
        validate.min_rows(rows, config.min_rows if config.min_rows is not None else spec.min_rows,
                          what),
        validate.drop_guard(previous, rows, config.max_drop_share, what,
                            config.max_removed_share),
        validate.price_coverage(previous, rows, config.max_priced_share_drop, what),
        validate.price_jumps(previous, rows, config.max_price_ratio, what),
        validate.rejected_entries(len(rows), fetched.rejected, config.max_rejected_share, what),
    ]


def record_quietly(store: CatalogStore, name: str, run_id: str, started: datetime, status: str,
                   error: str, log, rows_fetched: int | None = None) -> None:
    """Record a sync that did not finish, without hiding the error that stopped it."""
    try:
        store.record_failure(name, run_id=run_id, started_at=started, status=status, error=error,
                             rows_fetched=rows_fetched)
    except Exception as exc:
        log.warning(redact(f"{name}: could not record the {status} sync in sync_runs: {exc}"))


def unexpected_failure(name: str, exc: Exception, allow_retries: bool = True) -> dg.Failure:
    """The error being handled as a Failure with every secret masked. Raised `from None`, so the
    raw message and its chain stay out of the event log; the redacted traceback is its metadata."""
    return dg.Failure(description=redact(f"{name}: {type(exc).__name__}: {exc}"),
                      metadata={"traceback": dg.MetadataValue.text(redact(traceback.format_exc()))},
                      allow_retries=allow_retries)


def retry_waits(tags: Mapping[str, str]) -> tuple[float, ...]:
    """The waits before each retry of a transient fetch failure, by who launched the run:
    none for `model-sync sync` (it reports at once), a short one for a run a person launched
    and is watching, minutes for unattended runs (schedules, sensors, automation, backfills),
    which can wait out an outage."""
    if tags.get(TRIGGER_TAG) == "cli":
        return ()
    if any(tag in tags for tag in UNATTENDED_TAGS):
        return SOURCE_RETRIES.unattended
    return SOURCE_RETRIES.interactive


def build_source_asset(spec: SourceSpec, cadence: Cadence) -> dg.AssetsDefinition:
    """The asset of one source: its description, kinds, owners and checks (its freshness policy
    is applied with the project's others in `definitions.py`).

    Its outcomes, as the UI shows them: materialized (rows published); skipped (no key, or no
    recording in replay mode: the step succeeds without a materialization and its checks are
    skipped); blocked by a check (the previous rows stay); failed (the previous rows stay).
    """
    description = f"{spec.description}\n\nSchedule: {cadence.label}."
    if spec.auth and spec.auth.required:
        description += (f" Needs `{spec.auth.env_var}`: without it the source is disabled: "
                        "skipped by runs and left out of schedules.")
    asset_spec = dg.AssetSpec(
        key=spec.name,
        group_name=SOURCE_GROUP,
        description=description,
        kinds={"httpx", "pandas", "sqlalchemy"},
        owners=OWNERS,
        tags={"model_sync/role": spec.role},
        metadata={
            "api": dg.MetadataValue.url(spec.url),
            "docs": dg.MetadataValue.url(spec.docs_url) if spec.docs_url else None,
            "schedule": cadence.label,
            "api_key_env": spec.auth.env_var if spec.auth else "none",
            "dagster/column_schema": table_schema(OFFERING_FIELDS + LIFECYCLE_FIELDS),
            "dagster/table_name": "source_offerings",
        },
    )

    # can_subset: a skipped source yields neither its materialization nor its check results.
    @dg.multi_asset(name=spec.name, specs=[asset_spec], check_specs=source_check_specs(spec),
                    can_subset=True, pool=f"source_{spec.name}")
    def _source(context: dg.AssetExecutionContext, config: SourceSyncConfig,
                http: HttpClientResource, catalog_db: CatalogDatabase):
        started, clock = utcnow(), time.monotonic()
        checks = context.selected_asset_check_keys
        try:
            http.settings()
            reason = http.skip_reason(spec, variant_of(config.params))
        except (FileNotFoundError, ValueError) as exc:  # a bad HTTP or replay setting
            raise _failure(spec, f"{exc}", context) from None
        if reason:
            yield from _skip(spec, reason, context)
            return
        stop_point()  # `model-sync sync` was told to stop before this step began
        try:
            store = catalog_db.store()
        except CatalogUnavailable as exc:
            raise _failure(spec, str(exc), context) from None
        run_id = context.run.run_id

        def record(status: str, error: str, rows_fetched: int | None = None) -> None:
            if not config.dry_run:  # a dry run leaves no trace in the sync history
                record_quietly(store, spec.name, run_id, started, status, error, context.log,
                               rows_fetched)

        fetched: Fetched | None = None
        try:
            fetched = fetch_rows(spec, http, config.params, context.log, store=store,
                                 max_rows=config.max_rows,
                                 max_extra_requests=config.max_extra_requests, url=config.url)
            rows = fetched.rows
            resolve_identities(spec, rows, store)
            findings = audit(spec, fetched, store, config)
            blocked = [f for f in findings if f.blocks]
            yield from results(spec.name, findings, checks)
            if not config.dry_run:
                store.record_rejections(spec.name, fetched.rejected, run_id=run_id, now=started)
            if blocked:
                raise SyncBlocked("; ".join(f.description for f in blocked))
            if config.dry_run:
                # An observation, not a materialization: nothing was written, so the asset
                # must not look fresh nor trigger a catalog rebuild.
                context.log.info(f"{spec.name}: dry run: {len(rows):,} rows audited, not written")
                yield dg.AssetObservation(asset_key=spec.name, metadata={
                    "dry_run": True, "rows": len(rows), **fetched.meta,
                    **set_aside_metadata(fetched)})
                return
            stats = store.publish_source(spec.name, rows, run_id=run_id, started_at=started,
                                         now=started)
        except NotRecorded as exc:  # replay mode: a listing of this source was not recorded
            yield from _skip(spec, exc.cause, context)
            return
        except (FetchError, ParseError, SettingError) as exc:
            record("failed", str(exc))
            context.log.error(redact(f"{exc}. The previous rows of {spec.name} are kept."))
            waits = retry_waits(context.run.tags)
            if isinstance(exc, FetchError) and exc.transient and context.retry_number < len(waits):
                wait = waits[context.retry_number] * (0.8 + 0.4 * random.random())
                context.log.warning(f"{spec.name}: retry {context.retry_number + 1} of "
                                    f"{len(waits)} in {wait:.0f}s")
                raise dg.RetryRequested(max_retries=len(waits), seconds_to_wait=wait) from None
            yield from results(spec.name, not_evaluated(spec, checks, str(exc)), checks)
            attempts = context.retry_number + 1
            after = f" (after {attempts} attempts)" if attempts > 1 else ""
            offline = isinstance(exc, FetchError) and exc.offline
            raise _failure(spec, f"{exc}{after}. The previous rows are kept.", context,
                           logged=True, metadata={"offline": True} if offline else None) from None
        except SyncBlocked as exc:
            record("blocked", str(exc), rows_fetched=len(fetched.rows) if fetched else None)
            context.log.error(redact(f"{spec.name}: sync blocked: {exc}"))
            raise dg.Failure(description=redact(f"{spec.name}: sync blocked by its checks: {exc}"),
                             allow_retries=False) from None
        except CatalogUnavailable as exc:
            record("failed", str(exc))
            raise _failure(spec, str(exc), context) from None
        except Exception as exc:  # unexpected: recorded, reported with its traceback, not retried
            record("failed", f"{spec.name}: {type(exc).__name__}: {exc}")
            # Not the exception itself: its raw message and chain would reach the event log.
            raise unexpected_failure(spec.name, exc, allow_retries=False) from None
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            # The run was terminated: the publish transaction, if begun, rolled back.
            record("interrupted", f"{spec.name}: the run was terminated mid-sync; the previous "
                   "rows are kept")
            if context.run.tags.get(TRIGGER_TAG) == "cli":  # Ctrl-C or SIGTERM stops the command
                hold_interrupt()
            raise
        finally:
            store.dispose()
        duration = time.monotonic() - clock
        context.log.info(f"{spec.name}: {stats.rows:,} rows: {stats.added} added, "
                         f"{stats.removed} removed, {stats.updated} updated, {stats.repriced} "
                         f"repriced, {stats.restored} restored, {stats.unchanged} unchanged "
                         f"(not rewritten), in {duration:.1f}s")
        priced = sum(1 for r in rows if r["input_price"] is not None)
        yield dg.MaterializeResult(asset_key=spec.name, metadata={
            **stats_metadata(stats, duration),
            **fetched.meta,
            **set_aside_metadata(fetched),
            "priced_rows": priced,
            "unpriced_rows": len(rows) - priced,
            "preview": preview(rows),
        })

    return _source


def variant_of(params: Mapping[str, str]) -> str | None:
    """The replay variant a run's extra query parameters ask for (`output_modalities-all`)."""
    return ".".join(f"{k}-{v}" for k, v in sorted(params.items())) or None


def _skip(spec: SourceSpec, reason: str, context: dg.AssetExecutionContext):
    """End the step without a materialization: skipped, visibly, never a red failure.

    Its checks report that they were skipped, and why: left without a result, a planned check
    would show as a failed execution whenever another step of the run failed."""
    reason = redact(reason)
    context.log.warning(f"{spec.name}: skipped: {reason}")
    yield dg.AssetObservation(asset_key=spec.name, metadata={"skipped": reason})
    skipped = [validate.Finding(rule, True, "ERROR" if rule in BLOCKING else "WARN",
                                f"Skipped: {reason}; nothing was checked", {"evaluated": False})
               for rule in SOURCE_RULES]
    yield from results(spec.name, skipped, context.selected_asset_check_keys)


def _failure(spec: SourceSpec, message: str, context: dg.AssetExecutionContext, *,
             logged: bool = False, metadata: dict[str, Any] | None = None) -> dg.Failure:
    """A failure that is not retried: one clear line in the log and in the UI."""
    message = redact(message)
    if not logged:
        context.log.error(f"{spec.name}: {message}")
    text = message if message.startswith(f"{spec.name}:") else f"{spec.name}: {message}"
    return dg.Failure(description=text, allow_retries=False, metadata=metadata)


def not_evaluated(spec: SourceSpec, checks, why: str) -> list[validate.Finding]:
    """The warning-only rules of a sync that failed before its rows could be compared: they
    report that they were not evaluated (and why), instead of showing as failed executions."""
    return [validate.Finding(rule, True, "WARN", f"Not evaluated: the sync failed before its "
                             f"rows could be checked ({why})", {"evaluated": False})
            for rule in SOURCE_RULES if rule not in BLOCKING]


def set_aside_metadata(fetched: Fetched) -> dict[str, Any]:
    """The rejected entries (a count and a table of examples) and the skipped non-models."""
    meta: dict[str, Any] = {"rejected_entries": dg.MetadataValue.int(len(fetched.rejected)),
                            "not_model_entries": dg.MetadataValue.int(len(fetched.not_models))}
    if fetched.rejected:
        meta["rejected_examples"] = rejected_table(fetched.rejected)
    return meta


def rejected_table(rejected: Sequence[Rejection], limit: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"source_key": r.source_key, "reason": r.reason,
                                 "excerpt": r.excerpt}) for r in rejected[:limit]],
        schema=dg.TableSchema(columns=[dg.TableColumn("source_key", "string"),
                                       dg.TableColumn("reason", "string"),
                                       dg.TableColumn("excerpt", "string")]))
