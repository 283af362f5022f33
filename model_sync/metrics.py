"""`model-sync metrics`: the catalog's Prometheus metrics printed once (for node-exporter's
textfile collector), written to a file, or served by a long-running exporter; and the push to a
Pushgateway that ends each run when MODEL_SYNC_PUSHGATEWAY_URL is set."""

import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import exposition
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from model_sync.catalog.clock import utcnow
from model_sync.catalog.store import CatalogStore
from model_sync.defs.resources import CatalogDatabase, HttpClientResource
from model_sync.ops import metrics
from model_sync.ops.health import health_report, skips
from model_sync.redact import redact
from model_sync.sources import SOURCES

PUSHGATEWAY_ENV = "MODEL_SYNC_PUSHGATEWAY_URL"
JOB = "model_sync"  # the Pushgateway group: each push replaces the whole state
DEFAULT_ADDRESS = "127.0.0.1:9464"


def reader(catalog_db: CatalogDatabase | None = None, http: HttpClientResource | None = None,
           *, here: bool = True,
           now: Callable = utcnow) -> Callable[[], metrics.Reading]:
    """What the collector calls at each collection. The sources' settings are read once, here
    (a bad replay setting or cadence override raises); the catalog is opened at the first
    collection and kept. `here`: the process is not the code server (see `health.skips`)."""
    from model_sync.cadence import health_windows, resolve_cadences
    from model_sync.defs.catalog_assets import CatalogConfig

    catalog_db, http = catalog_db or CatalogDatabase(), http or HttpClientResource()
    http.validate()
    windows = health_windows(resolve_cadences(SOURCES))
    skipped = skips(http, SOURCES, here=here)
    minimum = CatalogConfig.model_fields["min_rows"].default
    opened: list[CatalogStore] = []
    lock = threading.Lock()

    def read() -> metrics.Reading:
        with lock:  # scrapes may overlap: one store, opened once
            if not opened:
                opened.append(catalog_db.store())
        store, moment = opened[0], now()
        reading = metrics.read(store.engine, names=list(windows), now=moment)
        reading.health = health_report(store, windows, now=moment, skipped=skipped)
        reading.windows, reading.min_offerings = windows, minimum
        return reading

    return read


def exposition_text(registry: CollectorRegistry) -> str:
    return exposition.generate_latest(registry).decode()


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole: node-exporter never reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def address(text: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`, or a bare port on 127.0.0.1); a ValueError names the text."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--serve: {text!r} is not HOST:PORT (e.g. {DEFAULT_ADDRESS})")
    return host, int(port)


def serve(registry: CollectorRegistry, host: str, port: int,
          stop: threading.Event | None = None) -> None:
    """Serve /metrics until SIGINT or SIGTERM (or `stop`)."""
    stop = stop or threading.Event()
    server, thread = exposition.start_http_server(port, host, registry)
    print(f"serving the catalog's metrics on http://{host}:{port}/metrics", flush=True)
    previous = {s: signal.signal(s, lambda *_: stop.set())
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def command(serve_at: str | None, out: Path | None) -> int:
    """The `model-sync metrics` command; its exit code."""
    from model_sync.cadence import CadenceError

    try:
        host_port = address(serve_at) if serve_at else None
        registry = metrics.registry(reader(), None if host_port else
                                    lambda line: print(line, file=sys.stderr))
    except (ValueError, FileNotFoundError, CadenceError) as exc:  # bad settings
        print(redact(f"model-sync: {exc}"), file=sys.stderr)
        return 2
    if host_port:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        try:
            serve(registry, *host_port)
        except OSError as exc:  # the port is taken, the address is not this host's
            print(f"model-sync: cannot serve on {serve_at}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        return 0
    text = exposition_text(registry)  # a catalog it cannot read is said on stderr, once
    up = catalog_up(text)
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomically(out, text)
    return 0 if up else 1


def catalog_up(text: str) -> bool:
    """Whether an exposition says the catalog was read (`model_sync_catalog_up 1`)."""
    for family in text_string_to_metric_families(text):
        if family.name == f"{metrics.PREFIX}_catalog_up":
            return bool(family.samples) and family.samples[0].value == 1
    return False


# -- Pushgateway ---------------------------------------------------------------------------------


def pushgateway_url() -> str | None:
    return (os.environ.get(PUSHGATEWAY_ENV) or "").strip() or None


def push(url: str, registry: CollectorRegistry, timeout: float = 10.0) -> None:
    """PUT the registry to the Pushgateway as job `model_sync`, replacing its last push. A
    `user:password@` in the URL is sent as basic authentication."""
    parts = urlsplit(url)
    user, password = parts.username, parts.password

    def handler(url, method, timeout, headers, data):
        if user:
            return exposition.basic_auth_handler(url, method, timeout, headers, data, user,
                                                 password or "")
        return exposition.default_handler(url, method, timeout, headers, data)

    exposition.push_to_gateway(shown(url), job=JOB, registry=registry, timeout=timeout,
                               handler=handler)


def push_metrics(catalog_db: CatalogDatabase | None = None,
                 http: HttpClientResource | None = None, *, here: bool = True) -> str | None:
    """Push the catalog's metrics when MODEL_SYNC_PUSHGATEWAY_URL is set: None when it is not,
    else one line saying what happened (never the URL's password). Raises nothing."""
    url = pushgateway_url()
    if not url:
        return None
    try:
        registry = metrics.registry(reader(catalog_db, http, here=here))
        push(url, registry)
    except Exception as exc:  # unreachable, refused, a bad URL: one line, the run goes on
        return redact(f"metrics not pushed to the Pushgateway: {type(exc).__name__}: {exc}")
    return f"metrics pushed to the Pushgateway ({shown(url)})"


def shown(url: str) -> str:
    """The URL without its user and password."""
    parts = urlsplit(url)
    if not parts.username:
        return url
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port
                                                              else "")))
