"""Faults injected into real syncs: the `model-sync sync` command, run as a user runs it, against
local servers that misbehave. Every fault ends in one clear line per source, an exit code that
says what happened and no traceback; a source that did not publish keeps its previous rows.

Every scenario starts from a copy of one catalog made by a good sync of four sources from a
local server, so each fault meets the rows it must not damage.
"""

import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_sync.catalog.store import CatalogStore
from model_sync_tests.conftest import SHARED, needs_shared, table_row
from model_sync_tests.http_servers import Api, Drop, Echo, Held, in_turn
from model_sync_tests.test_quarantine import checksum

pytestmark = [pytest.mark.integration, needs_shared]

COMMAND = str(Path(sys.executable).parent / "model-sync")
RECORDED = {"openrouter": "2026-08-19", "litellm": "2026-04-02", "deepinfra": "2026-03-01",
            "groq": "2026-02-22"}
SOURCES = tuple(RECORDED)
KEY = "gsk-fault-SECRET-123456"
RETRIES = 2
OFFLINE_HINT = "No network? Replay recorded responses instead"
UNRESOLVABLE = "http://model-sync-fault.invalid/x"


def recorded(source: str) -> bytes:
    return (SHARED / source / f"{RECORDED[source]}.json").read_bytes()


def decoded(source: str):
    return json.loads(recorded(source))


def encoded(payload) -> bytes:
    return json.dumps(payload).encode()


# -- running the command ---------------------------------------------------------------------------


