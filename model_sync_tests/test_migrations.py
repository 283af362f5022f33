"""Schema versioning: migrations build exactly the schema of `schema.py`, and a database made by
an earlier schema upgrades without losing rows, on SQLite and on a real PostgreSQL server."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext

from model_sync.catalog import migrations
from model_sync.catalog.migrations import BASELINE, VERSION_TABLE, SchemaMismatch, baseline
from model_sync.catalog.money import format_decimal
from model_sync.catalog.schema import metadata
from model_sync.catalog.stamps import UNSTAMPED, stamp
from model_sync.catalog.store import CatalogStore, make_engine

CATALOG_TABLES = {"source_offerings", "model_catalog", "sync_runs"}
FETCHED = datetime(2026, 8, 19, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def revision(engine) -> str | None:
    with engine.connect() as conn:
        return migrations.current_revision(conn)


def tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def schema_drift(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
        return compare_metadata(context, metadata)


def baseline_tables() -> dict[str, sa.Table]:
    """The tables as revision 0001 made them, to write rows the way that schema's code did."""
    meta = sa.MetaData()
    made = {name: sa.Table(name, meta, *columns) for name, columns in baseline.tables().items()}
    for index, (table, columns) in baseline.INDEXES.items():
        sa.Index(index, *(made[table].c[c] for c in columns))
    return made


def baseline_rows(dialect: str) -> dict[str, list[dict]]:
    def price(text):  # ExactDecimal's storage: NUMERIC on PostgreSQL, decimal text elsewhere
        return Decimal(text) if dialect == "postgresql" else format_decimal(Decimal(text))

    offering = {
        "source": "openrouter", "source_key": "google/gemini-3.7-flash", "provider": "openrouter",
        "source_provider": "openrouter", "model_id": "google/gemini-3.7-flash",
        "name": "Gemini 3.7 Flash", "context_window": 1_048_576, "input_price": price("0.375"),
        "output_price": price("3"), "cache_write_price": price("0.0208333333333333"),
        "price_flags": "[]", "input_modalities": '["text","image"]', "supports_tools": True,
        "extra": '{"canonical_slug":"google/gemini-3.7-flash-001"}', "fetched_at": FETCHED,
    }
    catalog = {k: v for k, v in offering.items()
               if k not in ("source", "source_key", "source_provider", "extra", "fetched_at")}
    catalog |= {"price_source": "openrouter", "sources": '["openrouter"]',
                "field_sources": '{"input_price":"openrouter"}', "updated_at": FETCHED}
    run = {"run_id": "r1", "source": "openrouter", "started_at": FETCHED,
           "finished_at": FETCHED, "status": "success", "rows_fetched": 1, "rows_inserted": 1}
    return {"source_offerings": [offering], "model_catalog": [catalog], "sync_runs": [run]}


def fill_baseline(engine) -> None:
    made = baseline_tables()
    with engine.begin() as conn:
        conn.execution_options(**{UNSTAMPED: True})  # the code of 0001 had no row stamps
        for name, rows in baseline_rows(engine.dialect.name).items():
            conn.execute(sa.insert(made[name]), rows)


def assert_baseline_rows_survived(store: CatalogStore) -> None:
    # Still there for the pipeline, not only in the table (new columns need their backfill).
    assert store.source_count("openrouter") == 1
    assert [r["source_key"] for r in store.offerings()] == ["google/gemini-3.7-flash"]
    assert len(store.catalog_frame()) == 1
    [row] = store.source_rows("openrouter")
    assert row["input_price"] == Decimal("0.375") and row["output_price"] == Decimal("3")
    assert format_decimal(row["cache_write_price"]) == "0.0208333333333333"
    assert row["cache_read_price"] is None
    assert row["input_modalities"] == ["text", "image"] and row["price_flags"] == []
    assert row["extra"] == {"canonical_slug": "google/gemini-3.7-flash-001"}
    assert row["fetched_at"] == FETCHED and row["fetched_at"].tzinfo is not None
    assert row["context_window"] == 1_048_576 and row["supports_tools"] is True
    [entry] = store.catalog_rows()
    assert entry["field_sources"] == {"input_price": "openrouter"}
    assert entry["sources"] == ["openrouter"] and entry["updated_at"] == FETCHED
    [run] = store.sync_history("openrouter")
    assert (run["run_id"], run["status"], run["rows_inserted"]) == ("r1", "success", 1)


