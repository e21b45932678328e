"""The layers hold: field types and interfaces at the bottom, the domain packages on them, the
configuration (sections, snapshot, loader, checks, schema, settings) on top of those, and the
application — daemon, command line, web, and the modules that run a snapshot — over it all.

The import graph is read from the source with ``ast``, nothing imported. Every import counts,
also one inside a function or under ``TYPE_CHECKING``: two packages that need each other only
for type checking still cannot be read, tested or changed apart. A *unit* is one of oncall's
subpackages or top-level modules, except that a package's ``cli.py`` is its command group and
belongs to the command line (``oncall.cli`` registers it).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "oncall"

# Imports nothing above itself: what every other layer is built from.
BOTTOM = frozenset({
    "oncall.errors", "oncall.fields", "oncall.findings", "oncall.http_input", "oncall.instants",
    "oncall.interfaces", "oncall.numbers", "oncall.tickets",
})
# The units that run a loaded configuration; no other may import oncall.config.
CONFIG_READERS = frozenset({
    "oncall.config", "oncall.cli", "oncall.daemon", "oncall.web",
    "oncall.intake", "oncall.directory", "oncall.alerts",
})
# Package cycles still standing, each with what closes it. An entry that no longer matches a
# cycle fails too, so the list only shrinks.
KNOWN_CYCLES: Mapping[frozenset[str], str] = {
    frozenset({"oncall.escalation", "oncall.incidents"}):
        "escalation/runner.py saves states and the ledger through incidents/repo.py, whose "
        "Incident model holds the escalation state; incidents/service.py drives the engine",
    frozenset({"oncall.logs", "oncall.notify"}):
        "logs.py masks phone numbers with notify/privacy.py, and notify/console.py logs; "
        "masking belongs in the bottom layer",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or \
        (PACKAGE.parent / relative / "__init__.py").is_file()


def _imported(tree: ast.AST) -> Iterator[str]:
    """The oncall modules a module's source imports, wherever the import statement stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:  # ``from oncall import logs`` imports a module
                child = f"{node.module}.{alias.name}"
                yield child if _is_module(child) else node.module


def unit(module: str) -> str | None:
    """The layer unit of an oncall module; None for the root package itself."""
    parts = module.split(".")
    if parts[0] != "oncall" or len(parts) < 2:
        return None
    if parts[-1] == "cli":
        return "oncall.cli"
    return ".".join(parts[:2])


@cache
def module_imports() -> Mapping[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found[_module_name(path)] = frozenset(m for m in _imported(tree) if m.startswith("oncall."))
    return found


@cache
def unit_edges() -> Mapping[tuple[str, str], frozenset[str]]:
    """(importing unit, imported unit) → the ``module -> module`` imports that make the edge."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for module, targets in module_imports().items():
        for target in targets:
            a, b = unit(module), unit(target)
            if a is not None and b is not None and a != b:
                edges[a, b].add(f"{module} -> {target}")
    return {edge: frozenset(why) for edge, why in edges.items()}


def cycles() -> set[frozenset[str]]:
    """The strongly connected components of more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in unit_edges():
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _explain(component: frozenset[str]) -> str:
    return "\n".join(f"  {a} -> {b}: {', '.join(sorted(why))}"
                     for (a, b), why in sorted(unit_edges().items()) if a in component and b in component)


def test_the_import_graph_sees_imports_inside_functions_and_for_type_checking() -> None:
    """The walker is not vacuous: config reaches the section models only inside functions
    (sections.py) and under TYPE_CHECKING (snapshot.py)."""
    config_imports = {b for a, b in unit_edges() if a == "oncall.config"}
    assert {"oncall.desks", "oncall.entitlements", "oncall.rules", "oncall.schedules"} <= config_imports


def test_no_packages_import_each_other_in_a_cycle_but_the_known_ones() -> None:
    unexpected = cycles() - set(KNOWN_CYCLES)
    assert not unexpected, "import cycles between oncall's packages:\n" + "\n".join(
        f"{sorted(component)}:\n{_explain(component)}" for component in sorted(unexpected, key=sorted))


def test_every_known_cycle_is_still_a_cycle() -> None:
    """An entry of KNOWN_CYCLES whose cycle was broken (or grew) is removed or rewritten."""
    assert set() == set(KNOWN_CYCLES) - cycles()


def test_only_the_application_layer_imports_the_configuration() -> None:
    readers = {a: why for (a, b), why in unit_edges().items() if b == "oncall.config"}
    outside = {a: sorted(why) for a, why in readers.items() if a not in CONFIG_READERS}
    assert {} == outside


def test_the_bottom_layer_imports_only_the_bottom_layer() -> None:
    upward = {f"{module} -> {target}" for module, targets in module_imports().items() if module in BOTTOM
              for target in targets if unit(target) not in BOTTOM}
    assert set() == upward
