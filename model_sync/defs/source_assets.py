"""One asset per source, from its spec: a thin layer over `model_sync.ingest`, translating a
sync's outcome for Dagster: a materialization with its metadata, check results, a skip, a retry
of a transient failure, or a failure in one clear line (the source keeps its last good rows).
"""

import random
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from model_sync.cadence import Cadence
from model_sync.catalog.clock import utcnow
from model_sync.catalog.rules import Finding, SourceLimits, rules
from model_sync.catalog.schema import LIFECYCLE_FIELDS, OFFERING_FIELDS
from model_sync.catalog.store import CatalogStore, CatalogUnavailable
from model_sync.defs.checks import results, source_check_specs
from model_sync.defs.interrupts import hold_interrupt, stop_point
from model_sync.defs.metadata import preview, stats_metadata, table_schema
from model_sync.defs.reporting import report_failure
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.defs.tags import ROLE_TAG, TRIGGER_TAG
from model_sync.http import FetchError, NotRecorded
from model_sync.ingest import Fetched, Outcome, record_quietly, sync_source
from model_sync.ingest.source import EXPECTED
from model_sync.redact import redact
from model_sync.sources.base import Rejection, SettingError, SourceSpec

OWNERS = ["team:model-catalog"]
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

    def limits(self, spec: SourceSpec) -> SourceLimits:
        """The audit's thresholds for this run of `spec`."""
        return SourceLimits(
            min_rows=self.min_rows if self.min_rows is not None else spec.min_rows,
            max_drop_share=self.max_drop_share, max_removed_share=self.max_removed_share,
            max_priced_share_drop=self.max_priced_share_drop,
            max_price_ratio=self.max_price_ratio, max_rejected_share=self.max_rejected_share)


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
    recording in replay mode: the step succeeds without a materialization, and an observation
    and its checks say why); blocked by a check (the previous rows stay); failed (the previous
    rows stay).
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
        tags={ROLE_TAG: spec.role},
        metadata={
            "api": dg.MetadataValue.url(spec.url),
            "docs": dg.MetadataValue.url(spec.docs_url) if spec.docs_url else None,
            "schedule": cadence.label,
            "api_key_env": spec.auth.env_var if spec.auth else "none",
            "dagster/column_schema": table_schema(OFFERING_FIELDS + LIFECYCLE_FIELDS),
            "dagster/table_name": "source_offerings",
        },
    )

    # can_subset: a skipped source yields no materialization (a run may select a subset of
    # its checks too, which the results follow).
    @dg.multi_asset(name=spec.name, specs=[asset_spec], check_specs=source_check_specs(spec),
                    can_subset=True, pool=f"source_{spec.name}", hooks={report_failure})
    def _source(context: dg.AssetExecutionContext, config: SourceSyncConfig,
                http: HttpClientResource, catalog_db: CatalogDatabase):
        started, clock = utcnow(), time.monotonic()
        checks = context.selected_asset_check_keys
        try:
            http.validate()
            reason = http.skip_reason(spec, variant_of(config.params))
        except ValueError as exc:  # a bad HTTP or replay setting
            raise _failure(spec, f"{exc}", context) from None
        if reason:
            yield from _skip(spec, reason, context)
            return
        stop_point()  # `model-sync sync` was told to stop before this step began
        try:
            store = catalog_db.store()
        except CatalogUnavailable as exc:
            raise _failure(spec, str(exc), context) from None
        try:
            outcome = _sync(spec, config, http, store, context, started)
        except NotRecorded as exc:  # replay mode: a listing of this source was not recorded
            yield from _skip(spec, exc.cause, context)
            return
        except EXPECTED as exc:
            context.log.error(redact(f"{exc}. The previous rows of {spec.name} are kept."))
            waits = retry_waits(context.run.tags)
            if isinstance(exc, FetchError) and exc.transient and context.retry_number < len(waits):
                wait = waits[context.retry_number] * (0.8 + 0.4 * random.random())
                context.log.warning(f"{spec.name}: retry {context.retry_number + 1} of "
                                    f"{len(waits)} in {wait:.0f}s")
                raise dg.RetryRequested(max_retries=len(waits), seconds_to_wait=wait) from None
            yield from results(spec.name, not_evaluated(str(exc)), checks)
            attempts = context.retry_number + 1
            after = f" (after {attempts} attempts)" if attempts > 1 else ""
            offline = isinstance(exc, FetchError) and exc.offline
            raise _failure(spec, f"{exc}{after}. The previous rows are kept.", context,
                           logged=True, metadata={"offline": True} if offline else None) from None
        except Exception as exc:  # unexpected: recorded, reported with its traceback, not retried
            # Not the exception itself: its raw message and chain would reach the event log.
            raise unexpected_failure(spec.name, exc, allow_retries=False) from None
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            if context.run.tags.get(TRIGGER_TAG) == "cli":  # Ctrl-C or SIGTERM stops the command
                hold_interrupt()
            raise
        finally:
            store.dispose()
        fetched, rows, stats = outcome.fetched, outcome.fetched.rows, outcome.stats
        yield from results(spec.name, outcome.findings, checks)
        if outcome.blocked:
            reason = "; ".join(f.description for f in outcome.blocked)
            context.log.error(redact(f"{spec.name}: sync blocked: {reason}"))
            raise dg.Failure(description=redact(f"{spec.name}: sync blocked by its checks: "
                                                f"{reason}"), allow_retries=False)
        if stats is None:
            # A dry run: an observation, not a materialization. Nothing was written, so the
            # asset must not look fresh nor trigger a catalog rebuild.
            context.log.info(f"{spec.name}: dry run: {len(rows):,} rows audited, not written")
            yield dg.AssetObservation(asset_key=spec.name, metadata={
                "dry_run": True, "rows": len(rows), **fetched.meta,
                **set_aside_metadata(fetched)})
            return
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


