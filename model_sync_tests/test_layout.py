"""The layout holds: a core free of Dagster (sources, http, catalog, the ingest path), sources and
HTTP free of SQL and storage, and no product module a newcomer cannot read in one sitting."""

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "model_sync"
CORE = ("sources", "http", "catalog", "ingest")
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*folders: str) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                found.append(module_name(path))
    return found


def source_of(module: str) -> Path:
    path = PACKAGE.parent / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@cache
def direct_imports(module: str) -> frozenset[str]:
    """Every module a module imports, at any depth of its code (function-level imports too)."""
    tree = ast.parse(source_of(module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def reachable(module: str) -> set[str]:
    """The modules a module reaches through model_sync's own imports (and the outside ones)."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in direct_imports(current):
            if name.startswith("model_sync") and source_of(name).is_file():
                todo.append(name)
            elif not name.startswith("model_sync"):
                seen.add(name)
    return seen


def offending(module: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in reachable(module)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("module", modules(*CORE))
def test_the_core_imports_neither_dagster_nor_the_dagster_layer(module):
    assert offending(module, ("dagster", "model_sync.defs", "model_sync.definitions",
                              "model_sync.sync", "model_sync.cli")) == []


@pytest.mark.parametrize("module", modules("sources", "http"))
def test_sources_and_http_know_neither_sql_nor_storage(module):
    assert offending(module, ("sqlalchemy", "model_sync.catalog.store",
                              "model_sync.catalog.schema", "model_sync.catalog.upsert",
                              "model_sync.catalog.migrations")) == []


@pytest.mark.parametrize("module", modules("http"))
def test_http_knows_no_source(module):
    assert offending(module, ("model_sync.sources", "model_sync.catalog")) == []


def test_no_product_module_is_over_300_lines():
    long = {module_name(path): lines for path in sorted(PACKAGE.rglob("*.py"))
            if "migrations" not in path.parts
            and (lines := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
