"""The whole graph, materialized into a temporary SQLite catalog from the recorded payloads."""

import json
import shutil
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from model_sync.catalog.identity import ALIASES_ENV
from model_sync.catalog.schema import build_digests, source_offerings
from model_sync.catalog.store import CatalogStore
from model_sync.definitions import defs
from model_sync.defs.checks import CATALOG_RULES, DERIVED_RULES, SOURCE_RULES
from model_sync.defs.resources import HttpClientResource
from model_sync.sources import SOURCES
from model_sync_tests.conftest import FIXTURE_CONFIG

ASSETS = list(defs.assets)


def materialize(http, catalog_db, selection=None, run_config=None):
    if run_config is None:  # the fixture sources' small minimum, for those selected
        ops = {k: v for k, v in FIXTURE_CONFIG["ops"].items()
               if selection is None or k in selection}
        run_config = {"ops": ops} if ops else None
    return dg.materialize(ASSETS, selection=selection, instance=dg.DagsterInstance.ephemeral(),
                          resources={"http": http, "catalog_db": catalog_db},
                          raise_on_error=False, run_config=run_config)


def checks(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_full_replayed_sync_fills_every_table_and_passes_every_check(replayed, replayed_db):
    result, catalog_db = replayed.result, replayed_db
    assert result.success
    evaluations = checks(result)
    assert len(evaluations) == (len(SOURCE_RULES) * len(SOURCES) + len(CATALOG_RULES)
                                + len(DERIVED_RULES))
    assert all(e.passed for e in evaluations.values()), [
        e.description for e in evaluations.values() if not e.passed]
    store = catalog_db.store()
    counts = store.table_counts()
    assert counts["source_offerings"] == sum(store.source_count(s.name) for s in SOURCES)
    assert counts["model_catalog"] > 5000
    assert counts["sync_runs"] == len(SOURCES) + 1
    history = store.sync_history()
    assert {h["status"] for h in history} == {"success"}
    mat = result.asset_materializations_for_node("openrouter")[0]
    assert mat.metadata["rows"].value == 414 and mat.metadata["added"].value == 414
    assert "duration_seconds" in mat.metadata


def test_catalog_prefers_the_providers_own_api_and_takes_prices_as_a_set(replayed, replayed_db):
    assert replayed.result.success
    catalog_db = replayed_db
    rows = {(r["provider"], r["model_id"]): r for r in catalog_db.store().catalog_rows()}
    sonnet = rows[("openrouter", "anthropic/claude-sonnet-4.5")]
    assert sonnet["price_source"] == "openrouter"
    assert {"openrouter", "models_dev"} <= set(sonnet["sources"])
    assert sonnet["field_sources"]["context_window"] == "openrouter"
    # Groq publishes no prices: they come from a curated source, all four from the same one.
    groq = [r for (p, _), r in rows.items() if p == "groq" and "groq" in r["sources"]]
    priced = [r for r in groq if r["input_price"] is not None]
    assert priced and all(r["price_source"] != "groq" for r in priced)
    for r in priced:
        assert {r["field_sources"].get(p) for p in ("input_price", "output_price")} == {
            r["price_source"]}
    # Benchmarks and Hub repositories are not offerings.
    assert not [r for r in rows.values() if "artificial_analysis" in r["sources"]]
    assert not [r for r in rows.values() if "huggingface" in r["sources"]]
    assert catalog_db.store().source_count("huggingface") >= 8


def test_an_identical_sync_changes_nothing(replayed, replayed_db, replay_http):
    assert replayed.result.success
    catalog_db = replayed_db
    # Hugging Face also fetches the repositories other sources name, from their last good rows:
    # in the very first run those rows were not there yet, so it settles on the second sync.
    assert materialize(replay_http, catalog_db).success
    store = catalog_db.store()
    events, runs = len(store.changes()), len(store.sync_history(limit=1000))
    result = materialize(replay_http, catalog_db)
    assert result.success
    for node in [s.name for s in SOURCES] + ["model_catalog"]:
        meta = result.asset_materializations_for_node(node)[0].metadata
        assert (meta["added"].value, meta["removed"].value, meta["updated"].value,
                meta["repriced"].value, meta["restored"].value) == (0, 0, 0, 0, 0), node
    assert len(store.changes()) == events  # no event
    assert all(r["rows_updated"] == 0 for r in store.sync_history(limit=1000)[
        : len(store.sync_history(limit=1000)) - runs])


def test_an_unchanged_build_restores_what_the_full_build_tallied(replayed_db, monkeypatch):
    """A build whose inputs did not change reads back only the catalog rows its audit and
    metadata name (preview, rows a rule may name), by key: it finds what the full build found."""
    import logging
    from datetime import UTC, datetime, timedelta

    from model_sync.catalog.build_digests import forget
    from model_sync.defs.metadata import preview
    from model_sync.ingest.catalog import build_catalog_tables

    store = replayed_db.store()
    with store.engine.begin() as conn:
        forget(conn, "model_catalog")  # the next build merges every offering again

    def build(at: datetime):
        return build_catalog_tables(store, run_id=None, started=at, min_rows=1,
                                    log=logging.getLogger("test"), archive_after_days=7,
                                    retention_days=90)

    now = datetime.now(UTC)
    full = build(now)

    def every_row(*_):
        raise AssertionError("the unchanged build read every catalog row again")

    monkeypatch.setattr("model_sync.catalog.tally.Tally.counted", classmethod(every_row))
    again = build(now + timedelta(seconds=1))
    assert full.tally.rows > 7000
    with store.engine.connect() as conn:
        [outcome] = conn.execute(sa.select(build_digests.c.outcome).where(
            build_digests.c.name == "model_catalog")).scalars()
    assert json.loads(outcome)["tally"]["rows"] == full.tally.rows
    assert full.tally.noted and len(full.tally.first) == 10
    def keys(rows):
        return [(r["provider"], r["model_id"]) for r in rows]

    for name in ("rows", "served", "active", "unpriced", "providers", "by_price_source"):
        assert getattr(again.tally, name) == getattr(full.tally, name), name
    assert keys(again.tally.first) == keys(full.tally.first)
    assert keys(again.tally.noted) == keys(full.tally.noted)
    assert preview(again.tally.first) == preview(full.tally.first)  # what the UI shows
    assert again.findings == full.findings  # the audit's verdicts, texts and numbers
    store.dispose()


def test_a_changed_alias_file_rebuilds_an_otherwise_unchanged_catalog(
        replayed_db, replay_http, tmp_path, monkeypatch):
    """The catalog build is skipped while what it reads is unchanged; a user's aliases file is
    part of what it reads."""
    catalog_db = replayed_db

    def canonical() -> str:
        [row] = [r for r in catalog_db.store().catalog_rows()
                 if (r["provider"], r["model_id"]) == ("openai", "gpt-4o")]
        return row["canonical_id"]

    assert materialize(replay_http, catalog_db, ["model_catalog"]).success
    assert canonical() == "gpt-4o-20240806"  # the packaged alias table
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("alias,canonical_id,provider,note\ngpt-4o,gpt-4o-omni,openai,\n")
    monkeypatch.setenv(ALIASES_ENV, str(aliases))
    assert materialize(replay_http, catalog_db, ["model_catalog"]).success
    assert canonical() == "gpt-4o-omni"


@pytest.fixture
def openrouter_replay(tmp_path, payloads):
    """A replay dir holding the 2025-05-22 OpenRouter snapshot (copied into tmp only)."""
    root = tmp_path / "replay"
    (root / "openrouter").mkdir(parents=True)
    name = "2025-05-22.json"
    shutil.copy(payloads / "openrouter" / name, root / "openrouter" / name)
    return root


def write_snapshot(root, day, body):
    (root / "openrouter" / f"{day}.json").write_bytes(
        body if isinstance(body, bytes) else json.dumps(body).encode())


def test_drop_guard_blocks_a_payload_missing_a_third_and_keeps_the_last_good_rows(
        openrouter_replay, catalog_db):
    http = HttpClientResource(replay_dir=str(openrouter_replay))
    assert materialize(http, catalog_db, ["openrouter"]).success
    good = catalog_db.store().source_rows("openrouter")
    payload = json.loads((openrouter_replay / "openrouter" / "2025-05-22.json").read_text())
    payload["data"] = payload["data"][: len(payload["data"]) * 2 // 3]
    write_snapshot(openrouter_replay, "2025-05-23", payload)

    result = materialize(http, catalog_db, ["openrouter"])
    assert not result.success
    guard = checks(result)["openrouter_drop_guard"]
    assert not guard.passed and guard.severity == dg.AssetCheckSeverity.ERROR
    assert "fewer than the 319 of its last good sync" in guard.description
    store = catalog_db.store()
    assert store.source_rows("openrouter") == good
    last = store.sync_history("openrouter", limit=1)[0]
    assert last["status"] == "blocked" and last["rows_fetched"] == 212
    failure = result.get_step_failure_events()[0]
    assert "sync blocked" in failure.step_failure_data.user_failure_data.description


def test_drop_guard_share_is_configurable(openrouter_replay, catalog_db):
    http = HttpClientResource(replay_dir=str(openrouter_replay))
    materialize(http, catalog_db, ["openrouter"])
    payload = json.loads((openrouter_replay / "openrouter" / "2025-05-22.json").read_text())
    payload["data"] = payload["data"][: len(payload["data"]) * 2 // 3]
    write_snapshot(openrouter_replay, "2025-05-23", payload)
    config = {"ops": {"openrouter": {"config": {"max_drop_share": 0.5, "min_rows": 100}}}}
    assert materialize(http, catalog_db, ["openrouter"], run_config=config).success
    assert catalog_db.store().source_count("openrouter") == 212


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "openrouter: the response body is empty"),
        (b"{not json", "openrouter: the response is not valid JSON"),
        ({"models": []}, "openrouter: expected the 'data' field of the response"),
    ],
)
def test_bad_payload_fails_clearly_and_keeps_previous_rows(openrouter_replay, catalog_db, body,
                                                            message):
    http = HttpClientResource(replay_dir=str(openrouter_replay))
    small = {"ops": {"model_catalog": {"config": {"min_rows": 100}}}}
    assert materialize(http, catalog_db, ["openrouter", "model_catalog"], small).success
    before_source = catalog_db.store().source_rows("openrouter")
    before_catalog = catalog_db.store().catalog_rows()
    write_snapshot(openrouter_replay, "2025-05-23", body)

    result = materialize(http, catalog_db, ["openrouter", "model_catalog"], small)
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == "openrouter"
    assert message in failure.step_failure_data.user_failure_data.description
    store = catalog_db.store()
    assert store.source_rows("openrouter") == before_source
    assert [r["model_id"] for r in store.catalog_rows()] == [r["model_id"] for r in before_catalog]
    last = store.sync_history("openrouter", limit=1)[0]
    assert last["status"] == "failed" and message in last["error"]


