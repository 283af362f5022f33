"""Hugging Face Hub: the most downloaded text-generation repositories and every repository
another source names, with downloads, likes, license, library, dates and gating."""

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from model_sync.http.paging import LinkHeader, NoPaging
from model_sync.sources.base import (
    Auth,
    FetchContext,
    Offering,
    ParseContext,
    Request,
    SourceSpec,
    expect,
    model_offering,
    obj,
    org_of,
    parse_entries,
    text,
)

NAME = "huggingface"
API = "https://huggingface.co/api/models"
PAGE_SIZE = 500
TOP_N = 1000
# Sent as one `expand[]` parameter per field: httpx repeats a parameter given a sequence, which
# the HTTP layer's query type (str values) does not say yet, hence the two `type: ignore`s below.
EXPAND = ("downloads", "likes", "library_name", "pipeline_tag", "createdAt", "lastModified",
          "gated", "tags")


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """A page (bare array) of the listing, or one repository's object -> one row per model.

    These rows describe repositories, not offerings (role `models`): they never become catalog
    rows. Hub metadata goes in `extra`.
    """
    if isinstance(payload, dict):
        payload = [payload]
    return parse_entries(expect(payload, list, NAME, "the response"), ctx, NAME, _model)


def named_repositories(context: FetchContext) -> Iterator[Request]:
    """`GET /api/models/{repo}` for each repository other sources name but the top N lacks,
    under the listing's URL (a configured mirror's too)."""
    listing = urlsplit(context.url or API)
    listed = {row["source_key"].casefold() for row in context.rows}
    for repo_id in context.hugging_face_ids:
        if repo_id.casefold() in listed or repo_id.count("/") != 1:
            continue
        path = f"{listing.path.rstrip('/')}/{quote(repo_id, safe='/')}"
        url = urlunsplit(listing._replace(path=path, query="", fragment=""))
        yield Request(url=url, variant=repo_variant(repo_id),
                      params={"expand[]": EXPAND},  # type: ignore[dict-item]
                      paging=NoPaging())


def most_wanted(named: Iterable[tuple[str, str]]) -> list[str]:
    """The distinct repositories of `(source, repository)` pairs, most wanted first.

    Only the first few hundred are looked up, so the order decides which: first those named by
    more sources; among those named by as many, those named by the most selective source (the
    one naming the fewest repositories: OpenRouter's few hundred before Featherless' tens of
    thousands, which name nearly every Hub model); then by id. Spellings that differ only in
    case are one repository (the first spelling in sort order is returned).
    """
    named_by: dict[str, set[str]] = {}  # repository (case-folded) -> the sources naming it
    spelling: dict[str, str] = {}
    for source, repo in named:
        key = repo.casefold()
        named_by.setdefault(key, set()).add(source)
        spelling[key] = min(spelling.get(key, repo), repo)
    breadth: dict[str, int] = {}  # source -> how many repositories it names
    for sources in named_by.values():
        for source in sources:
            breadth[source] = breadth.get(source, 0) + 1
    order = sorted(named_by, key=lambda k: (-len(named_by[k]),
                                            min(breadth[s] for s in named_by[k]), k))
    return [spelling[k] for k in order]


def repo_variant(repo_id: str) -> str:
    """The replay name of one repository's recording: `repo-Qwen--Qwen3-8B`."""
    return "repo-" + repo_id.replace("/", "--")


def _model(ctx: ParseContext, entry: Any, _key: str, repo_id: str) -> Offering:
    tags = [t for t in entry.get("tags") or [] if isinstance(t, str)]
    licenses = [t.removeprefix("license:") for t in tags if t.startswith("license:")]
    card = obj(entry.get("cardData"))
    gated = entry.get("gated")
    extra = {
        "downloads": entry.get("downloads"),
        "likes": entry.get("likes"),
        "license": text(card.get("license")) or (licenses[0] if licenses else None),
        "library": text(entry.get("library_name")),
        "pipeline_tag": text(entry.get("pipeline_tag")),
        "gated": gated if isinstance(gated, str) else bool(gated) if gated is not None else None,
        "created": text(entry.get("createdAt")),
        "modified": text(entry.get("lastModified")),
    }
    return model_offering(
        ctx, NAME, repo_id,
        creator=org_of(repo_id),
        hugging_face_id=repo_id,
        created_at=_timestamp(entry.get("createdAt")),
        extra=extra,
    )


def _timestamp(value: Any) -> datetime | None:
    value = text(value)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


SPEC = SourceSpec(
    name=NAME,
    title="Hugging Face Hub",
    description=(
        "Repositories on the Hugging Face Hub, from `GET https://huggingface.co/api/models` "
        "(`pipeline_tag`, `sort`, `direction`, `limit`, `expand[]`), paged by the `Link` header: "
        f"the top {TOP_N:,} text-generation models by downloads, plus every repository another "
        "source names in `hugging_face_id` (`GET /api/models/{repo}`). Downloads, likes, "
        "license, library, pipeline tag, dates, gating. Optional `HF_TOKEN` raises the rate "
        "limit (500 requests per 5 minutes anonymous); `RateLimit` headers are honoured."
    ),
    url=API,
    parse=parse,
    role="models",
    paging=LinkHeader(),
    params={"pipeline_tag": "text-generation", "sort": "downloads", "direction": "-1",
            "limit": str(PAGE_SIZE), "expand[]": EXPAND},  # type: ignore[dict-item]
    max_rows=TOP_N,
    extra_requests=named_repositories,
    max_extra_requests=300,
    auth=Auth(env_var="HF_TOKEN", required=False),
    cron="0 3 * * *",  # after the 02:00 syncs, so their hugging_face_ids are fresh
    # The first page carries live download counts, so its content changes between nearly any
    # two probes: a 15-minute probe would sync all day. Once a day, like the schedule.
    probe_minutes=24 * 60,
    min_rows=500,
    max_pages=40,
    docs_url="https://huggingface.co/docs/hub/api#get-apimodels",
)
