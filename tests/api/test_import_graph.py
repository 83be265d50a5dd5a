"""The api package's modules import one another without a cycle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"


def _module_name(path: Path) -> str:
    parts = path.relative_to(API.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(body: list[ast.stmt], modules: set[str]) -> set[str]:
    """The api modules a module imports at its top level, `if TYPE_CHECKING:` blocks included
    (a cycle that only type checkers follow is still a cycle to a reader)."""
    found: set[str] = set()
    for node in body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
        elif isinstance(node, ast.If | ast.Try):
            found |= _imported(node.body + node.orelse, modules)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each api module and the api modules it imports."""
    paths = {_module_name(path): path for path in API.rglob("*.py")}
    modules = set(paths)
    return {
        name: _imported(ast.parse(path.read_text(encoding="utf-8")).body, modules) - {name}
        for name, path in paths.items()
    }


def test_api_modules_import_without_a_cycle() -> None:
    graph = import_graph()
    assert {"api.auth", "api.deps", "api.live", "api.principal"} <= graph.keys()
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None


def test_the_graph_sees_imports_made_for_type_checkers_only() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api.auth import x\n"
    assert _imported(ast.parse(source).body, {"api.auth"}) == {"api.auth"}
