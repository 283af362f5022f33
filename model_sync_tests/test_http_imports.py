"""The HTTP layer stands alone: no module under model_sync/http/ imports a source, the catalog,
the Dagster objects, Dagster or SQLAlchemy, and importing it loads none of them through another
model_sync module either."""

import ast
from pathlib import Path

import pytest

import model_sync

PACKAGE = Path(model_sync.__file__).resolve().parent
HTTP = PACKAGE / "http"
FORBIDDEN = ("model_sync.sources", "model_sync.catalog", "model_sync.defs", "dagster",
             "sqlalchemy")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def nodes(tree: ast.AST, in_functions: bool):
    """The nodes of a tree; without `in_functions`, only those that run when it is imported."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if in_functions or not
                     isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def imports(source: str, module: str, is_package: bool = False, *,
            in_functions: bool = True) -> set[str]:
    """The modules a module's code imports (by default also inside its functions), with
    relative imports resolved and `from package import name` counted as `package.name` too."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in nodes(ast.parse(source), in_functions):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def source_file(module: str) -> Path | None:
    """The file of a model_sync module, None for anything else (or a name that is no module)."""
    if module != "model_sync" and not module.startswith("model_sync."):
        return None
    path = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def reachable_imports(start: list[Path]) -> dict[str, set[str]]:
    """Every import of the given modules, and what the model_sync modules they reach import
    when they are loaded (not what their functions import when called)."""
    seen: dict[str, set[str]] = {}
    todo = list(start)
    while todo:
        path = todo.pop()
        name = module_name(path)
        if name in seen:
            continue
        seen[name] = imports(path.read_text(), name, path.name == "__init__.py",
                             in_functions=path in start)
        for imported in seen[name]:
            # `import model_sync.x.y` runs model_sync/__init__ and model_sync/x/__init__ too.
            parts = imported.split(".")
            for end in range(1, len(parts) + 1):
                found = source_file(".".join(parts[:end]))
                if found is not None and module_name(found) not in seen:
                    todo.append(found)
    return seen


def forbidden(names: set[str]) -> set[str]:
    return {n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}


def test_every_http_module_imports_nothing_forbidden():
    modules = sorted(HTTP.glob("*.py"))
    assert {p.stem for p in modules} >= {"__init__", "client", "paging", "body", "credentials",
                                          "replay"}
    reached = reachable_imports(modules)
    assert {module_name(p) for p in modules} <= set(reached)
    assert "model_sync.redact" in reached  # followed beyond model_sync/http/
    offending = {name: sorted(forbidden(found)) for name, found in reached.items()
                 if forbidden(found)}
    assert offending == {}


@pytest.mark.parametrize(("code", "module", "caught"), [
    ("from model_sync.sources.base import ParseError", "model_sync.http.x",
     "model_sync.sources.base"),
    ("import dagster as dg", "model_sync.http.x", "dagster"),
    ("def f():\n    import sqlalchemy.orm\n", "model_sync.http.x", "sqlalchemy.orm"),
    ("try:\n    import dagster\nexcept ImportError:\n    pass\n", "model_sync.http.x",
     "dagster"),
    ("from ..catalog import store", "model_sync.http.x", "model_sync.catalog"),
    ("from .. import defs", "model_sync.http.x", "model_sync.defs"),
])
def test_the_check_catches_each_kind_of_import(code, module, caught):
    assert caught in forbidden(imports(code, module))


def test_the_check_follows_model_sync_modules_outside_http():
    # The sources import the catalog (payload.py: its money), the store imports SQLAlchemy (through
    # schema.py): reaching either from http would be caught.
    reached = reachable_imports([PACKAGE / "sources" / "base.py", PACKAGE / "catalog" / "store.py"])
    assert forbidden(reached["model_sync.sources.payload"]) >= {"model_sync.catalog.money"}
    assert "model_sync.http.paging" in reached  # sources build on the HTTP layer, not back
    assert forbidden(reached["model_sync.catalog.money"]) == set()
    assert "sqlalchemy" in forbidden(reached["model_sync.catalog.schema"])
