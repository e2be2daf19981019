"""The layers of maskviz: every import points down, and no import closes a circle.

Every module's imports are read with ``ast``: module-level and function-level ones alike (an import
inside a function still makes the two modules depend on each other), names served lazily by a
package (``lazy_exports`` tables) counted as imports of the module that defines them, imports under
``if TYPE_CHECKING:`` left out (they never run). Layers, top to bottom; a module may import its own
layer and the layers below, never one above, and no set of modules may import each other in a circle.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import maskviz

ROOT = Path(maskviz.__file__).parent

#: Top to bottom. A module belongs to the most specific prefix that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry", ("maskviz.launch", "maskviz.__main__")),  # routes to the app or a subcommand
    ("gui", ("maskviz.gui",)),
    ("cli", ("maskviz.cli", "maskviz.compare_cli", "maskviz.explain_cli", "maskviz.cli_inputs", "maskviz.app_args",
             "maskviz.doctor")),
    # The features the CLI and the GUI offer; maskviz/__init__ is the public API's lazy facade over them.
    ("features", ("maskviz", "maskviz.compare", "maskviz.compare_export", "maskviz.export", "maskviz.explain",
                  "maskviz.train", "maskviz.zoo", "maskviz.model_choices")),
    ("checkpoints", ("maskviz.checkpoints",)),
    ("sources", ("maskviz.sources", "maskviz.zoo.catalogue", "maskviz.model_names")),
    ("compute", ("maskviz.reconstruct", "maskviz.baselines", "maskviz.sweep", "maskviz.whole")),
    ("models/masks/figures", ("maskviz.models", "maskviz.masks", "maskviz.figures", "maskviz.images",
                              "maskviz.painting", "maskviz.device")),
    ("errors/paths", ("maskviz.errors", "maskviz.paths", "maskviz.fileio", "maskviz.lazy", "maskviz.bundled",
                      "maskviz.progress")),
]

#: Imports that break the rules today, each with the workstream that removes it.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "resources" not in p.parts}


def lazy_tables() -> dict[str, dict[str, str]]:
    """Package → {name: defining module} for packages that serve names through ``lazy_exports``."""
    tables = {}
    for name, path in MODULES.items():
        if path.name == "__init__.py" and "lazy_exports(" in path.read_text(encoding="utf-8"):
            tables[name] = dict(importlib.import_module(name)._WHERE)
    return tables


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, lazy: dict[str, dict[str, str]]) -> set[str]:
    """The maskviz modules ``name`` imports (at any depth of its code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = _type_checking_lines(tree)
    found: set[str] = set(lazy.get(name, {}).values())  # a lazy package imports what it serves
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in MODULES:
                    found.add(target)
                elif alias.name in lazy.get(base, {}):
                    found.add(lazy[base][alias.name])
                elif base in lazy and base == "maskviz":
                    continue  # an eager name of the facade (__version__, MaskvizError): defined in errors
                else:
                    found.add(base)
    return {m for m in found if m in MODULES and m != name}


def import_graph() -> dict[str, set[str]]:
    lazy = lazy_tables()
    return {name: imports_of(name, path, lazy) for name, path in MODULES.items()}


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def without_exceptions(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {d for d in deps if (m, d) not in KNOWN_EXCEPTIONS} for m, deps in graph.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
            for m, deps in sorted(graph.items()) for d in sorted(deps) if layer_of(d) < layer_of(m)]


# ----------------------------------------------------------------------------------------- tests


def test_every_module_has_a_layer():
    assert len(MODULES) > 60
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_no_import_circles():
    assert cycles(without_exceptions(import_graph())) == []


def test_no_layer_imports_a_higher_one():
    assert upward_imports(without_exceptions(import_graph())) == []


def test_known_exceptions_still_exist():
    """An exception whose import is gone must be deleted here (so the rule covers it again)."""
    graph = import_graph()
    assert [edge for edge in KNOWN_EXCEPTIONS if edge[1] not in graph.get(edge[0], set())] == []


def test_the_checks_see_function_level_imports_and_circles():
    """The reader finds an import inside a function, resolves lazy names, and the checks fail on
    a planted circle and a planted upward import."""
    graph = import_graph()
    assert "maskviz.gui.app" in graph["maskviz.launch"]  # `from maskviz.gui.app import run_app` inside launch_gui
    assert "maskviz.models.registry" in graph["maskviz.checkpoints"]  # create_model, module level
    planted = {m: set(deps) for m, deps in graph.items()}
    planted["maskviz.masks"].add("maskviz.checkpoints")  # lower imports higher, and closes a circle
    assert any("maskviz.masks" in c and "maskviz.checkpoints" in c for c in cycles(planted))
    assert "maskviz.masks (models/masks/figures) imports maskviz.checkpoints (checkpoints)" in upward_imports(planted)
