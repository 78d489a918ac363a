"""The shape of the code base: no import circle, short files, short functions, a public API.

Imports are read from the source (``ast``), lazy imports inside functions included, so a
circle that only bites at run time in some order is still caught. ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module, else of ``pkg``; blocks under
``if TYPE_CHECKING:`` are skipped (they never run).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("sugar_core", "sugar_cli")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle():
    circle = _cycle(_graph())
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_core_never_imports_the_cli_or_a_console():
    for name, deps in _graph().items():
        if name.startswith("sugar_core"):
            assert not any(d.startswith("sugar_cli") for d in deps), name
    for path in (REPO / "sugar_core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import click" not in text and "from rich" not in text, path


def test_stores_never_import_training():
    graph = _graph()
    for name, deps in graph.items():
        if name.rpartition(".")[2] in ("store", "config"):
            bad = [d for d in deps if d.rpartition(".")[2] in ("training", "protocol")]
            assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_no_file_over_the_limit(pkg):
    long = {
        str(p.relative_to(REPO)): n
        for p in (REPO / pkg).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_no_function_over_the_limit(pkg):
    long = {}
    for path in (REPO / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_public_api_resolves():
    import sugar_core

    for name in sugar_core.__all__:  # each name is the object of the module the table names
        module = importlib.import_module(sugar_core._API.get(name, "sugar_core"))
        assert getattr(sugar_core, name) is getattr(module, name), name
    # what static analysers see (the TYPE_CHECKING imports) is the same table, module for module
    tree = ast.parse((REPO / "sugar_core" / "__init__.py").read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    seen = {
        a.name: n.module for n in ast.walk(block) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    assert seen == {k: v for k, v in sugar_core._API.items() if k in seen}
    assert set(seen) == set(sugar_core._API)
    with pytest.raises(AttributeError):
        _ = sugar_core.no_such_name


def test_every_module_imports():
    for name in _modules():
        if not name.endswith("__main__"):
            importlib.import_module(name)


def test_public_api_lists_every_name_once():
    import sugar_core

    assert set(sugar_core.__all__) == set(sugar_core._API) | {"__version__"}
    assert len(sugar_core.__all__) == len(set(sugar_core.__all__))
    here = Path(sugar_core.__file__).parent
    for name in sugar_core._API:  # a submodule of the same name would shadow the function
        assert not (here / name / "__init__.py").exists() and not (here / f"{name}.py").exists()