def test_renamed_price_field_is_blocked_by_price_coverage(openrouter_replay, catalog_db):
    http = HttpClientResource(replay_dir=str(openrouter_replay))
    materialize(http, catalog_db, ["openrouter"])
    payload = json.loads((openrouter_replay / "openrouter" / "2025-05-22.json").read_text())
    for m in payload["data"]:
        m["pricing"] = {"input": m["pricing"]["prompt"], "output": m["pricing"]["completion"]}
    write_snapshot(openrouter_replay, "2025-05-23", payload)
    result = materialize(http, catalog_db, ["openrouter"])
    coverage = checks(result)["openrouter_price_coverage"]
    assert not coverage.passed and "renamed" in coverage.description
    assert catalog_db.store().source_rows("openrouter")[0]["input_price"] is not None


def test_interrupted_publish_leaves_previous_rows(openrouter_replay, catalog_db, monkeypatch):
    http = HttpClientResource(replay_dir=str(openrouter_replay))
    materialize(http, catalog_db, ["openrouter"])
    store = catalog_db.store()
    before = store.source_rows("openrouter")
    rows = [dict(r, input_price=None) for r in before]
    rows[-1]["source_key"] = None  # violates the primary key halfway through the insert
    with pytest.raises(sa.exc.IntegrityError):
        store.publish_source("openrouter", rows, run_id="x", started_at=before[0]["fetched_at"])
    assert store.source_rows("openrouter") == before


