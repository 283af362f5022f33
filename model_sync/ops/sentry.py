"""Failures reported to Sentry when SENTRY_DSN is set; nothing is sent, nor any client made,
when it is not.

Only what `report` is given is sent: no integration captures logs, requests or uncaught errors,
no local variables or personal data are attached, and every text of an event (message,
exception values, tags, contexts, breadcrumbs) passes through `redact` before it leaves.
"""

import os
import threading
from collections.abc import Mapping
from typing import Any

import sentry_sdk

from model_sync.redact import redact

DSN_ENV = "SENTRY_DSN"  # SENTRY_ENVIRONMENT and SENTRY_RELEASE are read by the SDK itself
FLUSH_SECONDS = 5.0

_clients: dict[str, sentry_sdk.Client] = {}
_lock = threading.Lock()


def configured_dsn() -> str | None:
    return (os.environ.get(DSN_ENV) or "").strip() or None


def scrub(value: Any) -> Any:
    """Every string within an event, redacted; dictionaries and lists walked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    return scrub(event)


def client(dsn: str) -> sentry_sdk.Client:
    """One client per DSN for the process, with nothing captured but what `report` sends."""
    with _lock:
        if dsn not in _clients:
            _clients[dsn] = sentry_sdk.Client(
                dsn=dsn,
                default_integrations=False,
                auto_enabling_integrations=False,
                include_local_variables=False,
                max_breadcrumbs=0,
                before_send=_before_send,
                before_breadcrumb=lambda crumb, _hint: None,
            )
        return _clients[dsn]


def report(error: BaseException | None, message: str, *, tags: Mapping[str, str],
           context: Mapping[str, Any] | None = None, group: str | None = None,
           dsn: str | None = None) -> str | None:
    """Send one failure (its exception with the stack, else the message) with `tags` and a
    `model_sync` context, grouped apart per `group` (a source); waits until it is sent. Returns
    Sentry's event id, or None when SENTRY_DSN is not set."""
    dsn = dsn or configured_dsn()
    if not dsn:
        return None
    sender = client(dsn)
    with sentry_sdk.new_scope() as scope:
        scope.set_client(sender)
        for key, value in tags.items():
            scope.set_tag(key, value)
        scope.set_context("model_sync", {"failure": message, **(context or {})})
        if group:
            scope.fingerprint = ["{{ default }}", group]
        if error is not None:
            event_id = scope.capture_exception(error)
        else:
            event_id = scope.capture_message(message, level="error")
    sender.flush(timeout=FLUSH_SECONDS)  # a step's process may end right after its failure
    return event_id
