"""Fetching a source: every page through the shared client, parsed one page at a time into
offerings, with the entries that cannot be normalized set aside and repeats resolved.

Plain Python: the assets, `model-sync record` and the benchmarks call it alike.
"""

import hashlib
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from model_sync.catalog.build_digests import code_digest
from model_sync.catalog.clock import utcnow
from model_sync.http import FetchError, Page, SourceClient
from model_sync.ingest.batch import collect_young
from model_sync.ingest.rows import Rows
from model_sync.sources.base import (
    FetchContext,
    ParseContext,
    Rejection,
    Row,
    SourceSpec,
    excerpt,
)

RowsT = TypeVar("RowsT", list[Row], Rows)


@dataclass(frozen=True)
class Access:
    """What fetching a source needs from where it runs: a client, the source's key, the URL and
    region to read (`override`: a configured URL in place of the API's), and the settings."""

    client: SourceClient
    url: str
    api_key: str | None = None
    region: str | None = None
    override: str | None = None
    setting: Callable[[str], str | None] = lambda _name: None


@dataclass
class Fetched:
    """What a fetch of a source gave: its rows, the entries set aside, and fetch metadata."""

    rows: Rows  # packed past `rows.PACK_ABOVE` (see `model_sync.ingest.rows`)
    meta: dict[str, Any] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    not_models: list[tuple[str, str]] = field(default_factory=list)  # (key, why), skipped
    digest: str | None = None  # of the payload, when it can stand for the rows (see `unchanged`)
    clean: bool = True  # nothing rejected or repeated: the digest may stand for these rows
    unchanged: dict[str, Any] | None = None  # the last clean sync's record: nothing was parsed
    rejected_prices: list[Rejection] = field(default_factory=list)  # of entries kept