def test_source_without_its_key_is_skipped_with_a_clear_message(catalog_db):
    result = materialize(HttpClientResource(), catalog_db, ["groq"])
    assert result.success and result.get_asset_materialization_events() == []
    [observation] = result.get_asset_observation_events()
    skipped = observation.asset_observation_data.asset_observation.metadata["skipped"].value
    assert skipped.startswith("Groq is disabled: set GROQ_API_KEY")
    assert catalog_db.store().sync_history("groq") == []


def test_dry_run_audits_without_writing(replay_http, catalog_db):
    config = {"ops": {"openrouter": {"config": {"dry_run": True}}}}
    result = materialize(replay_http, catalog_db, ["openrouter"], run_config=config)
    assert result.success
    assert catalog_db.store().source_count("openrouter") == 0
    assert checks(result)["openrouter_min_rows"].passed
    # observed, not materialized: the asset does not look fresh and the catalog is not triggered
    assert not result.get_asset_materialization_events()
    [observed] = result.get_asset_observation_events()
    assert observed.asset_observation_data.asset_observation.metadata["rows"].value > 250


def test_catalog_is_blocked_below_its_minimum_and_keeps_the_previous_catalog(replay_http,
                                                                               replayed_db):
    catalog_db = replayed_db
    before = len(catalog_db.store().catalog_rows())
    config = {"ops": {"model_catalog": {"config": {"min_rows": 10**6}}}}
    result = materialize(replay_http, catalog_db, ["model_catalog"], run_config=config)
    assert not result.success and not checks(result)["model_catalog_min_rows"].passed
    assert len(CatalogStore.from_url(catalog_db.url).catalog_rows()) == before


