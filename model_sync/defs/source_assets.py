"""One asset per source, from its spec: fetch, parse, audit, then publish (write-audit-publish).

The rows of a sync are audited by the blocking checks before they are written; rows that fail
are never published, so the catalog keeps the source's last good rows.
"""

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from model_sync.cadence import Cadence
from model_sync.catalog import validate
from model_sync.catalog.clock import utcnow
from model_sync.catalog.identity import Resolver
from model_sync.catalog.schema import LIFECYCLE_FIELDS, OFFERING_FIELDS
from model_sync.catalog.store import CatalogStore
from model_sync.defs.checks import results, source_check_specs
from model_sync.defs.interrupts import hold_interrupt, stop_point
from model_sync.defs.metadata import preview, stats_metadata, table_schema
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.http import FetchError, SourceClient
from model_sync.sources.base import FetchContext, ParseContext, ParseError, Row, SourceSpec

OWNERS = ["team:model-catalog"]
TRIGGER_TAG = "model_sync/trigger"  # what started a run: cli, full_resync, change_sensor, ...
SOURCE_GROUP = "sources"
# For outages longer than the HTTP client's own retries (seconds): a fetch error or an
# unexpected error is retried after 1, 3 and 7 minutes, each +/- 1 minute; a blocked sync or a
# parse error is not (`Failure(allow_retries=False)`: a retry would read the same bad data).
SOURCE_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL,
                                     jitter=dg.Jitter.PLUS_MINUS)


class SourceSyncConfig(dg.Config):
    """Run options of a source sync (set in the launchpad)."""

    min_rows: int | None = Field(default=None, description="Fewest models accepted; default "
                                                           "from the source's spec.")
    max_drop_share: float = Field(default=0.2, description="Largest drop of the model count "
                                                           "since the last good sync, 0..1.")
    params: dict[str, str] = Field(default_factory=dict, description="Extra query parameters, "
                                   "e.g. {output_modalities: all} for OpenRouter.")
    max_price_ratio: float = Field(default=10.0, description="Price moves above this ratio "
                                                             "are flagged (warning).")
    dry_run: bool = Field(default=False, description="Fetch, parse and audit without writing.")
    max_rows: int | None = Field(default=None, description="Top-N sources (Hugging Face): how "
                                 "many models to read; default from the source's spec.")
    max_extra_requests: int | None = Field(default=None, description="Most further requests "
                                           "(e.g. Hugging Face repositories other sources name).")


class SyncBlocked(Exception):
    """The audit withheld a sync's rows."""