def fetch_rows(spec: SourceSpec, access: Access, params: dict[str, str], log, *,
               hugging_face_ids: Sequence[str] = (), max_rows: int | None = None,
               max_extra_requests: int | None = None,
               unchanged: Callable[[str], dict[str, Any] | None] | None = None,
               recorded: str | None = None) -> Fetched:
    """Fetch every page of a source and parse it into offerings; also return fetch metadata.

    Pages are parsed one at a time, so only one raw page is held in memory (but see `recorded`
    below). An entry that cannot be normalized is set aside (rejected, with its reason), not
    fatal. A top-N source stops requesting pages after `max_rows`; further listings
    (`spec.extra_requests`) follow, planned with the Hugging Face repositories other sources
    name.

    With `unchanged` (the record of the last clean sync of the same payload digest, or None),
    the last page is parsed only once the payload is known to differ from that sync's: a
    single-page listing that did not change is not parsed at all (`Fetched.unchanged`). With
    `recorded` too (the payload digest that sync read), no page is parsed until then: the pages'
    bodies are held (a fraction of the rows parsed from them), and a paged listing that did not
    change is not parsed at all either.
    """
    client, api_key, override = access.client, access.api_key, access.override
    url, region = access.url, access.region
    limit = max_rows if max_rows is not None else spec.max_rows
    fetched = Fetched(rows=Rows())
    rows = fetched.rows
    pages, size, snapshots, advertised = 0, 0, [], None
    fetched_at = utcnow()

    def parse(page) -> list[Row]:
        nonlocal pages, size
        as_of = page.snapshot_date
        when = datetime.fromisoformat(as_of).replace(tzinfo=UTC) if as_of else fetched_at
        ctx = ParseContext(source=spec.name, fetched_at=when, region=region)
        parsed = spec.parse(page.payload, ctx)  # a ParseError here: the page as a whole is wrong
        fetched.rejected.extend(ctx.rejected)
        fetched.not_models.extend(ctx.not_models)
        fetched.rejected_prices.extend(ctx.rejected_prices)
        pages, size = pages + 1, size + page.size
        if page.snapshot:
            snapshots.append(page.snapshot)
        where = f" (replayed {page.snapshot})" if page.snapshot else ""
        aside = f", {len(ctx.rejected):,} rejected" if ctx.rejected else ""
        log.info(f"{spec.name}: page {page.number}: {len(parsed):,} models{aside}, "
                 f"{page.size / 1024:,.0f} KiB{where}")
        return parsed

    def skip(skipped: list[Page]) -> None:
        nonlocal pages, size
        pages, size = pages + len(skipped), size + sum(page.size for page in skipped)
        snapshots.extend(page.snapshot for page in skipped if page.snapshot)
        which = (f"page {skipped[0].number}: as the last sync read it" if len(skipped) == 1
                 else f"pages {skipped[0].number}-{skipped[-1].number}: as the last sync read "
                 "them")
        log.info(f"{spec.name}: {which}; not parsed again")

    digest = (None if unchanged is None or spec.extra_requests is not None or limit is not None
              else payload_digest(spec, params, region))
    hold_all = digest is not None and recorded is not None
    # The pages not parsed yet, until the payload is known to have changed: the last one, or
    # every one (`hold_all`: each keeps its body, and lets go of the JSON paging decoded).
    held: deque[Page] = deque()
    listing = client.fetch_pages(spec.listing(params=params, api_key=api_key, url=url,
                                              override=override))
    for page in listing:
        if digest is None:
            rows.extend(parse(page))
        else:
            digest.update(f"{page.snapshot_date or fetched_at.date()}|{page.digest}\n".encode())
            if held and not hold_all:
                rows.extend(parse(held.popleft()))
            elif held:
                held[-1].release()
            page.keep = hold_all
            held.append(page)
        if spec.advertised_total is not None:
            advertised = spec.advertised_total(page.payload) or advertised
        collect_young()  # the page's exchange, a cycle that holds its body
        if limit is not None and len(rows) >= limit:
            rows.truncate(limit)
            listing.close()  # no further page is requested
            log.info(f"{spec.name}: stopped at the first {limit:,} models")
            break
    if held and digest is not None and unchanged is not None:
        fetched.digest = digest.hexdigest()
        fetched.unchanged = unchanged(fetched.digest)
        if fetched.unchanged is None:
            if hold_all and len(held) > 1:
                held[-1].release()  # paging decoded it: not held while the others are parsed
            while held:  # in order, each body let go once parsed
                rows.extend(parse(held.popleft()))
        else:
            skip(list(held))
            held.clear()
            rows.clear()  # the earlier pages' rows: the stored ones stand for them
            fetched.not_models = list(fetched.unchanged["not_models"])
    del held
    meta: dict[str, Any] = {"region": region} if region else {}
    if spec.extra_requests is not None:
        meta.update(_fetch_extra(spec, access, hugging_face_ids, rows, parse, log,
                                 max_extra_requests))
    parsed = len(rows)
    fetched.rows = rows = dedupe(rows, spec.name, log, fetched.rejected)
    fetched.clean = not fetched.rejected and len(rows) == parsed
    listed = fetched.unchanged["rows"] if fetched.unchanged else len(rows)
    meta.update({"pages": pages, "bytes": size, "requests": client.requests_made})
    if client.rate_limit_waits:
        meta["rate_limit_wait_seconds"] = round(sum(client.rate_limit_waits), 1)
    if advertised is not None:
        meta["advertised_rows"] = advertised
        if listed < advertised:
            meta["shortfall"] = advertised - listed
            log.warning(f"{spec.name}: the API advertises {advertised:,} models but its pages "
                        f"held {listed:,}: {advertised - listed:,} missing (pages ran "
                        "empty before the end); the rows that came are published")
    if snapshots:
        meta["replayed_snapshots"] = ", ".join(snapshots)
    meta["price_components"] = sum(len(r.get("prices") or ()) for r in rows)
    meta["rejected_prices"] = len(fetched.rejected_prices)
    fetched.meta = meta
    log_set_aside(spec.name, fetched, log)
    return fetched


def payload_digest(spec: SourceSpec, params: dict[str, str], region: str | None):
    """A running SHA-256 of what a source's rows are parsed from: its query and region, the
    code that parses them, then each page's day and body (added by the caller)."""
    digest = hashlib.sha256(f"{spec.name}|{sorted(params.items())}|{region}|".encode())
    digest.update(f"{spec.parse.__module__}|{code_digest()}".encode())
    return digest


