"""Fireworks AI: its public serverless catalog and, with an account id, the account's models."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from model_sync.http.paging import Cursor
from model_sync.sources.base import (
    Auth,
    FetchContext,
    Offering,
    ParseContext,
    Request,
    SourceSpec,
    boolean,
    expect,
    integer,
    model_offering,
    obj,
    parse_entries,
    text,
)

NAME = "fireworks"
API = "https://api.fireworks.ai/v1/accounts"
ACCOUNT_ENV = "FIREWORKS_ACCOUNT_ID"
HF_PREFIX = "https://huggingface.co/"
PAGE_SIZE = "200"
STATES = {"READY": "active", "UPLOADING": "inactive", "STATE_UNSPECIFIED": None}


def parse(payload: Any, ctx: ParseContext) -> list[Offering]:
    """One page `{models: [model], nextPageToken, totalSize}` -> one offering per model.

    The model API publishes no prices (they come from the curated sources); a model with a
    `deprecationDate` in the past is `deprecated`.
    """
    body = expect(payload, dict, NAME, "the response")
    # proto3 JSON leaves out an empty list: a page without models may come as `{}`.
    data = expect(body.get("models", []), list, NAME, "the 'models' field of the response")
    return parse_entries(data, ctx, NAME, _model, id_field="name")


def next_page_token(payload: Any) -> str | None:
    return text(obj(payload).get("nextPageToken"))


def account_models(context: FetchContext) -> Iterator[Request]:
    """The account's own models (fine-tunes, uploads) when `FIREWORKS_ACCOUNT_ID` is set: the
    listing's URL (a configured one too) with the account in place of `fireworks`."""
    account = context.setting(ACCOUNT_ENV)
    if account and account != "fireworks":
        listing = urlsplit(context.url or SPEC.url)
        # `.../accounts/fireworks/models`: the segment before the last names the account.
        head, _, last = listing.path.rstrip("/").rpartition("/")
        path = f"{head.rpartition('/')[0]}/{quote(account, safe='')}/{last}"
        yield Request(url=urlunsplit(listing._replace(path=path, query="", fragment="")),
                      variant="account", params={"pageSize": PAGE_SIZE})


def _model(ctx: ParseContext, entry: Any, _key: str, model_id: str) -> Offering:
    deprecation = _date(entry.get("deprecationDate"))
    state = text(entry.get("state"))
    status = STATES.get(state or "", state.lower() if state else None)
    if deprecation is not None:
        status = "deprecated" if deprecation <= ctx.today.isoformat() else "deprecating"
    hf_url = text(entry.get("huggingFaceUrl"))
    details = obj(entry.get("baseModelDetails"))
    extra = {
        "kind": text(entry.get("kind")),
        "public": boolean(entry.get("public")),
        "parameter_count": text(details.get("parameterCount")),
        "model_type": text(details.get("modelType")),
        "account": model_id.split("/")[1] if model_id.startswith("accounts/") else None,
    }
    return model_offering(
        ctx, NAME, model_id,
        name=text(entry.get("displayName")),
        context_window=integer(entry.get("contextLength")),
        supports_tools=boolean(entry.get("supportsTools")),
        supports_vision=boolean(entry.get("supportsImageInput")),
        hugging_face_id=hf_url.removeprefix(HF_PREFIX).strip("/") if hf_url and
        hf_url.startswith(HF_PREFIX) else None,
        deprecation_date=deprecation,
        status=status,
        extra=extra,
    )


def _date(value: Any) -> str | None:
    """`{"year": 2026, "month": 3, "day": 1}` (google.type.Date) -> `2026-03-01`."""
    parts = obj(value)
    year, month, day_ = (integer(parts.get(k)) for k in ("year", "month", "day"))
    if not (year and month and day_):
        return None
    return f"{year:04d}-{month:02d}-{day_:02d}"


SPEC = SourceSpec(
    name=NAME,
    title="Fireworks AI",
    description=(
        "Models served by Fireworks AI, from its model API: the public serverless catalog "
        "`GET https://api.fireworks.ai/v1/accounts/fireworks/models?filter=supports_serverless="
        "true` and, with `FIREWORKS_ACCOUNT_ID` set, the account's own models; paged by "
        "`pageToken` (key in `FIREWORKS_API_KEY`). Context, tools, vision, deprecation dates; "
        "prices come from the curated sources."
    ),
    url=f"{API}/fireworks/models",
    parse=parse,
    paging=Cursor(param="pageToken", next_token=next_page_token),
    params={"filter": "supports_serverless=true", "pageSize": PAGE_SIZE},
    extra_requests=account_models,
    auth=Auth(env_var="FIREWORKS_API_KEY"),
    min_rows=20,
    max_pages=50,
    docs_url="https://docs.fireworks.ai/api-reference/list-models",
)
