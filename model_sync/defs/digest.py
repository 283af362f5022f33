"""The change digest: after each catalog build, one message with what changed, posted to a
webhook (a chat's, or any endpoint taking a JSON body), never twice for the same events."""

import json
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from model_sync.catalog import CATALOG
from model_sync.catalog.disagreement_store import opened_since
from model_sync.defs.alerts import AlertWebhook
from model_sync.defs.resources import CatalogDatabase
from model_sync.ops import changes as feed
from model_sync.ops import webhook
from model_sync.redact import redact

DIGEST_ENV = "MODEL_SYNC_DIGEST_WEBHOOK_URL"


class ChangeDigest(dg.ConfigurableResource):
    """Where the change digest goes and what it keeps. The URL is a secret, read at run time:
    MODEL_SYNC_DIGEST_WEBHOOK_URL, else the alerts' webhook."""

    url: str | None = Field(default=None, description=f"Default ${DIGEST_ENV}, else "
                                                      f"${webhook.WEBHOOK_ENV}.")
    format: str = Field(default="chat", description="chat (Slack and Discord) or json (a "
                                                    "generic body: counts and changes)")
    providers: list[str] = Field(default_factory=list, description="Only these providers "
                                 "(default: all).")
    min_change: str | None = Field(default=None, description="Only reprices of at least this "
                                   "relative change (0.05: 5%); a price gained or lost always.")

    def resolved_url(self) -> str | None:
        return (self.url or dg.EnvVar(DIGEST_ENV).get_value()
                or AlertWebhook().resolved_url() or None)

    def filter(self) -> feed.Filter:
        share = feed.parse_share(self.min_change) if self.min_change else None
        return feed.Filter(providers=frozenset(self.providers), min_change=share)


@dg.sensor(
    name="change_digest_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each catalog build, posts one digest of the changes since the last one "
                "(added, removed, repriced with percent) to the digest webhook; nothing when "
                "nothing matched, never twice for the same events.",
)
def change_digest_sensor(context: dg.SensorEvaluationContext, catalog_db: CatalogDatabase,
                         change_digest: ChangeDigest):
    url = change_digest.resolved_url()
    if not url:
        return dg.SkipReason(f"{DIGEST_ENV} (or {webhook.WEBHOOK_ENV}) is not set: no digest")
    state = json.loads(context.cursor) if context.cursor else {}
    builds = context.instance.fetch_materializations(dg.AssetKey(CATALOG), limit=1).records
    build = builds[0] if builds else None
    if build is None or build.storage_id == state.get("build"):
        return dg.SkipReason("no catalog build since the last digest")
    # Disagreements count from the cursor's time on; a cursor from before they existed (or
    # none) starts them, as the first build starts the feed.
    since = datetime.fromisoformat(state.get("opened", datetime.now(UTC).isoformat()))
    store = catalog_db.store()
    try:
        events = store.changes(after_id=state.get("event", 0) if state else None)
        last = store.last_change_id()
        opened, latest = opened_since(store.engine, since, change_digest.providers)
    finally:
        store.dispose()
    found = feed.changes(events, change_digest.filter()) if state else []
    opened = opened if "opened" in state else 0
    if found or opened:  # the first build seen starts the feed: history is not posted
        try:
            if change_digest.format == "json":
                body = feed.json_body(found, opened)
                webhook.post_json(url, json.loads(redact(json.dumps(body))))
            else:
                webhook.post(url, feed.digest_text(found, opened=opened))
        except webhook.WebhookError as exc:
            return dg.SkipReason(redact(f"digest not sent, retried next tick: {exc}"))
    context.update_cursor(json.dumps({"build": build.storage_id, "event": last,
                                      "opened": latest.isoformat()}))
    return dg.SkipReason(f"digest of {len(found):,} changes and {opened:,} disagreements "
                         "opened posted" if found or opened
                         else "nothing in this build matched the digest's filters")
