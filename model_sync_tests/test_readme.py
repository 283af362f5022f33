"""The README documents every table and column of the contract, and opens with the commands."""

from pathlib import Path

import pytest

from model_sync.catalog.schema import metadata

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("table", sorted(metadata.tables))
def test_every_table_and_column_is_documented(table):
    assert f"`{table}`" in README
    for column in metadata.tables[table].columns:
        assert f"`{column.name}`" in README, f"{table}.{column.name} is not in the README"


def test_readme_opens_with_the_two_commands():
    blocks = README.split("```bash\n")[1:3]
    assert "model-sync sync" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -q -e '.[dev]' && .venv/bin/python -m pytest" in ci