def test_a_blocked_build_rolls_back_the_rows_it_wrote_as_it_merged(replay_http, replayed_db):
    catalog_db = replayed_db
    store = catalog_db.store()
    before = store.catalog_rows()
    table = source_offerings
    with store.engine.begin() as conn:  # a build with rows to write: a source's prices moved
        conn.execute(sa.delete(build_digests))
        conn.execute(sa.update(table).where(table.c.source == "openrouter",
                                            table.c.input_price.is_not(None))
                     .values(input_price=Decimal("123.5")))
    config = {"ops": {"model_catalog": {"config": {"min_rows": 10**6}}}}
    result = materialize(replay_http, catalog_db, ["model_catalog"], run_config=config)
    assert not result.success and not checks(result)["model_catalog_min_rows"].passed
    assert store.catalog_rows() == before
    assert store.sync_history("model_catalog", limit=1)[0]["status"] == "blocked"
    # Not blocked, the same build writes them.
    assert materialize(replay_http, catalog_db, ["model_catalog"]).success
    moved = [r for r in store.catalog_rows() if r["input_price"] == Decimal("123.5")]
    assert len(moved) > 100 and len(store.catalog_rows()) == len(before)


def test_a_catalog_build_that_crashes_is_recorded_and_keeps_the_catalog(replay_http, replayed_db,
                                                                        monkeypatch):
    catalog_db = replayed_db
    before = len(catalog_db.store().catalog_rows())
    with catalog_db.store().engine.begin() as conn:  # a build with work to do, not skipped
        conn.execute(sa.delete(build_digests))

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("model_sync.catalog.publishing.merge_groups", crash)
    assert not materialize(replay_http, catalog_db, ["model_catalog"]).success
    last = catalog_db.store().sync_history("model_catalog", limit=1)[0]
    assert last["status"] == "failed" and "RuntimeError: out of memory" in last["error"]
    assert len(catalog_db.store().catalog_rows()) == before