def log_set_aside(source: str, fetched: Fetched, log) -> None:
    """One line per reason for the rejected entries (with a count and examples), and a debug
    line per entry that is not a model."""
    by_reason: dict[str, list[str]] = {}
    for rejection in fetched.rejected:
        by_reason.setdefault(rejection.reason, []).append(rejection.source_key)
    for reason, keys in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
        log.warning(f"{source}: {len(keys):,} {'entry' if len(keys) == 1 else 'entries'} "
                    f"rejected: {reason} (e.g. {shown})")
    for key, why in fetched.not_models:
        log.debug(f"{source}: skipped {key!r}: not a model ({why})")
    if fetched.rejected_prices:
        fields = sorted({r.field or "?" for r in fetched.rejected_prices})
        log.info(f"{source}: {len(fetched.rejected_prices):,} published prices have no place in "
                 f"the price model (kept in rejected_prices): {', '.join(fields[:5])}"
                 + (", ..." if len(fields) > 5 else ""))


def _fetch_extra(spec: SourceSpec, access: Access, hugging_face_ids: Sequence[str],
                 rows: list[Row], parse, log, limit: int | None) -> dict[str, Any]:
    """Fetch the further listings a source asks for; a missing one is skipped with a warning.

    They are planned from the listing's URL, so they follow a configured one."""
    client, api_key, override = access.client, access.api_key, access.override
    context = FetchContext(rows=list(rows), url=access.url, setting=access.setting,
                           hugging_face_ids=hugging_face_ids)
    requests = list(spec.extra_requests(context))
    limit = spec.max_extra_requests if limit is None else limit
    if len(requests) > limit:
        log.info(f"{spec.name}: {len(requests):,} further requests planned; the first "
                 f"{limit:,} are made")
        requests = requests[:limit]
    missing = []
    for request in requests:
        try:
            for page in client.fetch_pages(spec.listing(request=request, api_key=api_key,
                                                        override=override)):
                rows.extend(parse(page))
                collect_young()
        except FetchError as exc:
            if exc.status not in (401, 403, 404):
                raise
            missing.append(request.variant)
    if missing:
        log.warning(f"{spec.name}: {len(missing)} of {len(requests)} further requests found "
                    f"nothing (gone, private or not recorded), e.g. {missing[0]}")
    return {"extra_requests": len(requests), "extra_missing": len(missing)}


def dedupe(rows: RowsT, source: str, log, rejected: list[Rejection]) -> RowsT:
    """Paged APIs can repeat an entry across pages: an identical copy is dropped (keeping the
    first); copies of one key that differ are all rejected, since neither can be trusted.

    The rows come back held as they came (a list, or `Rows`), in their order."""
    counts = Counter(row["source_key"] for row in rows)
    if len(counts) == len(rows):  # the common case, cheaply
        return rows
    copies: dict[str, list[Row]] = {key: [] for key, n in counts.items() if n > 1}
    for row in rows:  # only the repeated keys' rows are held
        if row["source_key"] in copies:
            copies[row["source_key"]].append(row)
    taken, repeated = {}, 0  # the repeated keys kept, each with its first row
    for key, same_key in copies.items():
        first = _content(same_key[0])
        if all(_content(row) == first for row in same_key[1:]):
            taken[key] = same_key[0]
            repeated += len(same_key) - 1
            continue
        rejected.append(Rejection(
            key, f"the id appears {len(same_key)} times in the payload with different values; "
                 "none is taken", None, excerpt([_content(r) for r in same_key])))
    kept = (row if row["source_key"] not in copies else taken.pop(row["source_key"], None)
            for row in rows)  # a kept repeat at its first place
    if repeated:
        log.warning(f"{source}: {repeated} entries appeared twice with the same content; "
                    "kept the first")
    if isinstance(rows, Rows):
        return cast(RowsT, rows.like(row for row in kept if row is not None))
    return cast(RowsT, [row for row in kept if row is not None])


def _content(row: Row) -> Row:
    return {k: v for k, v in row.items() if k != "fetched_at"}
