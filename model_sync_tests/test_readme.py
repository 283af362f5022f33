"""The README documents every table and column of the contract, and opens with the commands."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_sync.catalog.schema import LIFECYCLE_FIELDS, metadata
from model_sync.sources import SOURCES
from model_sync.sources.base import ParseContext, loads
from model_sync_tests.conftest import FIXTURES

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


def test_the_unlisted_state_names_the_provider_of_every_own_api_source(payloads):
    """`unlisted` applies to the providers that sources with role `provider` list (as their rows
    name them, in every region): the README and the `state` column's doc say which."""
    section = README.split("#### Who serves which model")[1].split("\n#")[0]
    state_doc = next(f.doc for f in LIFECYCLE_FIELDS if f.name == "state")
    for spec in [s for s in SOURCES if s.role == "provider"]:
        folder = FIXTURES / spec.name if (FIXTURES / spec.name).is_dir() else payloads / spec.name
        providers = set()
        for file in sorted(folder.glob("*.json")):
            if file.name.endswith(".headers.json"):
                continue
            for region in spec.regions or [None]:
                context = ParseContext(spec.name, datetime.now(UTC), region)
                rows = spec.parse(loads(file.read_bytes(), spec.name), context)
                providers |= {r["provider"] for r in rows}
        assert providers, spec.name
        for provider in providers:
            assert f"`{provider}`" in section, (spec.name, provider)
            assert re.search(rf"(?<![\w-]){re.escape(provider)}(?![\w-])", state_doc), provider


def test_the_worked_example_of_a_new_source_parses_its_payload_and_becomes_an_asset():
    import dagster as dg

    from model_sync.cadence import resolve_cadences
    from model_sync.defs.source_assets import build_source_asset
    from model_sync_tests.conftest import ctx

    code = README.split("<!-- worked-example -->\n```python\n")[1].split("```")[0]
    module: dict = {}
    exec(compile(code, "acme.py", "exec"), module)  # the README's module, as written
    spec = module["SPEC"]
    payload = {"data": [{"id": "acme/fast-1", "context_length": 131072,
                         "pricing": {"input": "0.2", "output": "0.8"}}]}
    [row] = spec.parse(payload, ctx("acme"))
    assert (row["provider"], row["model_id"], row["creator"]) == ("acme", "acme/fast-1", "acme")
    assert (str(row["input_price"]), str(row["output_price"])) == ("0.2", "0.8")
    assert row["context_window"] == 131072
    asset = build_source_asset(spec, resolve_cadences([spec], env={})["acme"])
    assert asset.key == dg.AssetKey("acme")
    assert {key.name for key in asset.check_keys} >= {"acme_min_rows", "acme_rejected_entries"}
    assert spec.url_env == "MODEL_SYNC_ACME_URL"
