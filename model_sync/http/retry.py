"""How long to wait before asking again: Retry-After, RateLimit headers, unreachable hosts."""

import errno
import re
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit window resets when its quota is spent, else None.

    Reads `RateLimit: "api";r=0;t=60` (draft-ietf-httpapi-ratelimit-headers-09, as the
    Hugging Face Hub sends it), the earlier `RateLimit: limit=500, remaining=0, reset=60`, and
    `RateLimit-Remaining` / `RateLimit-Reset` (also with the `X-` prefix).
    """
    waits = []
    value = headers.get("ratelimit") or ""
    # Draft 9 lists policies as `"name";r=..;t=..` items; earlier drafts one `remaining=, reset=`.
    items = [value] if "remaining=" in value else value.split(",")
    for item in items:
        fields = {}
        for part in re.split(r"[;,]", item):
            name, _, number = part.strip().partition("=")
            fields[name.strip().lower()] = number.strip().strip('"')
        wait = _spent(fields.get("r", fields.get("remaining")),
                      fields.get("t", fields.get("reset")))
        if wait is not None:
            waits.append(wait)
    for prefix in ("ratelimit-", "x-ratelimit-"):
        wait = _spent(headers.get(prefix + "remaining"), headers.get(prefix + "reset"))
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def _spent(remaining: str | None, reset: str | None) -> float | None:
    try:
        if remaining is None or reset is None or float(remaining) > 0:
            return None
        seconds = float(reset)
    except ValueError:
        return None
    if seconds > 1_000_000_000:  # an epoch timestamp, not a delay
        seconds -= datetime.now(UTC).timestamp()
    return max(0.0, seconds)


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def unreachable(exc: BaseException) -> bool:
    """Whether a transport error means the host cannot be reached at all: its name does not
    resolve, or there is no route to it (as opposed to a refused or dropped connection)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, socket.gaierror):
            return True
        if isinstance(error, OSError) and error.errno in _UNREACHABLE:
            return True
        error = error.__cause__ or error.__context__
    text = str(exc).lower()
    return any(marker in text for marker in _UNRESOLVED)


_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_UNRESOLVED = ("name or service not known", "nodename nor servname", "name resolution",
               "no address associated", "network is unreachable", "no route to host")
