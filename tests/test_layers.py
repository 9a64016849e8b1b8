"""The package's imports run one way: no cycle, and nothing below the engine reaches up to it.

Every ``import`` and ``from ... import`` in every module of ``accelsim`` counts, those inside
functions included (a function-level import hides a cycle, it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "accelsim"
#: the pipeline's upper stages: what planning and the hardware model must never import
ABOVE_THE_PLANS = ("accelsim.engine", "accelsim.report", "accelsim.plots", "accelsim.cli", "accelsim.simulate",
                   "accelsim.sweep", "accelsim.reference")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Per module of the package, the package's modules it imports (anywhere in it)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    # a package's __init__ that re-exports its modules imports them; a module importing its
    # own package's __init__ is then a cycle in name only, so the edge module → its package is left out
    graph = {name: {target for target in targets if not name.startswith(target + ".")}
             for name, targets in import_graph().items()}
    assert _cycle(graph) is None


@pytest.mark.parametrize("layer", ["accelsim.arch", "accelsim.schedule"])
def test_the_hardware_and_the_plans_import_nothing_above_them(layer):
    reaching_up = {name: sorted(target for target in targets if target.startswith(ABOVE_THE_PLANS))
                   for name, targets in import_graph().items() if name.startswith(layer)}
    assert {name: targets for name, targets in reaching_up.items() if targets} == {}


def test_the_graph_reads_imports_inside_functions():
    """The graph holds the imports it must judge, those made in a function body among them."""
    graph = import_graph()
    assert "accelsim.arch.machine" in graph["accelsim.engine"]
    assert "accelsim.energy.table" in graph["accelsim.config"]  # imported inside a validator


def test_a_scheduler_made_without_a_timer_says_what_it_needs():
    from accelsim import DEFAULT_CONFIG, Layer
    from accelsim.schedule import LayerGates, get_scheduler
    from accelsim.trace import as_trace_layer
    import numpy as np

    layer = Layer.conv("g", 8, 8, 4, 3, 1, 1)
    decisions = np.ones((8, 4, 4), dtype=bool)
    gates = LayerGates(as_trace_layer(layer, 2), decisions, decisions[None])
    with pytest.raises(ValueError, match="timer=accelsim.engine.simulate"):
        get_scheduler("pixel-skip").plan(layer, DEFAULT_CONFIG, gates)
