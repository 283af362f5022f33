"""Jobs for operators."""

from collections.abc import Sequence

import dagster as dg

from model_sync.catalog import CATALOG
from model_sync.defs.resources import REPLAY_DIR_ENV, HttpClientResource
from model_sync.defs.tags import TRIGGER_TAG
from model_sync.sources import SOURCES
from model_sync.sources.base import SourceSpec


def build_full_resync(specs: Sequence[SourceSpec] = SOURCES,
                      http: HttpClientResource | None = None):
    """`full_resync`: every source that can sync now (its key is set; in replay mode, it has a
    recording), then the catalog. Built when the definitions load: a source that would only be
    skipped is left out, and the description says which and why."""
    http = http or HttpClientResource()
    left_out = [spec for spec in specs if http.disabled_reason(spec)]
    unrecorded = [spec for spec in specs if spec not in left_out and _not_recorded(http, spec)]
    selected = [spec.name for spec in specs if spec not in left_out and spec not in unrecorded]
    description = ("Re-reads every enabled source now, whatever the change sensors last saw, then "
                   "rebuilds the catalog. Every check still applies: a sync the audit blocks keeps "
                   "its last good rows (launch with `max_drop_share` in a source's config to "
                   "accept a large drop on purpose).")
    if left_out:
        missing = ", ".join(f"{spec.name} (`{spec.auth.env_var}`)" for spec in left_out)
        description += (f"\n\nLeft out, because their key was not set when the definitions "
                        f"loaded: {missing}. Set the variable (or {REPLAY_DIR_ENV}) in the code "
                        "server's environment and reload the code location to include them.")
    if unrecorded:
        description += (f"\n\nLeft out in replay mode, having no recording: "
                        f"{', '.join(spec.name for spec in unrecorded)}.")
    return dg.define_asset_job(
        name="full_resync",
        selection=dg.AssetSelection.assets(*selected, CATALOG),
        description=description,
        tags={TRIGGER_TAG: "full_resync"},
    )


def _not_recorded(http: HttpClientResource, spec: SourceSpec) -> bool:
    try:
        return http.not_recorded_reason(spec) is not None
    except (FileNotFoundError, ValueError):  # a bad replay setting: its runs say so, loudly
        return False
