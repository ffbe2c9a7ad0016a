"""The package's architecture holds: no import cycle, and the pure-Python layers need no TensorFlow."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "enas_tf2"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every enas_tf2 module -> the enas_tf2 modules it imports (at any depth of its code)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("enas_tf2"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    imported.add(candidate if candidate in modules else node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("enas_tf2"))
        # A package's own __init__ is what `from enas_tf2.x import y` runs first; a module may use its package.
        graph[name] = {m for m in imported if m in modules and m != name and not name.startswith(m + ".")}
    return graph


def test_no_module_imports_another_that_imports_it_back():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dependency in sorted(graph[module]):
            if state.get(dependency) == 1:
                cycles.append(path[path.index(dependency):] + [dependency] if dependency in path else [module, dependency])
            elif dependency not in state:
                visit(dependency, path + [dependency])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert "enas_tf2.run" in graph["enas_tf2.programs"]
    assert "enas_tf2.tasks.image_classification" in graph["enas_tf2.export"]
    assert "enas_tf2.cifar10_main" not in graph["enas_tf2.export"]
    assert not any(module.startswith("enas_tf2.distribute") for module in graph["enas_tf2.layers.batch_norm"])


def test_encodings_registries_and_configs_import_no_tensorflow():
    code = ("import sys, enas_tf2.arch, enas_tf2.registry, enas_tf2.configs.image, enas_tf2.configs.language_model; "
            "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
