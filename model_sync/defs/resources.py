"""Resources shared by every asset: the HTTP client and the catalog database."""

from datetime import date
from pathlib import Path

import dagster as dg
import httpx
from pydantic import Field

from model_sync.catalog.overrides import OVERRIDES_FILE_ENV, Overrides, load_overrides
from model_sync.catalog.store import DATABASE_URL_ENV, CatalogStore, default_database_url
from model_sync.http import HttpSettings, ReplayTransport, SourceClient
from model_sync.ingest.fetch import Access
from model_sync.sources.base import SourceSpec, checked_url

REPLAY_DIR_ENV = "MODEL_SYNC_REPLAY_DIR"
REPLAY_DATE_ENV = "MODEL_SYNC_REPLAY_DATE"
TIMEOUT_ENV = "MODEL_SYNC_HTTP_TIMEOUT_SECONDS"
RETRIES_ENV = "MODEL_SYNC_HTTP_MAX_RETRIES"
BACKOFF_ENV = "MODEL_SYNC_HTTP_BACKOFF_SECONDS"
MAX_RESPONSE_ENV = "MODEL_SYNC_HTTP_MAX_RESPONSE_MB"
MIB = 1024 * 1024


def _setting(configured, env: str, kind: type, default):
    """A limit from the resource's config, else its environment variable, else the default."""
    if configured is not None:
        return configured
    text = (dg.EnvVar(env).get_value() or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{env} must be a {'whole ' if kind is int else ''}number, got "
                         f"{text!r}") from None
    if value < 0:
        raise ValueError(f"{env} must not be negative, got {text!r}")
    return value


