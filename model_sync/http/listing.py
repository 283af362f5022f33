"""What the client fetches (a `Listing`, in plain values) and what it yields (a `Page`)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx

from model_sync.http.body import decode
from model_sync.http.credentials import Credentials
from model_sync.http.paging import NoPaging, Paginator
from model_sync.http.replay import SNAPSHOT_HEADER


@dataclass(frozen=True)
class Listing:
    """One listing to fetch: `name` names it in logs, errors and replay, `variant` its
    recording in replay; `credentials` go to their own origins only."""

    name: str
    url: str
    query: Mapping[str, str] = field(default_factory=dict)
    paging: Paginator = field(default_factory=NoPaging)
    credentials: Credentials | None = None
    variant: str | None = None
    max_pages: int = 200


@dataclass
class Page:
    """One fetched page: where it came from, its body (JSON, decoded when first read: a page
    a sync finds unchanged by its digest is never decoded), and the response headers."""

    url: str
    number: int
    body: bytes = field(repr=False)
    headers: httpx.Headers
    size: int
    snapshot: str | None = None  # the replayed file, in replay mode
    digest: str = ""  # SHA-256 of the body, as received
    source: str = ""  # what a BodyError names

    keep: bool = False  # the body stays once decoded (see `release`)

    @cached_property
    def payload(self) -> Any:
        """The body's JSON, exact decimals; a BodyError when it is empty or malformed."""
        payload = decode(self.body, self.source)
        if not self.keep:
            self.body = b""  # one copy held, not two
        return payload

    def release(self) -> None:
        """Let the decoded JSON go (a page held unparsed, once paging has read it): the body,
        kept, is decoded again when the page is read."""
        self.__dict__.pop("payload", None)

    @property
    def snapshot_date(self) -> str | None:
        return self.headers.get(SNAPSHOT_HEADER)