def _sync(spec: SourceSpec, config: SourceSyncConfig, http: HttpClientResource,
          store: CatalogStore, context: dg.AssetExecutionContext, started: datetime) -> Outcome:
    """Run the sync with the run's options; a bad URL setting is recorded like any failure."""
    try:
        access = http.access(spec, config.url, log=context.log)
    except SettingError as exc:
        if not config.dry_run:
            record_quietly(store, spec.name, context.run.run_id, started, "failed", str(exc),
                           context.log)
        raise
    return sync_source(spec, access, store, config.limits(spec), run_id=context.run.run_id,
                       started=started, log=context.log, params=config.params,
                       dry_run=config.dry_run, max_rows=config.max_rows,
                       max_extra_requests=config.max_extra_requests)


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
    skipped = [Finding(rule.name, True, "ERROR" if rule.blocking else "WARN",
                       f"Skipped: {reason}; nothing was checked", {"evaluated": False})
               for rule in rules("source")]
    yield from results(spec.name, skipped, context.selected_asset_check_keys)


def _failure(spec: SourceSpec, message: str, context: dg.AssetExecutionContext, *,
             logged: bool = False, metadata: dict[str, Any] | None = None) -> dg.Failure:
    """A failure that is not retried: one clear line in the log and in the UI."""
    message = redact(message)
    if not logged:
        context.log.error(f"{spec.name}: {message}")
    text = message if message.startswith(f"{spec.name}:") else f"{spec.name}: {message}"
    return dg.Failure(description=text, allow_retries=False, metadata=metadata)


def not_evaluated(why: str) -> list[Finding]:
    """The warning-only rules of a sync that failed before its rows could be compared: they
    report that they were not evaluated (and why), instead of showing as failed executions."""
    return [Finding(rule.name, True, "WARN", f"Not evaluated: the sync failed before its rows "
                    f"could be checked ({why})", {"evaluated": False})
            for rule in rules("source") if not rule.blocking]


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
