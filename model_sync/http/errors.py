"""What a fetch can fail with: the listing, the URL and the cause, never a key."""

import httpx

from model_sync.redact import redact


class FetchError(RuntimeError):
    """A source could not be fetched; the message names the source, URL and cause (never a key:
    it is redacted).

    `transient`: the cause may be gone in a minute (429, 5xx, a timeout, a dropped connection),
    so a later attempt is worth it; a 4xx, a host name that does not resolve or a bad payload
    size are not. `offline`: the host could not be reached at all (no DNS, no route).
    """

    def __init__(self, source: str, url: str, message: str, status: int | None = None, *,
                 transient: bool = False, offline: bool = False):
        super().__init__(redact(f"{source}: GET {url}: {message}"))
        self.source, self.url, self.status = source, url, status
        self.cause, self.transient, self.offline = redact(message), transient, offline


class NotRecorded(FetchError):
    """Replay mode has no recording of the request: the source is skipped, not failed."""


def shown_url(url: httpx.URL) -> str:
    """The URL as logged: without userinfo, and with secret-looking query values masked."""
    masked = [(k, "***" if any(s in k.lower() for s in ("key", "token", "secret")) else v)
              for k, v in url.params.multi_items()]
    return str(url.copy_with(userinfo=b"", params=masked or None))


def explain(response: httpx.Response, reason: str) -> str:
    """An HTTP error's reason with what the server said (redacted), or what a 401/403 means."""
    if response.status_code in (401, 403):
        return f"{reason}: the API key was refused or is missing"
    # Redacted before it is cut, so no key is cut in two and half of it shown.
    snippet = redact(response.text[:4000])[:200].strip().replace("\n", " ")
    return f"{reason}: {snippet}" if snippet else reason
