"""Secrets out of every text that leaves the process: error messages, log lines, sync records.

`redact` masks each secret the process holds (read from the environment at call time) and the
usual shapes of credentials, since an API may echo a key this process never held.
"""

import functools
import os
import re
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_LENGTH = 6  # shorter values would mangle ordinary text
WEBHOOK_ENV = "MODEL_SYNC_ALERT_WEBHOOK_URL"
SECRET_ENVS = (WEBHOOK_ENV, "DAGSTER_PG_PASSWORD", "SENTRY_DSN")
URL_ENVS = ("MODEL_SYNC_DATABASE_URL", "DAGSTER_PG_URL",  # only their passwords are secret
            "MODEL_SYNC_PUSHGATEWAY_URL")
SECRET_NAME = re.compile(r"_(API_KEY|TOKEN|SECRET|PASSWORD|DSN|WEBHOOK_URL)$", re.IGNORECASE)

# Credentials by their shape, with what each keeps of the match.
_TOKEN = r"[A-Za-z0-9._~+/=-]"
GENERIC = (
    # `Authorization: Bearer <token>`, `Basic <base64>`; not a plain word, so "Basic
    # authentication" stays as it is.
    (re.compile(rf"\b((?i:bearer|basic)\s+)(?![A-Za-z][a-z]*\.*(?!{_TOKEN})){_TOKEN}{{8,}}"),
     rf"\1{MASK}"),
    # OpenAI-style keys (sk-..., sk-proj-...) and their kin (Groq's gsk_, Hugging Face's hf_,
    # xAI's xai-).
    (re.compile(r"\b(?:sk-(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{16,}|(?:gsk_|hf_|xai-)[A-Za-z0-9]{30,})"),
     MASK),
    # `?api_key=...`, `&key=...`, `token=...` in a query string.
    (re.compile(r"\b(api[_-]?key|apikey|key|token|access[_-]?token|secret|password)=([^&\s#\"'<>]+)",
                re.IGNORECASE), rf"\1={MASK}"),
    # `x-api-key: <key>` or `"api_key": "<key>"` echoed from a request.
    (re.compile(rf"\b((?:x-)?api[_-]?key[\"']?\s*:\s*[\"']?){_TOKEN}{{6,}}", re.IGNORECASE),
     rf"\1{MASK}"),
    # `scheme://user:password@host`: the user stays, as SQLAlchemy shows a URL.
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]+@", re.IGNORECASE), rf"\1:{MASK}@"),
)


def secret_values() -> frozenset[str]:
    """Every secret the process holds now: source keys, the alert webhook, database passwords,
    Sentry's DSN, and any variable named `*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, ...
    (every source's key variable is named so: a test holds them to it)."""
    env = os.environ
    names = set(SECRET_ENVS) | set(URL_ENVS) | {name for name in env if SECRET_NAME.search(name)}
    return _values(frozenset((name, env[name]) for name in names if env.get(name)))


@functools.lru_cache(maxsize=8)
def _values(held: frozenset[tuple[str, str]]) -> frozenset[str]:
    """The texts to mask for the (variable, value) pairs held."""
    values: set[str] = set()
    for name, value in held:
        if name in URL_ENVS:
            values |= _url_parts(value)
            continue
        values |= {value, value.strip()}
        if "://" in value:
            values |= _url_parts(value, whole=True, path=name.upper().endswith("WEBHOOK_URL"),
                                 user=name.upper().endswith("SENTRY_DSN"))
    values |= {quote(v, safe="") for v in values}  # as it would appear in a query string
    return frozenset(v for v in values if len(v) >= MIN_LENGTH)


def _url_parts(url: str, *, whole: bool = False, path: bool = False,
               user: bool = False) -> set[str]:
    """The secret parts of a URL: its password; with `whole`, the URL; with `path`, its path (a
    webhook's token); with `user`, its user (a Sentry DSN's key)."""
    try:
        parts = urlsplit(url.strip())
        password, username = parts.password, parts.username
    except ValueError:
        return {url} if whole else set()
    found = {password, unquote(password)} if password else set()
    if whole:
        found |= {url, url.strip()}
    if path:
        found |= {parts.path, parts.path.strip("/")}
    if user and username:
        found |= {username, unquote(username)}
    return found


@functools.lru_cache(maxsize=8)
def _pattern(values: frozenset[str]) -> re.Pattern[str] | None:
    """One alternation of the values, longest first so a URL is masked before its path."""
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def redact(text: object) -> str:
    """The text with every secret the process holds, and anything shaped like a credential,
    replaced by `***`."""
    text = str(text)
    if not text:
        return text
    pattern = _pattern(secret_values())
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape, replacement in GENERIC:
        text = shape.sub(replacement, text)
    return text