def fetch_rows(spec: SourceSpec, http: HttpClientResource, params: dict[str, str], log, *,
               store: CatalogStore | None = None, client: SourceClient | None = None,
               max_rows: int | None = None,
               max_extra_requests: int | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Fetch every page of a source and parse it into offerings; also return fetch metadata.

    Pages are parsed one at a time, so only one raw page is held in memory. A top-N source stops
    requesting pages after `max_rows`; further listings (`spec.extra_requests`) follow.
    """
    client = client or http.client(log=log)
    api_key = http.api_key(spec)
    url, region = http.endpoint(spec)
    limit = max_rows if max_rows is not None else spec.max_rows
    rows: list[Row] = []
    pages, size, snapshots, advertised = 0, 0, [], None
    fetched_at = utcnow()

    def parse(page) -> list[Row]:
        nonlocal pages, size
        as_of = page.snapshot_date
        when = datetime.fromisoformat(as_of).replace(tzinfo=UTC) if as_of else fetched_at
        ctx = ParseContext(source=spec.name, fetched_at=when, region=region)
        try:
            parsed = spec.parse(page.payload, ctx)
        except ParseError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # A shape the parser did not expect (a number where text belongs, ...): bad data,
            # reported as such and not retried.
            raise ParseError(spec.name, f"page {page.number} has an entry of an unexpected "
                             f"shape ({type(exc).__name__}: {exc})") from exc
        pages, size = pages + 1, size + page.size
        if page.snapshot:
            snapshots.append(page.snapshot)
        where = f" (replayed {page.snapshot})" if page.snapshot else ""
        log.info(f"{spec.name}: page {page.number}: {len(parsed):,} models, "
                 f"{page.size / 1024:,.0f} KiB{where}")
        return parsed

    listing = client.fetch_pages(spec, params=params, api_key=api_key, url=url)
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
                                 max_extra_requests))
    rows = _dedupe(rows, spec, log)
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
    return rows, meta


def _fetch_extra(spec, http, client, store, rows, api_key, parse, log,
                 limit: int | None) -> dict[str, Any]:
    """Fetch the further listings a source asks for; a missing one is skipped with a warning."""
    ids = store.hugging_face_ids(exclude_source=spec.name) if store is not None else []
    context = FetchContext(rows=list(rows), setting=http.setting, hugging_face_ids=ids)
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
                                           paging=request.paging):
                rows.extend(parse(page))
        except FetchError as exc:
            if exc.status not in (401, 403, 404):
                raise
            missing.append(request.variant)
    if missing:
        log.warning(f"{spec.name}: {len(missing)} of {len(requests)} further requests found "
                    f"nothing (gone, private or not recorded), e.g. {missing[0]}")
    return {"extra_requests": len(requests), "extra_missing": len(missing)}


def _dedupe(rows: list[Row], spec: SourceSpec, log) -> list[Row]:
    """Paged APIs can repeat an entry across pages; keep the first and say how many repeated."""
    seen: dict[str, Row] = {}
    for row in rows:
        seen.setdefault(row["source_key"], row)
    if len(seen) < len(rows):
        log.warning(f"{spec.name}: {len(rows) - len(seen)} entries appeared twice; kept the first")
    return list(seen.values())


def resolve_identities(spec: SourceSpec, rows: list[Row], store: CatalogStore) -> None:
    """Give each row its canonical_id, knowing what every other source lists."""
    others = [r for r in store.identity_rows() if r["source"] != spec.name]
    resolver = Resolver([*others, *rows])
    for row in rows:
        row["canonical_id"] = resolver.canonical_id(row)


def audit(spec: SourceSpec, rows: list[Row], store: CatalogStore,
          config: SourceSyncConfig) -> list[validate.Finding]:
    """Compare a sync's rows with the last good rows of the source."""
    previous = store.source_rows(spec.name, active_only=True)
    previous_share = (sum(1 for r in previous if r["input_price"] is not None) / len(previous)
                      if previous else None)
    what = spec.name
    return [
        validate.min_rows(rows, config.min_rows if config.min_rows is not None else spec.min_rows,
                          what),
        validate.drop_guard(len(rows), len(previous), config.max_drop_share, what),
        validate.price_coverage(rows, previous_share, what),
        validate.price_jumps(previous, rows, config.max_price_ratio, what),
    ]


def record_quietly(store: CatalogStore, name: str, run_id: str, started: datetime, status: str,
                   error: str, log, rows_fetched: int | None = None) -> None:
    """Record a sync that did not finish, without hiding the error that stopped it."""
    try:
        store.record_failure(name, run_id=run_id, started_at=started, status=status, error=error,
                             rows_fetched=rows_fetched)
    except Exception as exc:
        log.warning(f"{name}: could not record the {status} sync in sync_runs: {exc}")


def build_source_asset(spec: SourceSpec, cadence: Cadence) -> dg.AssetsDefinition:
    """The asset of one source: its description, kinds, owners, checks and retry policy (its
    freshness policy is applied with the project's others in `definitions.py`)."""
    description = f"{spec.description}\n\nSchedule: {cadence.label}."
    if spec.auth and spec.auth.required:
        description += (f" Needs `{spec.auth.env_var}`: without it the source is disabled and "
                        "left out of schedules.")

    @dg.asset(
        name=spec.name,
        group_name=SOURCE_GROUP,
        description=description,
        kinds={"httpx", "pandas", "sqlalchemy"},
        owners=OWNERS,
        check_specs=source_check_specs(spec),
        retry_policy=SOURCE_RETRY_POLICY,
        tags={"model_sync/role": spec.role},
        metadata={
            "api": dg.MetadataValue.url(spec.url),
            "docs": dg.MetadataValue.url(spec.docs_url) if spec.docs_url else None,
            "schedule": cadence.label,
            "api_key_env": spec.auth.env_var if spec.auth else "none",
            "dagster/column_schema": table_schema(OFFERING_FIELDS + LIFECYCLE_FIELDS),
            "dagster/table_name": "source_offerings",
        },
        pool=f"source_{spec.name}",
        output_required=False,  # a dry run materializes nothing
    )
    def _source(context: dg.AssetExecutionContext, config: SourceSyncConfig,
                http: HttpClientResource, catalog_db: CatalogDatabase):
        started, clock = utcnow(), time.monotonic()
        reason = http.disabled_reason(spec)
        if reason:
            context.log.error(reason)
            raise dg.Failure(description=reason, allow_retries=False)
        stop_point()  # `model-sync sync` was told to stop before this step began
        store = catalog_db.store()
        run_id = context.run.run_id
        # `model-sync sync` reports failures at once: Dagster's run retries are for the daemon.
        retriable = context.run.tags.get(TRIGGER_TAG) != "cli"

        def record(status: str, error: str, rows_fetched: int | None = None) -> None:
            if not config.dry_run:  # a dry run leaves no trace in the sync history
                record_quietly(store, spec.name, run_id, started, status, error, context.log,
                               rows_fetched)

        try:
            rows, fetch_meta = fetch_rows(spec, http, config.params, context.log, store=store,
                                          max_rows=config.max_rows,
                                          max_extra_requests=config.max_extra_requests)
            resolve_identities(spec, rows, store)
            findings = audit(spec, rows, store, config)
            blocked = [f for f in findings if f.blocks]
            yield from results(spec.name, findings)
            if blocked:
                raise SyncBlocked("; ".join(f.description for f in blocked))
            if config.dry_run:
                # An observation, not a materialization: nothing was written, so the asset
                # must not look fresh nor trigger a catalog rebuild.
                context.log.info(f"{spec.name}: dry run: {len(rows):,} rows audited, not written")
                yield dg.AssetObservation(asset_key=spec.name, metadata={
                    "dry_run": True, "rows": len(rows), **fetch_meta})
                return
            stats = store.publish_source(spec.name, rows, run_id=run_id, started_at=started,
                                         now=started)
        except (FetchError, ParseError) as exc:
            record("failed", str(exc))
            context.log.error(f"{exc}. The previous rows of {spec.name} are kept.")
            raise dg.Failure(description=f"{exc}. The previous rows are kept.",
                             allow_retries=retriable and isinstance(exc, FetchError)) from exc
        except SyncBlocked as exc:
            record("blocked", str(exc), rows_fetched=len(rows))
            context.log.error(f"{spec.name}: sync blocked: {exc}")
            raise dg.Failure(description=f"{spec.name}: sync blocked by its checks: {exc}",
                             allow_retries=False) from exc
        except Exception as exc:  # unexpected: recorded, then retried by the retry policy
            record("failed", f"{spec.name}: {type(exc).__name__}: {exc}")
            if not retriable:
                raise dg.Failure(description=f"{spec.name}: {type(exc).__name__}: {exc}",
                                 allow_retries=False) from exc
            raise
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            # The run was terminated: the publish transaction, if begun, rolled back.
            record("interrupted", f"{spec.name}: the run was terminated mid-sync; the previous "
                   "rows are kept")
            if not retriable:  # Ctrl-C or SIGTERM stops `model-sync sync`: no retry
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
        yield dg.MaterializeResult(metadata={
            **stats_metadata(stats, duration),
            **fetch_meta,
            "priced_rows": priced,
            "unpriced_rows": len(rows) - priced,
            "preview": preview(rows),
        })

    return _source
