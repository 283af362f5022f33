"""`model-sync record`: save the live responses of sources in the replay layout.

Each source is fetched through the same client, paging and further requests as a sync; every
response body is written as it came, and the `Link` header beside the page that carried it, so
`MODEL_SYNC_REPLAY_DIR=DIR model-sync sync` replays the recording exactly. A source's files are
staged first and moved into place only when its whole fetch succeeded: a failure part way through
paging leaves no partial recording (and an earlier recording of the same day untouched).
"""

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from model_sync.catalog.store import CatalogStore
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.http import BodyError, FetchError
from model_sync.http.replay import headers_path, snapshot_name
from model_sync.ingest import fetch_rows, named_repositories
from model_sync.sources import SOURCES
from model_sync.sources.base import SettingError

_NOT_REPLAYED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class RecordingTransport(httpx.BaseTransport):
    """Passes requests on (to the network by default) and stages every 200 body on disk.

    Files are written under a staging folder inside `out`; `commit()` moves them to their place
    in the replay layout, `discard()` drops them.
    """

    def __init__(self, out: Path, day: str, inner: httpx.BaseTransport | None = None):
        self.out, self.day = Path(out), day
        self.inner = inner or httpx.HTTPTransport()
        self.out.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=".recording-", dir=self.out))
        self.written: list[Path] = []  # staged page files, relative to the staging folder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        info = request.extensions.get("model_sync") or {}
        if response.status_code != 200 or not info.get("source"):
            return response
        body = response.read()  # decoded: the replay serves it without content-encoding
        name = snapshot_name(self.day, info.get("variant"), info.get("page", 1),
                             bool(info.get("paged")))
        path = self.stage / info["source"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        self.written.append(path.relative_to(self.stage))
        link = response.headers.get("link")
        if link:
            headers_path(path).write_text(json.dumps({"link": link}, indent=2) + "\n")
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in _NOT_REPLAYED]
        return httpx.Response(response.status_code, headers=headers, content=body,
                              request=request)

    def commit(self) -> None:
        """Move the staged files into place (replacing a same-day recording's files)."""
        for relative in self.written:
            for staged, final in ((self.stage / relative, self.out / relative),
                                  (headers_path(self.stage / relative),
                                   headers_path(self.out / relative))):
                final.parent.mkdir(parents=True, exist_ok=True)
                if staged.exists():
                    os.replace(staged, final)
                elif final.exists():  # the page had a Link header before and has none now
                    final.unlink()
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)

    def close(self) -> None:
        self.inner.close()


def record(out: Path, select: Sequence[str] | None = None, *,
           http: HttpClientResource | None = None, transport: httpx.BaseTransport | None = None,
           store: CatalogStore | None = None, day: str | None = None,
           echo: Callable[[str], None] = lambda _: None) -> int:
    """Record the selected sources (default: all) into `out`; returns how many failed."""
    http = http or HttpClientResource()
    if http.replaying:
        raise ValueError("record reads the live APIs: unset MODEL_SYNC_REPLAY_DIR")
    day = day or datetime.now(UTC).date().isoformat()
    store = store if store is not None else _existing_store()
    log = logging.getLogger("model_sync.record")
    failed = 0
    for spec in [s for s in SOURCES if select is None or s.name in select]:
        reason = http.disabled_reason(spec)
        if reason:
            echo(f"skipping {spec.name}: {reason}")
            continue
        recorder = RecordingTransport(out, day, transport)
        client = http.client(log=log)
        client.transport = recorder
        try:
            access = http.access(spec, log=log, client=client)
            rows = fetch_rows(spec, access, {}, log,
                              hugging_face_ids=named_repositories(spec, store)).rows
            recorder.commit()
        except (FetchError, BodyError, SettingError) as exc:  # a ParseError is a BodyError
            echo(f"{spec.name}: failed, nothing written: {exc}")
            failed += 1
            continue
        finally:
            recorder.discard()
            if transport is None:
                recorder.close()
        echo(f"{spec.name}: {len(recorder.written)} responses, {len(rows):,} models -> "
             f"{Path(out) / spec.name}")
    return failed


def _existing_store() -> CatalogStore | None:
    """The catalog, when there is one: the Hugging Face source reads repository ids from it."""
    url = CatalogDatabase().resolved_url()
    database = sa.make_url(url).database
    if url.startswith("sqlite") and not (database and Path(database).is_file()):
        return None
    return CatalogStore.from_url(url)