class HttpClientResource(dg.ConfigurableResource):
    """HTTP for every source (httpx): timeouts, retries with backoff and jitter on 429/5xx
    honouring Retry-After, a response size limit. With MODEL_SYNC_REPLAY_DIR set, every source is
    answered from recorded snapshots instead of the network."""

    timeout_seconds: float | None = Field(
        default=None, description=f"Read timeout of one request; default ${TIMEOUT_ENV}, else "
                                  "30.")
    connect_timeout_seconds: float = Field(default=10.0, description="Connect timeout.")
    max_retries: int | None = Field(
        default=None, description=f"Retries on 429, 5xx and timeouts; default ${RETRIES_ENV}, "
                                  "else 4.")
    backoff_seconds: float | None = Field(
        default=None, description=f"First retry delay, doubling; default ${BACKOFF_ENV}, "
                                  "else 1.")
    max_backoff_seconds: float = Field(default=60.0, description="Longest retry delay.")
    max_response_mb: int | None = Field(
        default=None, description=f"Largest response body accepted, in MiB; default "
                                  f"${MAX_RESPONSE_ENV}, else 64.")
    replay_dir: str | None = Field(
        default=None, description=f"Recorded snapshots to replay; default ${REPLAY_DIR_ENV}.")
    replay_date: str | None = Field(
        default=None, description=f"Replay the newest snapshot on or before this date "
                                  f"(YYYY-MM-DD); default ${REPLAY_DATE_ENV}, else the newest.")

    def resolved_replay_dir(self) -> Path | None:
        value = self.replay_dir or dg.EnvVar(REPLAY_DIR_ENV).get_value()
        return Path(value).expanduser() if value else None

    def resolved_replay_date(self) -> str | None:
        return self.replay_date or dg.EnvVar(REPLAY_DATE_ENV).get_value() or None

    @property
    def replaying(self) -> bool:
        return self.resolved_replay_dir() is not None

    def transport(self) -> httpx.BaseTransport | None:
        """The network, or the recordings in replay mode; tests override this."""
        root = self.resolved_replay_dir()
        return ReplayTransport(root, self.resolved_replay_date()) if root else None

    def settings(self) -> HttpSettings:
        """The client's limits: this resource's config, else the environment, else defaults.
        A variable that is not a number is a ValueError naming it."""
        defaults = HttpSettings()
        return HttpSettings(
            timeout_seconds=_setting(self.timeout_seconds, TIMEOUT_ENV, float,
                                     defaults.timeout_seconds),
            connect_timeout_seconds=self.connect_timeout_seconds,
            max_retries=_setting(self.max_retries, RETRIES_ENV, int, defaults.max_retries),
            backoff_seconds=_setting(self.backoff_seconds, BACKOFF_ENV, float,
                                     defaults.backoff_seconds),
            max_backoff_seconds=self.max_backoff_seconds,
            max_response_bytes=_setting(self.max_response_mb, MAX_RESPONSE_ENV, int,
                                        defaults.max_response_bytes // MIB) * MIB,
        )

    def access(self, spec: SourceSpec, url: str | None = None, log=None,
               client: SourceClient | None = None) -> Access:
        """What fetching `spec` needs, resolved here: a client, the key, the URL (the run's
        `url`, else the source's variable, else the API's) and region to read, the settings.
        A bad URL or region is a SettingError naming it."""
        override = self.url_override(spec, url)
        endpoint, region = self.endpoint(spec, override)
        return Access(client=client or self.client(log=log), url=endpoint,
                      api_key=self.api_key(spec), region=region, override=override,
                      setting=self.setting)

    def validate(self) -> None:
        """Check every setting of the client: a ValueError names the one that is wrong."""
        self.settings()
        root = self.resolved_replay_dir()
        if root is not None and not root.is_dir():
            raise ValueError(f"{REPLAY_DIR_ENV}: replay directory {root} does not exist")
        when = self.resolved_replay_date()
        if when:
            try:
                date.fromisoformat(when)
            except ValueError:
                raise ValueError(f"{REPLAY_DATE_ENV} must be a date (YYYY-MM-DD), got "
                                 f"{when!r}") from None

    def client(self, log=None) -> SourceClient:
        client = SourceClient(settings=self.settings(), transport=self.transport())
        if log is not None:
            client.log = log
        return client

    def api_key(self, spec: SourceSpec) -> str | None:
        """The source's key from its environment variable; never logged or stored."""
        if spec.auth is None:
            return None
        return dg.EnvVar(spec.auth.env_var).get_value() or None

    def setting(self, name: str) -> str | None:
        """A source setting from the environment (an account id, a region), read at run time."""
        return dg.EnvVar(name).get_value() or None

    def url_override(self, spec: SourceSpec, url: str | None = None) -> str | None:
        """The URL configured in place of the source's: `url` (a run's config), else
        MODEL_SYNC_<SOURCE>_URL, else None. One that is not an http(s) URL is a SettingError."""
        if url:
            return checked_url(url, spec.name, "the run config's url")
        value = self.setting(spec.url_env)
        return checked_url(value, spec.name, spec.url_env) if value else None

    def endpoint(self, spec: SourceSpec, url: str | None = None) -> tuple[str, str | None]:
        """The URL a source is read from and its region (`spec.region_env` chooses it): the
        configured URL (`url_override`) when set, else the spec's or its region's."""
        region = self.setting(spec.region_env) if spec.region_env else None
        return spec.endpoint(region, self.url_override(spec, url))

    def disabled_reason(self, spec: SourceSpec) -> str | None:
        """Why a source cannot sync now (its key is not set), or None when it can."""
        if spec.auth is None or not spec.auth.required or self.replaying:
            return None
        if self.api_key(spec):
            return None
        return (f"{spec.title} is disabled: set {spec.auth.env_var} in the environment of the "
                f"Dagster code server (or replay recordings with {REPLAY_DIR_ENV})")

    def not_recorded_reason(self, spec: SourceSpec, variant: str | None = None) -> str | None:
        """In replay mode, why a source has nothing to replay (no recording on or before the
        replay date), else None. A missing replay directory is a bad setting, not a skip: it
        raises FileNotFoundError."""
        root = self.resolved_replay_dir()
        if root is None:
            return None
        when = self.resolved_replay_date()
        if ReplayTransport(root, when).choose(spec.name, variant) is not None:
            return None
        return (f"no recording of {spec.name}{' on or before ' + when if when else ''} in "
                f"{root}: skipped in replay mode")

    def skip_reason(self, spec: SourceSpec, variant: str | None = None) -> str | None:
        """Why a source is not synced now and is skipped rather than failed: its key is not set,
        or in replay mode it has no recording. None when it can sync."""
        return self.disabled_reason(spec) or self.not_recorded_reason(spec, variant)


class CatalogDatabase(dg.ConfigurableResource):
    """The catalog database (SQLAlchemy): MODEL_SYNC_DATABASE_URL when set (PostgreSQL in
    production), else the embedded SQLite file data/model_sync.db."""

    url: str | None = Field(default=None, description=f"Database URL; default ${DATABASE_URL_ENV}.")
    overrides_file: str | None = Field(
        default=None, description=f"YAML file of the team's overrides, applied last by every "
                                  f"catalog build; default ${OVERRIDES_FILE_ENV}, else none.")

    def resolved_url(self) -> str:
        return self.url or dg.EnvVar(DATABASE_URL_ENV).get_value() or default_database_url()

    def resolved_overrides_file(self) -> str | None:
        return self.overrides_file or dg.EnvVar(OVERRIDES_FILE_ENV).get_value() or None

    def overrides(self) -> Overrides | None:
        """The overrides file, read and checked: an OverridesError names what is wrong."""
        return load_overrides(self.resolved_overrides_file())

    def store(self) -> CatalogStore:
        return CatalogStore.from_url(self.resolved_url())
