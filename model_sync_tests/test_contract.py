"""The data contract: its row types hold the columns of its field lists, the tables are built
from them, and the code that parses and merges rows imports neither storage nor Dagster."""

import ast
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

from model_sync.catalog import schema
from model_sync.catalog.contract import (
    CATALOG_COLUMNS,
    CATALOG_FIELDS,
    LIFECYCLE_FIELDS,
    MODEL_COLUMNS,
    MODEL_FIELDS,
    OFFERING_COLUMNS,
    OFFERING_FIELDS,
    STORED_OFFERING_COLUMNS,
    VALUE_TYPES,
    CatalogRow,
    ModelRow,
    Offering,
    StoredOffering,
)

ROOT = Path(__file__).resolve().parents[1]
ROW_TYPES = [
    (Offering, OFFERING_COLUMNS, OFFERING_FIELDS),
    (StoredOffering, STORED_OFFERING_COLUMNS, OFFERING_FIELDS + LIFECYCLE_FIELDS),
    (CatalogRow, CATALOG_COLUMNS, CATALOG_FIELDS + LIFECYCLE_FIELDS),
    (ModelRow, MODEL_COLUMNS, MODEL_FIELDS),
]
# Parsing, merging and planning history must not need a database or Dagster to import.
PURE_MODULES = [
    "model_sync.catalog.contract", "model_sync.catalog.money", "model_sync.catalog.providers",
    "model_sync.catalog.merge", "model_sync.catalog.identity", "model_sync.catalog.history",
    "model_sync.catalog.rollup", "model_sync.catalog.rules", "model_sync.catalog.rules.base",
    "model_sync.catalog.rules.source", "model_sync.catalog.rules.catalog",
    *sorted(f"model_sync.sources.{p.stem}" if p.stem != "__init__" else "model_sync.sources"
            for p in (ROOT / "model_sync" / "sources").glob("*.py")),
]
FORBIDDEN = ("sqlalchemy", "alembic", "dagster", "model_sync.defs", "model_sync.catalog.store",
             "model_sync.catalog.schema", "model_sync.catalog.upsert",
             "model_sync.catalog.migrations", "model_sync.catalog.engine",
             "model_sync.catalog.writes")


@pytest.mark.parametrize(("row_type", "columns", "fields"), ROW_TYPES,
                         ids=[t.__name__ for t, _, _ in ROW_TYPES])
def test_each_row_type_has_its_tables_columns_with_the_value_types_of_their_tags(
        row_type, columns, fields):
    hints = typing.get_type_hints(row_type)
    assert len(columns) == len(set(columns)) and set(hints) == set(columns)
    for field in fields:
        hint = hints[field.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        value = [a for a in args if a is not type(None)]
        assert len(value) == 1, field.name
        assert (typing.get_origin(value[0]) or value[0]) is VALUE_TYPES[field.type], field.name
        if field.key:  # a key is never null
            assert type(None) not in args, field.name


def test_the_tables_are_built_from_the_contract():
    assert [c.name for c in schema.source_offerings.columns] == STORED_OFFERING_COLUMNS
    assert [c.name for c in schema.model_catalog.columns] == [*CATALOG_COLUMNS, "inputs_hash"]
    assert [c.name for c in schema.models.columns] == [*MODEL_COLUMNS, "inputs_hash"]
    for field in OFFERING_FIELDS:
        column = schema.source_offerings.c[field.name]
        assert column.comment == field.doc and column.primary_key == field.key
        if field.type == "text":
            assert column.type.length == field.length, field.name


def _file(module: str) -> Path | None:
    """The source file of a module of this project; None for the standard library and others."""
    if module != "model_sync" and not module.startswith("model_sync."):
        return None
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(module: str) -> set[str]:
    """Every module that importing `module` imports directly, at any depth of its code (imports
    inside functions count), with the packages each one runs first."""
    path = _file(module)
    assert path is not None, module
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if _file(f"{base}.{alias.name}"))
    parts = {".".join(name.split(".")[:i]) for name in found
             for i in range(1, name.count(".") + 1)}
    return found | parts


def _reached(start: str) -> dict[str, list[str]]:
    """Every module importing `start` reaches, with the chain of imports that leads to it."""
    chains = {start: [start]}
    todo = [start]
    for i in range(1, start.count(".") + 1):  # the packages `start` is in run first
        parent = ".".join(start.split(".")[:i])
        chains[parent] = [start, parent]
        todo.append(parent)
    while todo:
        module = todo.pop()
        for name in sorted(_imports(module)):
            if name not in chains:
                chains[name] = [*chains[module], name]
                if _file(name):
                    todo.append(name)
    return chains


def _forbidden(chains: dict[str, list[str]]) -> list[str]:
    return [" -> ".join(chain) for name, chain in sorted(chains.items())
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
            or name.startswith("dagster_")]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_parsing_merging_and_history_import_no_storage_and_no_dagster(module):
    assert _forbidden(_reached(module)) == []


def test_the_import_walk_sees_storage_and_dagster_where_they_are():
    assert any(chain.endswith("-> sqlalchemy") for chain in
               _forbidden(_reached("model_sync.catalog.store")))
    assert any(chain.endswith("-> dagster") for chain in
               _forbidden(_reached("model_sync.defs.metadata")))
    # A lazy import inside a function counts, and so does a package's __init__.
    assert "model_sync.catalog.migrations" in _reached("model_sync.catalog.store")
    assert "model_sync.catalog" in _reached("model_sync.catalog.contract")


def test_importing_every_source_and_the_pure_catalog_loads_no_storage_or_dagster():
    code = (f"import sys\nfor name in {PURE_MODULES!r}:\n    __import__(name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"('sqlalchemy', 'alembic', 'dagster') or m.startswith({FORBIDDEN!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "[]"
