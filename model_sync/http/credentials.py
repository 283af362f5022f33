"""Auth headers and the origins they may be sent to."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int | None]


def origin(url: httpx.URL | str) -> Origin:
    """Scheme, host and port (the default one when the URL names none)."""
    url = httpx.URL(url)
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


@dataclass(frozen=True)
class Credentials:
    """Auth headers and the origins they may go to: those of the URLs a listing is configured
    with, never a host a next-page link or a redirect points to."""

    headers: Mapping[str, str]
    origins: frozenset[Origin]

    @classmethod
    def for_urls(cls, headers: Mapping[str, str], urls: Iterable[str]) -> "Credentials":
        """`headers`, allowed to the origins of `urls` only."""
        return cls(dict(headers), frozenset(origin(u) for u in urls))

    def allows(self, url: httpx.URL) -> bool:
        return origin(url) in self.origins
