"""The import rule of docs/architecture.md, checked on the source: no cycles, nothing imports the
package's face, and the inference core never imports the heavy or the outer libraries."""

from __future__ import annotations

import ast
import inspect
from functools import cache
from pathlib import Path

import pytest

import propscope
from propscope import errors

PACKAGE = Path(propscope.__file__).resolve().parent
CORE = ("propscope.model", "propscope.analysis", "propscope.decoding", "propscope.text", "propscope.techniques")
KEPT_OUT_OF_CORE = {"torch", "transformers", "click", "fastapi", "ray"}


def _module_name(path: Path) -> str:
    parts = ("propscope", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str) -> list[tuple[str, bool]]:
    """What ``module`` imports, at any depth: (a propscope module or an outside package's top
    name, whether the import runs at import time rather than inside a function)."""
    path = _modules()[module]
    return _imports_in(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")


def _imports_in(source: str, module: str, *, is_package: bool) -> list[tuple[str, bool]]:
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = at_import and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((_resolved(alias.name), at_import) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in child.names:
                    # `from propscope import text` imports the module propscope.text, not the face.
                    name = f"{base}.{alias.name}"
                    found.append((name if name in _modules() else _resolved(base), at_import))
            visit(child, inside)

    visit(tree, True)
    return found


def _resolved(name: str) -> str:
    """The propscope module an ``import a.b.c`` loads, or the outside package's top name."""
    if name.split(".")[0] != "propscope":
        return name.split(".")[0]
    while name not in _modules():
        name = name.rpartition(".")[0]
    return name


def _graph() -> dict[str, set[str]]:
    """Every import among the modules, at import time or inside a function."""
    return {module: {target for target, _ in _imports(module) if target in _modules() and target != module}
            for module in _modules()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as its path (first module repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_import_graph_has_no_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_reports_the_cycle_s_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_result_type_renders_nothing() -> None:
    assert not [target for target, _ in _imports("propscope.analysis") if target.startswith("propscope.reports")]


def test_nothing_imports_the_package_face() -> None:
    importers = [module for module in _modules() if module != "propscope"
                 and any(target == "propscope" for target, _ in _imports(module))]
    assert importers == []


@pytest.mark.parametrize("module", CORE)
def test_core_never_imports_torch_click_or_servers(module: str) -> None:
    seen, todo = {module}, [module]
    while todo:
        current = todo.pop()
        for target, _ in _imports(current):
            assert target not in KEPT_OUT_OF_CORE, f"{module} imports {target} (through {current})"
            if target in _modules() and target not in seen:
                seen.add(target)
                todo.append(target)


def test_import_parser_sees_every_kind_of_import() -> None:
    source = """
import torch.nn
import propscope.reports.html
from propscope import __version__, text
from . import words
from ..model import Analyzer
if TYPE_CHECKING:
    from propscope.store import Library
class Shown:
    def show(self) -> None:
        from propscope.reports import terminal
"""
    assert _imports_in(source, "propscope.reports.markdown", is_package=False) == [
        ("torch", True), ("propscope.reports.html", True), ("propscope", True), ("propscope.text", True),
        ("propscope.reports.words", True), ("propscope.model", True), ("propscope.store", True),
        ("propscope.reports.terminal", False),
    ]


def test_every_error_is_exported() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, errors.PropscopeError) and obj.__module__ == errors.__name__]
    assert len(classes) > 5
    for cls in classes:
        assert cls.__name__ in propscope.__all__, cls.__name__
        assert getattr(propscope, cls.__name__) is cls
