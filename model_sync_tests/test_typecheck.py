"""The type checker over the packages that carry the data contract (pyproject's [tool.mypy])."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_sources_and_catalog_type_check_without_errors():
    result = mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_a_misspelt_field_of_a_row_is_a_type_error(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from model_sync.catalog.contract import Offering\n\n\n"
        "def price(row: Offering) -> object:\n"
        "    return row['input_price'], row['input_prize']\n")
    result = mypy(str(probe))
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and 'has no key "input_prize"' in errors[0]
