"""The `model-sync` command: normalize prints exact rows; sync reports and sets its exit code."""

import json
import subprocess
import sys
from decimal import Decimal

from model_sync.cli import main
from model_sync.defs.checks import CATALOG_RULES, DERIVED_RULES, SOURCE_RULES
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import loads
from model_sync_tests.conftest import needs_shared, shared_files, table_row
from model_sync_tests.test_parsers import expected_entries


@needs_shared
def test_normalize_reproduces_every_entry_of_every_shared_payload(capsys):
    for path in shared_files():
        assert main(["normalize", path.parent.name, str(path)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == expected_entries(path.parent.name, json.loads(path.read_text()))
        row = json.loads(lines[0])
        assert set(row) >= {"source", "source_key", "provider", "model_id", "input_price"}
        for line in lines:
            price = json.loads(line)["input_price"]
            assert price is None or (isinstance(price, str) and Decimal(price) >= 0)


@needs_shared
def test_normalize_prints_prices_as_exact_decimal_strings(payloads, capsys):
    main(["normalize", "openrouter", str(payloads / "openrouter" / "2026-08-19.json")])
    rows = {r["source_key"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["google/gemini-3.7-flash"]["cache_write_price"] == "0.0208333333333333"
    assert rows["google/gemini-3.7-flash"]["input_price"] == "0.375"
    assert rows["openrouter/auto"]["input_price"] is None


def test_normalize_reports_bad_files_and_unknown_sources(tmp_path, capsys):
    bad = tmp_path / "2026-01-01.json"
    bad.write_text("{")
    assert main(["normalize", "openrouter", str(bad)]) == 1
    assert "openrouter: the response is not valid JSON" in capsys.readouterr().err
    assert main(["normalize", "nope", str(bad)]) == 2
    assert "unknown source 'nope'" in capsys.readouterr().err


def test_normalize_matches_the_parser(tmp_path, capsys):
    body = {"data": [{"id": "a/b", "pricing": {"prompt": "0.0000025", "completion": "-1"}}]}
    path = tmp_path / "2026-01-01.json"
    path.write_text(json.dumps(body))
    main(["normalize", "openrouter", str(path)])
    row = json.loads(capsys.readouterr().out)
    assert row["input_price"] == "2.5" and row["output_price"] is None
    assert row["price_flags"] == ["variable_price"]
    parsed = SOURCES_BY_NAME["openrouter"].parse(loads(path.read_bytes(), "openrouter"),
                                                  __import__("model_sync_tests.conftest").conftest
                                                  .ctx("openrouter"))
    assert parsed[0]["input_price"] == Decimal("2.5")


@needs_shared
def test_sync_command_in_replay_mode(payloads, tmp_path):
    env = {"MODEL_SYNC_REPLAY_DIR": str(payloads), "PATH": "/usr/bin:/bin",
           "MODEL_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    done = subprocess.run([sys.executable, "-m", "model_sync.cli", "sync"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert table_row(done.stdout, "model_catalog")[1] == "success"
    # Every source with a recording (the seven of ../shared) syncs, with its checks and the
    # catalog's.
    total = len(SOURCE_RULES) * 7 + len(CATALOG_RULES) + len(DERIVED_RULES)
    assert f"checks: {total} of {total} passed" in done.stdout


@needs_shared
def test_sync_skips_sources_without_a_snapshot_before_the_replay_date(payloads, tmp_path):
    env = {"MODEL_SYNC_REPLAY_DIR": str(payloads), "MODEL_SYNC_REPLAY_DATE": "2025-06-01",
           "PATH": "/usr/bin:/bin", "MODEL_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    done = subprocess.run([sys.executable, "-m", "model_sync.cli", "sync", "--select",
                           "openrouter", "groq", "litellm"], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    groq = table_row(done.stdout, "groq")
    assert groq[:2] == ["groq", "skipped"]
    assert " ".join(groq[2:]) == "no recording on or before 2025-06-01"
    assert table_row(done.stdout, "openrouter")[:3] == ["openrouter", "success", "321"]
    # The catalog is rebuilt from what synced; two sources give fewer rows than its minimum.
    assert table_row(done.stdout, "model_catalog")[1] == "blocked"
    assert done.returncode == 1


def test_sync_rejects_unknown_sources(capsys):
    assert main(["sync", "--select", "nope"]) == 2
    assert "known sources:" in capsys.readouterr().err


@needs_shared
def test_sync_dry_run_reports_success_and_writes_nothing(payloads, tmp_path):
    env = {"MODEL_SYNC_REPLAY_DIR": str(payloads), "PATH": "/usr/bin:/bin",
           "MODEL_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    done = subprocess.run([sys.executable, "-m", "model_sync.cli", "sync", "--dry-run",
                           "--select", "deepinfra"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert table_row(done.stdout, "deepinfra")[:3] == ["deepinfra", "success", "142"]
    assert "dry run, nothing written" in done.stdout and "model_catalog" not in done.stdout
    from model_sync.catalog.store import CatalogStore
    assert CatalogStore.from_url(env["MODEL_SYNC_DATABASE_URL"]).table_counts()[
        "source_offerings"] == 0


def test_every_command_reports_a_catalog_it_cannot_open_in_one_line(monkeypatch, capsys,
                                                                    tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MODEL_SYNC_DATABASE_URL", f"sqlite:///{blocker / 'catalog.db'}")
    for command in (["sync"], ["health"], ["export"], ["status"]):
        assert main(command) == 2, command
        out, err = capsys.readouterr()
        assert err.splitlines() == [
            f"model-sync: cannot open the catalog database sqlite:///{blocker / 'catalog.db'}: "
            f"{blocker} is not a directory"], command
        assert "Traceback" not in out + err


def test_a_bad_replay_setting_stops_the_sync_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(tmp_path / "nowhere"))
    assert main(["sync"]) == 2
    assert capsys.readouterr().err == (f"model-sync: MODEL_SYNC_REPLAY_DIR: replay directory "
                                       f"{tmp_path / 'nowhere'} does not exist\n")
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_SYNC_REPLAY_DATE", "2026-13-45")
    assert main(["sync"]) == 2
    assert capsys.readouterr().err == ("model-sync: MODEL_SYNC_REPLAY_DATE must be a date "
                                       "(YYYY-MM-DD), got '2026-13-45'\n")