def test_a_new_database_is_created_at_the_head_revision_with_exactly_the_schema(engine):
    store = CatalogStore(engine)
    store.create_schema()
    assert revision(engine) == migrations.head_revision()
    assert CATALOG_TABLES | {VERSION_TABLE} <= tables(engine)
    assert schema_drift(engine) == [], "schema.py changed without a migration"
    if engine.dialect.name == "postgresql":
        price = {c["name"]: c for c in sa.inspect(engine).get_columns("model_catalog")}
        assert isinstance(price["input_price"]["type"], sa.Numeric)
        assert price["updated_at"]["type"].timezone


def test_a_database_made_by_the_previous_schema_upgrades_without_losing_rows(engine,
                                                                             database_url):
    migrations.upgrade(engine, BASELINE)
    assert revision(engine) == BASELINE
    fill_baseline(engine)

    store = CatalogStore.from_url(database_url)  # what every run does first: upgrade to head
    try:
        assert revision(store.engine) == migrations.head_revision()
        assert schema_drift(store.engine) == []
        assert_baseline_rows_survived(store)
        with store.engine.connect() as conn:  # rows from before the stamps have one (0008)
            assert stamp(conn, "source_offerings/openrouter") != "-"
            assert stamp(conn, "model_catalog") != "-"
    finally:
        store.dispose()


def test_every_revision_upgrades_and_downgrades_step_by_step(engine):
    revisions = [s.revision for s in reversed(list(migrations.scripts().walk_revisions()))]
    assert revisions[0] == BASELINE
    for number, rev in enumerate(revisions):
        migrations.upgrade(engine, rev)
        assert revision(engine) == rev
        migrations.downgrade(engine, revisions[number - 1] if number else "base")
        migrations.upgrade(engine, rev)
    assert revision(engine) == migrations.head_revision()
    migrations.downgrade(engine, "base")
    assert not tables(engine) & CATALOG_TABLES


def test_a_database_made_before_migrations_existed_is_adopted(engine, database_url):
    made = baseline_tables()
    made["sync_runs"].metadata.create_all(engine)  # what create_all() of the first schema made
    fill_baseline(engine)
    assert VERSION_TABLE not in tables(engine)

    store = CatalogStore.from_url(database_url)
    try:
        assert revision(store.engine) == migrations.head_revision()
        assert_baseline_rows_survived(store)
    finally:
        store.dispose()


def test_unversioned_tables_that_do_not_match_are_refused_not_touched(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE source_offerings (source VARCHAR(40), x INTEGER)"))
    with pytest.raises(SchemaMismatch) as error:
        CatalogStore(engine).create_schema()
    message = str(error.value)
    assert "do not match revision 0001" in message and "table model_catalog is missing" in message
    assert "source_offerings lacks" in message and "unknown columns x" in message
    assert tables(engine) == {"source_offerings"}


def test_processes_starting_at_once_create_the_schema_once(database_url):
    engines = [make_engine(database_url) for _ in range(6)]
    start, errors = threading.Barrier(len(engines)), []

    def first_use(engine):
        start.wait()
        try:
            CatalogStore(engine).create_schema()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert revision(engines[0]) == migrations.head_revision()
    for engine in engines:
        engine.dispose()


def test_autogenerate_writes_plain_frozen_types(tmp_path):
    """A new revision must not import the live custom types (they may change later)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    config = migrations.alembic_config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        script = migrations.scripts()
        revision_file = None

        def capture(rev, context):  # render the would-be revision against an empty database
            nonlocal revision_file
            revision_file = render_python_code(
                produce_migrations(context, metadata).upgrade_ops,
                render_item=context.opts["render_item"])
            return []

        with EnvironmentContext(config, script, fn=capture):
            script.run_env()
    engine.dispose()
    assert "model_sync.catalog.schema" not in revision_file
    assert 'sa.String(64).with_variant(sa.Numeric(), "postgresql")' in revision_file
    assert "sa.DateTime(timezone=True)" in revision_file
