"""`model-sync export`: the active catalog as JSON (models.dev shape), CSV and Parquet, exactly."""

import csv
import io
import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from model_sync.cli import main
from model_sync.sync import run_sync


@pytest.fixture(scope="module")
def synced(tmp_path_factory, payloads_dir):
    db = tmp_path_factory.mktemp("export") / "catalog.db"
    from model_sync.defs.resources import CatalogDatabase, HttpClientResource

    url = f"sqlite:///{db}"
    report = run_sync(["openrouter", "models_dev", "litellm", "genai_prices"],
                      http=HttpClientResource(replay_dir=str(payloads_dir)),
                      catalog_db=CatalogDatabase(url=url))
    assert report.exit_code == 0, report.render()
    return url


@pytest.fixture(scope="module")
def payloads_dir():
    from model_sync_tests.conftest import SHARED, unavailable

    if not SHARED.is_dir():
        unavailable(f"recorded payloads not found at {SHARED}")
    return SHARED


def export(monkeypatch, capsys, url, *args):
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", url)
    code = main(["export", *args])
    return code, capsys.readouterr()


def test_json_is_one_object_per_provider_with_exact_prices(synced, monkeypatch, capsys):
    code, out = export(monkeypatch, capsys, synced, "--format", "json")
    assert code == 0
    assert '"cache_write": 0.0208333333333333' in out.out  # a number, digit for digit
    doc = json.loads(out.out, parse_float=Decimal)
    flash = doc["openrouter"]["models"]["google/gemini-3.7-flash"]
    assert doc["openrouter"]["id"] == "openrouter"
    assert flash["cost"] == {"input": Decimal("0.375"), "output": Decimal("1.875"),
                             "cache_read": Decimal("0.0375"),
                             "cache_write": Decimal("0.0208333333333333")}
    assert flash["limit"]["context"] == 1048576
    assert "cost" not in doc["openrouter"]["models"]["openrouter/auto"]  # unpriced, not 0
    assert "bedrock" in doc and "amazon-bedrock" not in doc


def test_csv_keeps_decimals_as_text_and_counts_as_the_catalog(synced, monkeypatch, capsys,
                                                              tmp_path):
    out_file = tmp_path / "catalog.csv"
    code, _ = export(monkeypatch, capsys, synced, "--format", "csv", "--out", str(out_file))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    from model_sync.catalog.store import CatalogStore

    assert len(rows) == len(CatalogStore.from_url(synced).catalog_rows(active_only=True))
    flash = next(r for r in rows if r["model_id"] == "google/gemini-3.7-flash")
    assert flash["cache_write_price"] == "0.0208333333333333"
    assert flash["context_window"] == "1048576"


def test_parquet_stores_prices_as_decimals(synced, monkeypatch, capsys, tmp_path):
    target = tmp_path / "catalog.parquet"
    code, _ = export(monkeypatch, capsys, synced, "--format", "parquet", "--out", str(target))
    assert code == 0
    table = pq.read_table(target)
    assert str(table.schema.field("input_price").type).startswith("decimal128")
    frame = table.to_pandas()
    flash = frame[frame.model_id == "google/gemini-3.7-flash"].iloc[0]
    assert flash.cache_write_price == Decimal("0.0208333333333333")


def test_models_rollup_export(synced, monkeypatch, capsys):
    code, out = export(monkeypatch, capsys, synced, "--format", "json", "--table", "models")
    assert code == 0
    models = json.loads(out.out, parse_float=Decimal)
    llama = models["llama-3-1-8b-instruct"]
    assert llama["providers"] >= 10 and llama["cheapest_input_price"] > 0
    assert llama["hugging_face_id"].lower() == "meta-llama/meta-llama-3.1-8b-instruct"


def test_parquet_needs_an_output_file(synced, monkeypatch, capsys):
    code, out = export(monkeypatch, capsys, synced, "--format", "parquet")
    assert code == 2 and "parquet needs --out PATH" in out.err


def test_an_empty_catalog_says_so(monkeypatch, capsys, tmp_path):
    code, out = export(monkeypatch, capsys, f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 1 and "catalog is empty" in out.err
