"""Alerts: incidents, once each, and a recovery when they clear, posted to a chat webhook.

An incident is a condition that holds now (a source is stale, a check's latest evaluation
failed, ...) under a stable key. The alert sensor keeps the keys it has announced in its cursor:
a new key is posted once, a key that disappears gets a recovery message. The payload has `text`
(Slack) and `content` (Discord); the webhook URL is a secret and appears in no payload or log
(every text posted is redacted).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from model_sync.redact import redact

WEBHOOK_ENV = "MODEL_SYNC_ALERT_WEBHOOK_URL"
DISCORD_LIMIT = 2000


@dataclass(frozen=True)
class Incident:
    key: str  # e.g. "stale:openrouter", "check_failed:openrouter/openrouter_min_rows"
    title: str  # one line, used again in the recovery message
    detail: str = ""


class WebhookError(RuntimeError):
    """A post that did not go through; the message never contains the URL."""


def alert_text(incident: Incident) -> str:
    text = f":rotating_light: model_sync: {incident.title}"
    return f"{text}\n{incident.detail}" if incident.detail else text


def recovery_text(title: str) -> str:
    return f":white_check_mark: model_sync: resolved: {title}"


def payload(text: str) -> dict[str, str]:
    """A body both Slack (`text`) and Discord (`content`, at most 2000 characters) accept, with
    every secret masked (an error quoted in an alert may hold one, the webhook URL included)."""
    text = redact(text)
    short = text if len(text) <= DISCORD_LIMIT else text[: DISCORD_LIMIT - 1] + "…"
    return {"text": text, "content": short}


def post(url: str, text: str, timeout: float = 10.0,
         transport: httpx.BaseTransport | None = None) -> None:
    """POST one chat message; raises WebhookError naming the failure, never the URL."""
    post_json(url, payload(text), timeout, transport)


def post_json(url: str, body: Mapping, timeout: float = 10.0,
              transport: httpx.BaseTransport | None = None) -> None:
    """POST one JSON body (its texts redacted by the caller); raises WebhookError naming the
    failure, never the URL."""
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise WebhookError(f"webhook post failed ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise WebhookError(f"webhook answered HTTP {response.status_code}")


@dataclass
class Changes:
    new: list[Incident]
    cleared: dict[str, str]  # key -> title of the incident announced earlier


def compare(announced: Mapping[str, str], current: Mapping[str, Incident]) -> Changes:
    """What to post: incidents not announced yet, and announced ones that no longer hold."""
    return Changes(
        new=[current[k] for k in sorted(current) if k not in announced],
        cleared={k: announced[k] for k in sorted(announced) if k not in current},
    )


def load_cursor(cursor: str | None) -> dict[str, str]:
    """The incidents announced so far (key -> title), from the sensor cursor."""
    if not cursor:
        return {}
    data = json.loads(cursor)
    return dict(data.get("open", {}))


def dump_cursor(announced: Mapping[str, str]) -> str:
    return json.dumps({"open": dict(sorted(announced.items()))}, sort_keys=True)
