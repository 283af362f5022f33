"""The catalog on a real PostgreSQL server: the full replayed sync gives exactly what SQLite gives,
and syncs racing on one source leave a consistent catalog."""

import os
import shutil
import subprocess
import sys
import threading
import time
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from model_sync.catalog.money import format_decimal
from model_sync.catalog.schema import PRICE_FIELDS
from model_sync.catalog.store import CatalogStore
from model_sync.defs.resources import CatalogDatabase
from model_sync_tests.conftest import REPO
from model_sync_tests.servers import PG_USER
from model_sync_tests.test_pipeline import ASSETS, checks, materialize

pytestmark = pytest.mark.integration


def by_key(rows, *key):
    return {tuple(r[k] for k in key): r for r in rows}


def exact(row):
    """A row with its prices as their exact decimal text, so 2.5 and 2.50 would differ."""
    return {k: format_decimal(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def content(row):
    """A row without the times of the sync that wrote it (`updated_at`, ...) and any hash over
    them: two syncs of the same payloads differ only there. `created_at` (from the source) and
    `fetched_at` (the replayed snapshot's date) are content."""
    return {k: v for k, v in exact(row).items() if k not in ("content_hash", "inputs_hash") and (
        not k.endswith("_at") or k in ("created_at", "fetched_at"))}


def test_full_replayed_sync_on_postgresql_matches_sqlite(replay_http, replayed, replayed_db,
                                                        pg_url):
    on_sqlite, catalog_db = replayed.result, replayed_db
    on_postgres = materialize(replay_http, CatalogDatabase(url=pg_url))
    assert on_sqlite.success and on_postgres.success
    assert all(e.passed for e in checks(on_postgres).values())
    assert {n: e.passed for n, e in checks(on_postgres).items()} == {
        n: e.passed for n, e in checks(on_sqlite).items()}

    sqlite, postgres = catalog_db.store(), CatalogStore.from_url(pg_url)
    try:
        assert postgres.engine.dialect.name == "postgresql"
        assert postgres.table_counts() == sqlite.table_counts()

        offerings = by_key(sqlite.offerings(), "source", "source_key")
        pg_offerings = by_key(postgres.offerings(), "source", "source_key")
        assert pg_offerings.keys() == offerings.keys()
        assert {k: content(r) for k, r in pg_offerings.items()} == {
            k: content(r) for k, r in offerings.items()}

        catalog = by_key(sqlite.catalog_rows(), "provider", "model_id")
        pg_catalog = by_key(postgres.catalog_rows(), "provider", "model_id")
        assert pg_catalog.keys() == catalog.keys() and len(catalog) > 5000
        assert next(iter(pg_catalog.values()))["updated_at"].tzinfo is not None
        for key, row in catalog.items():  # identical, digit for digit
            assert content(pg_catalog[key]) == content(row), key

        priced = [r for r in pg_catalog.values() if r["input_price"] is not None]
        assert len(priced) > 3000
        gemini = pg_offerings[("openrouter", "google/gemini-3.7-flash")]
        assert format_decimal(gemini["cache_write_price"]) == "0.0208333333333333"
        assert gemini["input_price"] == Decimal("0.375")

        history = [(h["source"], h["status"], h["rows_fetched"], h["rows_inserted"])
                   for h in postgres.sync_history()]
        assert sorted(history) == sorted((h["source"], h["status"], h["rows_fetched"],
                                          h["rows_inserted"]) for h in sqlite.sync_history())
        with postgres.engine.connect() as conn:  # prices are NUMERIC, not text or float
            kinds = conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'model_catalog' AND column_name LIKE '%price'")).all()
            application = conn.execute(sa.text("SELECT current_setting('application_name')"))
            assert application.scalar_one() == "model_sync"  # named in pg_stat_activity
        assert {name: kind for name, kind in kinds if name in PRICE_FIELDS} == dict.fromkeys(
            PRICE_FIELDS, "numeric")
    finally:
        sqlite.dispose()
        postgres.dispose()


def _slow_first_insert(engine, inside: threading.Event, hold: float):
    """Make the first INSERT into source_offerings wait inside its transaction for `hold`s."""
    fired = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _hold(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith("INSERT INTO SOURCE_OFFERINGS"):
            fired.append(True)
            inside.set()
            time.sleep(hold)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_publishes_racing_on_one_source_are_serialized(backend, replay_http, tmp_path,
                                                           request):
    url = (f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    seed = CatalogDatabase(url=url)
    assert materialize(replay_http, seed, ["openrouter"]).success
    first, second = CatalogStore.from_url(url), CatalogStore.from_url(url)
    rows = first.source_rows("openrouter")
    first.engine.dispose()
    with first.engine.begin() as conn:  # start from an empty source, as a first sync would
        conn.execute(sa.text("DELETE FROM source_offerings"))

    inside, results, errors = threading.Event(), {}, []
    _slow_first_insert(first.engine, inside, hold=1.5)

    def publish(name, store):
        try:
            results[name] = store.publish_source("openrouter", rows, run_id=name,
                                                 started_at=rows[0]["fetched_at"])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    one = threading.Thread(target=publish, args=("one", first))
    one.start()
    assert inside.wait(30), "the first publish never reached its insert"
    two = threading.Thread(target=publish, args=("two", second))
    two.start()  # while the first holds its transaction open
    one.join(60)
    two.join(60)
    try:
        assert errors == []
        assert results["one"].added == len(rows)
        assert (results["two"].added, results["two"].removed) == (0, 0)  # saw the first's rows
        stored = {r["source_key"]: content(r) for r in second.source_rows("openrouter")}
        assert stored == {r["source_key"]: content(r) for r in rows}
        runs = second.sync_history("openrouter")
        assert sorted(r["run_id"] for r in runs if r["status"] == "success")[-2:] == ["one",
                                                                                     "two"]
    finally:
        first.dispose()
        second.dispose()


def test_two_sync_processes_racing_on_one_source_leave_a_consistent_catalog(payloads, pg_url,
                                                                            tmp_path):
    env = {**os.environ, "MODEL_SYNC_DATABASE_URL": pg_url, "MODEL_SYNC_REPLAY_DIR": str(payloads)}
    command = [sys.executable, "-m", "model_sync.cli", "sync", "--select", "openrouter"]
    processes = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    # A catalog of one source is below the catalog's minimum: its rebuild is blocked (exit 1),
    # but both source syncs must have succeeded, one after the other.
    for output in outputs:
        [line] = [x for x in output.splitlines() if x.startswith("openrouter ")]
        assert line.split()[1] == "success", output
    store = CatalogStore.from_url(pg_url)
    try:
        rows = store.source_rows("openrouter")
        assert len(rows) == 414 and len({r["source_key"] for r in rows}) == 414
        runs = store.sync_history("openrouter")
        assert [r["status"] for r in runs] == ["success", "success"]
        assert sorted(r["rows_inserted"] for r in runs) == [0, 414]
        assert {r["source"] for r in store.sync_history()} == {"openrouter", "model_catalog"}
    finally:
        store.dispose()


@pytest.mark.parametrize("config", ["dagster.postgres.yaml", "dagster.postgres-url.yaml"])
def test_dagster_instance_on_postgresql_records_runs_beside_the_catalog(
        config, postgres_server, replay_http, tmp_path, monkeypatch):
    database = f"dagster_{config.split('.')[1].replace('-', '_')}"
    url = postgres_server.create_database(database)
    password = postgres_server.password
    monkeypatch.setenv("DAGSTER_PG_USERNAME", PG_USER)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", password)
    monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(postgres_server.port))
    monkeypatch.setenv("DAGSTER_PG_DB", database)
    monkeypatch.setenv("DAGSTER_PG_URL",
                       postgres_server.url(database, driver="postgresql+psycopg2"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / config, home / "dagster.yaml")

    # The catalog shares the instance's database: each keeps its own Alembic version table.
    catalog_db = CatalogDatabase(url=url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert password not in repr(instance.get_ref())  # the password stays an env reference
        result = dg.materialize(ASSETS, selection=["openrouter"], instance=instance,
                                resources={"http": replay_http, "catalog_db": catalog_db})
        assert result.success
    with dg.DagsterInstance.from_config(str(home)) as instance:  # a new process would see it
        [record] = instance.get_run_records()
        assert record.dagster_run.run_id == result.run_id
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(dg.AssetKey("openrouter"))
        assert event.asset_materialization.metadata["rows"].value == 414
    store = CatalogStore.from_url(url)
    try:
        assert store.source_count("openrouter") == 414
        tables = set(sa.inspect(store.engine).get_table_names())
        assert {"runs", "event_logs", "alembic_version", "model_sync_alembic_version"} <= tables
    finally:
        store.dispose()
