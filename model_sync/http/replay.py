"""Offline replay: serve recorded response bodies through the normal HTTP code path.

Layout (the one of `../shared/payloads`): `<dir>/<source>/<YYYY-MM-DD>[.<variant>].json`, where
the variant is the request's non-paging query (`output_modalities-all`) and, for paged APIs,
`page-N` (`2026-06-27.page-1.json`). For each source the newest date on or before the replay
date is chosen once and kept for all its pages, so a sync never mixes two snapshots.

A request with no recording raises `NotRecorded` (a FetchError with status 404): the listing is
skipped, or a paged listing ends at its last recorded page.

Response headers that paging needs (Hugging Face's `Link: <...>; rel="next"`) are recorded beside
the page as `<same name>.headers.json`, a JSON object of header names to values; they are served
with the page, so the client follows the same `Link` header offline as online.
"""

import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import httpx

from model_sync.http.errors import NotRecorded

REPLAY_HEADER = "x-model-sync-replay"  # the replayed file's name
SNAPSHOT_HEADER = "x-model-sync-snapshot-date"
# Not part of a snapshot's variant name: they change from page to page.
PAGING_PARAMS = frozenset({"page", "per_page", "limit", "offset", "cursor", "pageToken",
                           "pageSize"})
SNAPSHOT = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(?:\.(?P<variant>.+))?\.json$")
HEADERS_SUFFIX = ".headers.json"


def query_variant(params: Mapping[str, str] | None) -> str | None:
    """The snapshot variant of a request: its non-paging query, e.g. `output_modalities-all`."""
    parts = [f"{k}-{v}" for k, v in sorted((params or {}).items()) if k not in PAGING_PARAMS]
    return ".".join(parts) or None


def snapshot_name(day: str, variant: str | None, page: int, paged: bool) -> str:
    """The file name of one recorded response: `2026-08-20[.variant][.page-N].json`."""
    stem = f"{day}.{variant}" if variant else day
    return f"{stem}.page-{page}.json" if paged else f"{stem}.json"


def headers_path(page: Path) -> Path:
    """Where the recorded response headers of a page file live."""
    return page.with_name(page.name.removesuffix(".json") + HEADERS_SUFFIX)


class ReplayTransport(httpx.BaseTransport):
    """An httpx transport that answers from recorded snapshots instead of the network."""

    def __init__(self, root: str | Path, as_of: str | date | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"replay directory {self.root} does not exist")
        self.as_of = date.fromisoformat(str(as_of)) if as_of else None
        self._pinned: dict[str, str] = {}

    def snapshots(self, source: str, variant: str | None = None) -> list[tuple[str, Path]]:
        """`(date, path)` of the recordings of a source's first page, oldest first."""
        found = []
        folder = self.root / source
        if not folder.is_dir():
            return []
        for path in folder.iterdir():
            match = SNAPSHOT.match(path.name)
            if not match or path.name.endswith(HEADERS_SUFFIX):
                continue
            if _page_one(match["variant"]) == (variant or None):
                found.append((match["date"], path))
        return sorted(found)

    def choose(self, source: str, variant: str | None = None) -> str | None:
        """The snapshot date to replay: the newest on or before the replay date."""
        dates = [d for d, _ in self.snapshots(source, variant)
                 if self.as_of is None or date.fromisoformat(d) <= self.as_of]
        return dates[-1] if dates else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        info = request.extensions.get("model_sync") or {}
        source, page, variant = info.get("source"), info.get("page", 1), info.get("variant")
        if not source:
            raise NotRecorded("replay", str(request.url), "replay needs the source of the "
                              "request", 404)
        key = f"{source}|{variant}"
        day = self._pinned.get(key) or self.choose(source, variant)
        if day is None:
            when = f" on or before {self.as_of}" if self.as_of else ""
            wanted = f" ({variant})" if variant else ""
            raise NotRecorded(source, str(request.url), f"no recorded snapshot of "
                              f"{source}{wanted}{when} in {self.root / source}", 404)
        self._pinned[key] = day
        path = self._path(source, day, variant, page)
        if path is None:
            raise NotRecorded(source, str(request.url),
                              f"no recording of page {page} of {source} {day}", 404)
        headers = {"content-type": "application/json", REPLAY_HEADER: path.name,
                   SNAPSHOT_HEADER: day}
        recorded = headers_path(path)
        if recorded.is_file():
            headers = {**json.loads(recorded.read_text()), **headers}
        return httpx.Response(200, content=path.read_bytes(), headers=headers, request=request)

    def _path(self, source: str, day: str, variant: str | None, page: int) -> Path | None:
        stem = f"{day}.{variant}" if variant else day
        candidates = [f"{stem}.page-{page}.json"]
        if page == 1:
            candidates.append(f"{stem}.json")
        for name in candidates:
            path = self.root / source / name
            if path.is_file():
                return path
        return None


def _page_one(variant: str | None) -> str | None:
    """The variant of a recording with its `page-1` part removed; None for other pages."""
    if variant is None:
        return None
    parts = variant.split(".")
    if parts[-1].startswith("page-"):
        if parts[-1] != "page-1":
            return "\0"  # a later page never starts a snapshot
        parts = parts[:-1]
    return ".".join(parts) or None