@dataclass
class Run:
    """One run of `model-sync sync`: its exit code and output."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def outcome(self, name: str) -> tuple[str, str]:
        """The status and note of an asset's line in the table, which must be the only line
        about it (none on stderr either)."""
        lines = self.out.splitlines()
        mine = [line for line in lines if line.split()[:1] == [name]]
        assert len(mine) == 1 and name not in self.err, f"not one line for {name}:\n{self.text}"
        column = next(line for line in lines if line.startswith("asset ")).index("note")
        return table_row(self.out, name)[1], mine[0][column:].strip()

    @property
    def reported_seconds(self) -> float:
        """The duration the command reports for the sync itself (after its imports)."""
        return float(re.search(r"finished in ([\d.]+)s", self.out).group(1))


def environment(catalog: str, api: Api | None = None, **settings: str | None) -> dict[str, str]:
    """A minimal environment: the catalog, the sources at the local server, the groq key, quick
    retries; `settings` add variables (None removes one)."""
    env = {"PATH": "/usr/bin:/bin", "MODEL_SYNC_DATABASE_URL": catalog, "GROQ_API_KEY": KEY,
           "MODEL_SYNC_HTTP_BACKOFF_SECONDS": "0.01", "MODEL_SYNC_HTTP_MAX_RETRIES": str(RETRIES)}
    if api is not None:
        env |= {f"MODEL_SYNC_{name.upper()}_URL": f"{api.base}/{name}" for name in SOURCES}
    env |= settings
    return {k: v for k, v in env.items() if v is not None}


def sync(env: dict[str, str], cwd: Path, *select: str) -> Run:
    """`model-sync sync --select ...`; an expected outcome never prints a traceback."""
    done = subprocess.run([COMMAND, "sync", "--select", *select], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)
    run = Run(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in run.text, run.text
    return run


def sync_each(runs: list[tuple[dict[str, str], Path, tuple[str, ...]]]) -> list[Run]:
    """Several independent runs at once (each is mostly the command's start-up)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda args: sync(args[0], args[1], *args[2]), runs))


# -- the catalog -----------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def snapshot(catalog: str, *sources: str) -> dict[str, tuple[int, str]]:
    """Each source's stored rows (all states): their count and checksum."""
    store = CatalogStore.from_url(catalog)
    try:
        return {s: (len(rows), checksum(rows)) for s in sources
                for rows in [store.source_rows(s)]}
    finally:
        store.dispose()


def read(catalog: str, method: str, *args, **kwargs):
    store = CatalogStore.from_url(catalog)
    try:
        return getattr(store, method)(*args, **kwargs)
    finally:
        store.dispose()


def copy_catalog(template: Path, target: Path) -> str:
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return sqlite_url(target)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A catalog after a good first sync of every scenario's sources from a local server."""
    folder = tmp_path_factory.mktemp("baseline")
    api = Api({f"/{name}": recorded(name) for name in SOURCES})
    with api.running():
        run = sync(environment(sqlite_url(folder / "catalog.db"), api), folder, *SOURCES)
    assert run.code == 0, run.text
    assert {name: run.outcome(name)[0] for name in SOURCES} == dict.fromkeys(SOURCES, "success")
    return folder / "catalog.db"


@pytest.fixture
def catalog(baseline, tmp_path) -> str:
    return copy_catalog(baseline, tmp_path / "catalog.db")


@pytest.fixture
def api():
    """The sources' APIs on 127.0.0.1, answering their recorded payloads until a test says."""
    server = Api({f"/{name}": recorded(name) for name in SOURCES})
    with server.running():
        yield server


# -- 1. entries ------------------------------------------------------------------------------------


def test_a_handful_of_bad_entries_is_rejected_and_the_rest_published(catalog, api, tmp_path):
    before = snapshot(catalog, "litellm", "openrouter")
    litellm = decoded("litellm")
    models = [k for k, v in litellm.items() if isinstance(v, dict) and k != "sample_spec"]
    litellm["_meta"] = {"generated_by": "a script", "schema_version": 3}  # not models: skipped
    litellm["provider_routing_rules"] = {"rules": [{"match": "gpt-*", "route": "openai"}]}
    missing, free, mistyped, repeated = models[10], models[20], models[30], models[40]
    litellm[missing] = {k: v for k, v in litellm[missing].items() if k != "litellm_provider"}
    litellm[free] = dict(litellm[free], input_cost_per_token="free")
    litellm[mistyped] = dict(litellm[mistyped], output_cost_per_token=True)
    again = json.dumps({repeated: dict(litellm[repeated], input_cost_per_token=9e-05)})
    body = encoded(litellm)[:-1] + b", " + again[1:].encode()  # the key twice, two prices
    openrouter = decoded("openrouter")
    first = openrouter["data"][0]
    openrouter["data"].append(dict(first, pricing=dict(first["pricing"], prompt="0.5")))
    api.routes |= {"/litellm": body, "/openrouter": encoded(openrouter)}

    run = sync(environment(catalog, api), tmp_path, "litellm", "openrouter")

    assert run.code == 0, run.text
    assert run.outcome("litellm") == ("success", "4 entries rejected")
    status, note = run.outcome("openrouter")
    assert status == "success" and re.fullmatch(r"1 entr(y|ies) rejected", note)
    assert run.outcome("model_catalog")[0] == "success"
    reasons = {r["source_key"]: r["reason"] for r in read(catalog, "rejections", "litellm")}
    assert reasons == {
        missing: "field 'litellm_provider': required field is missing",
        free: "field 'input_cost_per_token': expected a number, got 'free'",
        mistyped: "field 'output_cost_per_token': expected a number, got True",
        repeated: "the key appears 2 times in the payload with different values; none is taken",
    }
    [rejected] = read(catalog, "rejections", "openrouter")
    assert rejected["source_key"] == first["id"]
    # Published: everything but the rejected entries, which are now missing from their source.
    for source, gone in (("litellm", set(reasons)), ("openrouter", {first["id"]})):
        rows = read(catalog, "source_rows", source)
        assert len(rows) == before[source][0]
        assert {r["source_key"] for r in rows if r["state"] != "active"} == gone
        assert read(catalog, "source_count", source) == before[source][0] - len(gone)


# -- 2. the payload as a whole ---------------------------------------------------------------------


def test_a_payload_wrong_as_a_whole_fails_or_is_blocked_and_the_rows_stay(catalog, api,
                                                                          tmp_path):
    before = snapshot(catalog, *SOURCES)
    api.routes |= {
        "/openrouter": b'{"models": []}',  # the wrong shape
        "/litellm": recorded("litellm")[:50_000],  # cut short: not JSON
        "/deepinfra": b'{"object": "list", "data": []}',  # no entries
        "/groq": b"",
    }

    run = sync(environment(catalog, api), tmp_path, *SOURCES)

    assert run.code == 1, run.text
    status, note = run.outcome("openrouter")
    assert status == "failed"
    assert note.startswith("expected the 'data' field of the response to be a JSON array")
    status, note = run.outcome("litellm")
    assert status == "failed" and note.startswith("the response is not valid JSON")
    status, note = run.outcome("deepinfra")
    assert status == "blocked" and "deepinfra has 0 rows, fewer than the minimum of 50" in note
    assert run.outcome("groq") == ("failed", "the response body is empty")
    assert run.outcome("model_catalog")[0] == "skipped"
    assert snapshot(catalog, *SOURCES) == before


# -- 3. transport ----------------------------------------------------------------------------------


def test_refusals_fail_at_once_and_an_outage_after_its_retries_without_leaking_the_key(
        catalog, api, tmp_path):
    before = snapshot(catalog, *SOURCES)
    api.routes |= {
        "/litellm": (503, {}, b'{"error": "upstream overloaded"}'),
        "/openrouter": (404, {}, b'{"error": "no such endpoint"}'),
        "/deepinfra": (401, {}, b'{"error": "unauthorized"}'),
        "/groq": Echo(400),  # quotes the Authorization header it received
    }

    run = sync(environment(catalog, api), tmp_path, *SOURCES)

    assert run.code == 1, run.text
    status, note = run.outcome("litellm")
    assert status == "failed"
    assert note.startswith(f"HTTP 503 Service Unavailable; gave up after {1 + RETRIES} attempts")
    assert api.count("/litellm") == 1 + RETRIES
    status, note = run.outcome("openrouter")
    assert status == "failed" and note.startswith("HTTP 404 Not Found")
    assert run.outcome("deepinfra") == (
        "failed", "HTTP 401 Unauthorized: the API key was refused or is missing")
    status, note = run.outcome("groq")
    assert status == "failed" and note.startswith("HTTP 400 Bad Request")
    for path in ("/openrouter", "/deepinfra", "/groq"):
        assert api.count(path) == 1, path  # a refusal is not retried
    assert snapshot(catalog, *SOURCES) == before
    # The key went out and came back in the body: there was one to leak, and none leaked.
    assert api.sent("authorization")[api.paths.index("/groq")] == f"Bearer {KEY}"
    assert KEY not in run.text
    assert "***" in note
    errors = [r["error"] or "" for r in read(catalog, "sync_history", limit=100)]
    assert any("HTTP 400" in e for e in errors) and not any(KEY in e for e in errors)


def test_a_rate_limit_is_waited_out_while_a_timeout_and_a_dropped_connection_fail(
        catalog, api, tmp_path):
    before = snapshot(catalog, *SOURCES)
    release = threading.Event()
    api.routes |= {
        "/deepinfra": in_turn((429, {"Retry-After": "0"}, b'{"error": "slow down"}'),
                              recorded("deepinfra")),
        "/openrouter": Held(release, recorded("openrouter")),
        "/groq": Drop(),
    }
    env = environment(catalog, api, MODEL_SYNC_HTTP_TIMEOUT_SECONDS="0.5")

    try:
        run = sync(env, tmp_path, "deepinfra", "openrouter", "groq")
    finally:
        release.set()

    assert run.code == 1, run.text
    assert run.outcome("deepinfra")[0] == "success"
    assert api.count("/deepinfra") == 2
    status, note = run.outcome("openrouter")
    assert status == "failed" and note.startswith("timed out (ReadTimeout)")
    assert f"gave up after {1 + RETRIES} attempts" in note
    status, note = run.outcome("groq")
    assert status == "failed" and note.startswith("connection failed (RemoteProtocolError")
    assert api.count("/openrouter") == api.count("/groq") == 1 + RETRIES
    assert run.outcome("model_catalog")[0] == "success"
    after = snapshot(catalog, *SOURCES)
    assert after == before  # deepinfra republished the same payload: nothing to rewrite


def test_a_host_that_does_not_resolve_fails_within_seconds_with_one_hint(catalog, tmp_path):
    before = snapshot(catalog, "openrouter", "deepinfra")
    # The default retries and backoff: a host that does not resolve must not spend them.
    env = environment(catalog, MODEL_SYNC_OPENROUTER_URL=UNRESOLVABLE,
                      MODEL_SYNC_DEEPINFRA_URL=UNRESOLVABLE, MODEL_SYNC_HTTP_MAX_RETRIES=None,
                      MODEL_SYNC_HTTP_BACKOFF_SECONDS=None)

    run = sync(env, tmp_path, "openrouter", "deepinfra")

    assert run.code == 1, run.text
    for name in ("openrouter", "deepinfra"):
        status, note = run.outcome(name)
        assert status == "failed" and note.startswith("cannot reach model-sync-fault.invalid")
    assert run.out.count(OFFLINE_HINT) == 1
    assert run.reported_seconds < 5, run.text  # no backoff: four would take 15 s
    assert snapshot(catalog, "openrouter", "deepinfra") == before


# -- 4. settings -----------------------------------------------------------------------------------


def test_a_source_without_its_key_or_recording_is_skipped(baseline, api, tmp_path):
    catalogs = [copy_catalog(baseline, tmp_path / f"catalog{i}.db") for i in range(2)]
    before = snapshot(catalogs[0], "groq", "deepinfra")
    (tmp_path / "replay").mkdir()
    runs = sync_each([
        (environment(catalogs[0], api, GROQ_API_KEY=None), tmp_path, ("groq",)),
        (environment(catalogs[1], api, MODEL_SYNC_REPLAY_DIR=str(tmp_path / "replay")),
         tmp_path, ("deepinfra",)),
    ])

    no_key, no_recording = runs
    assert no_key.code == 0, no_key.text
    assert no_key.outcome("groq") == ("skipped", "disabled: GROQ_API_KEY is not set")
    assert no_recording.code == 0, no_recording.text
    assert no_recording.outcome("deepinfra") == ("skipped", "no recording")
    for catalog in catalogs:
        assert snapshot(catalog, "groq", "deepinfra") == before
    assert api.requests == []


def test_a_bad_setting_is_one_line_and_an_exit_code_and_the_rows_stay(baseline, api, tmp_path):
    catalogs = [copy_catalog(baseline, tmp_path / f"catalog{i}.db") for i in range(5)]
    before = snapshot(catalogs[0], "openrouter")
    (tmp_path / "replay").mkdir()
    (tmp_path / "a-file").write_text("not a directory")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cases = [  # (environment, sources, exit code, the line it prints)
        (environment(catalogs[0], api, MODEL_SYNC_REPLAY_DIR=str(tmp_path / "nowhere")),
         ("openrouter",), 2, "model-sync: MODEL_SYNC_REPLAY_DIR: replay directory "
                             f"{tmp_path / 'nowhere'} does not exist"),
        (environment(catalogs[1], api, MODEL_SYNC_REPLAY_DIR=str(tmp_path / "replay"),
                     MODEL_SYNC_REPLAY_DATE="2026-13-45"),
         ("openrouter",), 2, "model-sync: MODEL_SYNC_REPLAY_DATE must be a date (YYYY-MM-DD), "
                             "got '2026-13-45'"),
        (environment(catalogs[2], api, MODEL_SYNC_HTTP_MAX_RETRIES="three"),
         ("openrouter",), 2, "model-sync: MODEL_SYNC_HTTP_MAX_RETRIES must be a whole number, "
                             "got 'three'"),
        (environment(catalogs[3], api), ("openrouter", "nope"), 2,
         "model-sync: unknown source 'nope'; known sources: "),
        (environment(catalogs[4], api, MODEL_SYNC_OPENROUTER_URL="ftp://mirror.example.org/m"),
         ("openrouter",), 1, None),
        (environment(sqlite_url(tmp_path / "a-file" / "catalog.db"), api), ("openrouter",), 2,
         f"model-sync: cannot open the catalog database sqlite:///{tmp_path / 'a-file'}/"
         "catalog.db: "),
        (environment(f"postgresql+psycopg://u:secretpw@127.0.0.1:{port}/db", api),
         ("openrouter",), 2, f"model-sync: cannot open the catalog database "
                             f"postgresql+psycopg://u:***@127.0.0.1:{port}/db: "),
    ]

    runs = sync_each([(env, tmp_path, select) for env, select, _code, _line in cases])

    for run, (_env, _select, code, line) in zip(runs, cases, strict=True):
        assert run.code == code, run.text
        if line is not None:  # refused before any sync: one line on stderr, nothing else
            assert run.out == "" and len(run.err.splitlines()) == 1, run.text
            assert run.err.startswith(line), run.text
    bad_url = runs[4]
    status, note = bad_url.outcome("openrouter")
    assert status == "failed"
    assert note == ("MODEL_SYNC_OPENROUTER_URL must be an http(s) URL such as https://host/path, "
                    "got 'ftp://mirror.example.org/m'")
    assert bad_url.outcome("model_catalog")[0] == "skipped"
    assert "secretpw" not in runs[6].text
    for catalog in catalogs:
        assert snapshot(catalog, "openrouter") == before
    assert (tmp_path / "a-file").read_text() == "not a directory"
    assert api.requests == []


# -- 5. upstream drift, and 1. too many malformed entries ------------------------------------------


def test_checks_block_drift_and_malformed_payloads_and_withhold_an_implausible_limit(
        catalog, api, tmp_path):
    before = snapshot(catalog, *SOURCES)
    openrouter = decoded("openrouter")
    priced = [m for m in openrouter["data"] if "prompt" in m.get("pricing", {})]
    for model in priced[: len(priced) * 9 // 10]:  # the price field renamed in most entries
        model["pricing"]["input"] = model["pricing"].pop("prompt")
    groq = decoded("groq")
    for model in groq["data"][:15]:  # most ids replaced: another set of models
        model["id"] += "-renamed"
    litellm = decoded("litellm")
    models = [k for k, v in litellm.items() if isinstance(v, dict) and k != "sample_spec"]
    for key in models[::20]:  # 5% malformed
        litellm[key] = {k: v for k, v in litellm[key].items() if k != "litellm_provider"}
    deepinfra = decoded("deepinfra")
    huge = next(m for m in deepinfra["data"] if m.get("metadata"))
    huge["metadata"]["context_length"] = 10**12
    api.routes |= {"/openrouter": encoded(openrouter), "/groq": encoded(groq),
                   "/litellm": encoded(litellm), "/deepinfra": encoded(deepinfra)}

    run = sync(environment(catalog, api), tmp_path, *SOURCES)

    assert run.code == 1, run.text
    status, note = run.outcome("openrouter")
    assert status == "blocked" and note.startswith("sync blocked by its checks: openrouter: ")
    assert "a price field may have been renamed" in note
    status, note = run.outcome("groq")
    assert status == "blocked" and "a different set of models, not an update" in note
    status, note = run.outcome("litellm")
    assert status == "blocked" and f"litellm: {len(models[::20]):,} of" in note
    assert "entries rejected" in note
    assert run.outcome("deepinfra")[0] == "success"
    assert run.outcome("model_catalog")[0] == "success"
    after = snapshot(catalog, *SOURCES)
    assert {s: after[s] for s in ("openrouter", "groq", "litellm")} == {
        s: before[s] for s in ("openrouter", "groq", "litellm")}
    # The source keeps what it published; the catalog withholds the implausible limit.
    [stored] = [r for r in read(catalog, "source_rows", "deepinfra")
                if r["source_key"] == huge["id"]]
    assert stored["context_window"] == 10**12
    [offering] = [r for r in read(catalog, "catalog_rows")
                  if (r["provider"], r["model_id"]) == ("deepinfra", huge["id"])]
    assert offering["context_window"] != 10**12
    assert offering["field_sources"]["withheld"]["context_window"] == {"deepinfra": 10**12}
