"""CatalogStore queries other code depends on for more than their content."""

from datetime import UTC, datetime

import pytest

from model_sync.catalog.store import CatalogStore
from model_sync.sources.base import offering
from model_sync_tests.conftest import ctx


@pytest.fixture
def store(db_url):
    store = CatalogStore.from_url(db_url)
    yield store
    store.dispose()


def publish(store: CatalogStore, source: str, repos: list[str]) -> None:
    rows = [{**offering(ctx(source), source_key=f"{source}-{i}", source_provider=source,
                        model_id=f"m{i}", hugging_face_id=repo), "canonical_id": f"m{i}"}
            for i, repo in enumerate(repos)]
    store.publish_source(source, rows, run_id=source, started_at=datetime.now(UTC))


def test_hugging_face_ids_put_repositories_several_sources_name_first(store):
    """Featherless names nearly every Hub model; the 300 Hub lookups must not all go to
    repositories only it names while OpenRouter's few go unread."""
    featherless = [f"aaa/model-{i:03}" for i in range(400)]
    publish(store, "featherless", [*featherless, "Qwen/Qwen3-8B", "meta/llama-4"])
    publish(store, "openrouter", ["qwen/qwen3-8b", "zz-lab/only-openrouter", "meta/llama-4"])
    publish(store, "models_dev", ["meta/llama-4"])
    publish(store, "huggingface", ["zzz/own-listing"])

    ids = store.hugging_face_ids(exclude_source="huggingface")
    assert ids[:3] == ["meta/llama-4",  # named by three sources
                       "Qwen/Qwen3-8B",  # by two (one spelling per repository)
                       "zz-lab/only-openrouter"]  # by one, the more selective source
    assert ids[3:] == featherless
    assert "zzz/own-listing" not in ids
    assert "zzz/own-listing" in store.hugging_face_ids()


def test_a_read_holds_no_write_lock_and_a_write_takes_it(tmp_path):
    """A long read (the merge of prices or disagreements) must not stop a source's publish on
    SQLite; a write transaction still takes the lock at once (BEGIN IMMEDIATE)."""
    import sqlite3

    import sqlalchemy as sa

    from model_sync.catalog.engine import make_engine, reading

    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")

    def write_now() -> None:  # another process's writer, not willing to wait
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO t VALUES (1)")
            other.execute("COMMIT")
        finally:
            other.close()

    with reading(engine) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 0
        write_now()  # the read's snapshot is open: the write goes through
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 0  # a snapshot
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT count(*) FROM t"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            write_now()
    engine.dispose()
