"""A cheap change probe: the validators of a listing's first page, and whether they moved."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from model_sync.http.replay import REPLAY_HEADER


@dataclass(frozen=True)
class Probe:
    """The answer to a change probe: whether the source changed, and its current validators."""

    changed: bool
    validators: dict[str, str]
    status: int

    @classmethod
    def of(cls, response: httpx.Response, previous: Mapping[str, str]) -> "Probe":
        """The answer a first page gives: its ETag or Last-Modified, else the SHA-256 of its
        body; in replay mode also the replayed file's name."""
        validators = {k: v for k, v in (
            ("etag", response.headers.get("etag")),
            ("last_modified", response.headers.get("last-modified")),
            ("snapshot", response.headers.get(REPLAY_HEADER)),
        ) if v}
        if not validators.keys() & {"etag", "last_modified"}:
            validators["sha256"] = hashlib.sha256(response.content).hexdigest()
        changed = _identity(validators) != _identity(previous)
        return cls(changed=changed, validators=validators, status=response.status_code)

    @property
    def version(self) -> str:
        """A short, stable name of the source's current version, for run keys."""
        return hashlib.sha256(_identity(self.validators).encode()).hexdigest()[:16]


def conditional_headers(previous: Mapping[str, str]) -> dict[str, str]:
    """`If-None-Match` / `If-Modified-Since` from the validators of the last answer."""
    headers = {}
    if previous.get("etag"):
        headers["If-None-Match"] = previous["etag"]
    if previous.get("last_modified"):
        headers["If-Modified-Since"] = previous["last_modified"]
    return headers


def _identity(validators: Mapping[str, str] | None) -> str:
    """What identifies a version: the strongest validator present."""
    for key in ("etag", "sha256", "snapshot", "last_modified"):
        if validators and validators.get(key):
            return f"{key}={validators[key]}"
    return ""
