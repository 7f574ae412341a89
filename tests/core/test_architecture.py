"""The package layout is the architecture: no import cycles, and layers import only downward.

Read from the `import` statements of src/obskit (docs/architecture.md draws the same
picture). A module may import its own layer or a lower one, never a higher one; a domain
never imports another domain. Imports anywhere in a module count, including those inside
functions: a function-local import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

DOMAINS = ("btree", "raft", "query", "pipeline", "runtime")

# Lowest first. `obskit._export._budget` holds plain numbers and a size estimate that the
# settings (`_config`) read for their defaults, so it sits at the bottom with the other leaves.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("obskit._log", "obskit._names", "obskit._scrub_rules", "obskit._scrub", "obskit._literals",
              "obskit._sanitize", "obskit._tree", "obskit._cardinality",
              "obskit._export", "obskit._export._budget")),
    ("settings", ("obskit._environment", "obskit._config")),
    ("export", ("obskit.exporters", "obskit._export.*")),
    ("core", (
        "obskit._providers", "obskit._instruments", "obskit._metrics", "obskit._catalogue",
        "obskit._context", "obskit._errors", "obskit._sampling", "obskit._recipe",
        "obskit._spans", "obskit._prepared", "obskit._wrappers", "obskit._traced",
        "obskit._timed", "obskit._cells", "obskit._hot_collect", "obskit._bound", "obskit._hot",
        "obskit._operation", "obskit._telemetry", "obskit._children", "obskit._setup",
        "obskit.propagation",
    )),
    ("domains", tuple(f"obskit.{d}{tail}" for d in DOMAINS for tail in ("", ".*"))),
    ("top", ("obskit", "obskit._alerts", "obskit._alert_docs", "obskit._dashboards", "obskit._grafana",
             "obskit._tail_sampling", "obskit._collector_tier",
             "obskit._recording", "obskit.report", "obskit._stats", "obskit._plot",
             "obskit._cli", "obskit._shipped", "obskit._promql",
             "obskit.testing", "obskit.testing.*")),
]  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((SRC / "obskit").rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The obskit modules that `name` imports (`from obskit import _x` counts as `obskit._x`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            found.update(sub for sub in submodules if sub in modules)
            if not all(sub in modules for sub in submodules):
                found.add(target)
    return {dep for dep in found if dep in modules and dep != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(name: str) -> int:
    for rank, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
                return rank
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")


def _domain(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_walk_sees_the_known_imports() -> None:
    graph = _graph()
    assert "obskit._export._queue" in graph["obskit._setup"]
    assert "obskit.btree._catalogue" in graph["obskit.btree._ops"]
    assert "obskit._config" in graph["obskit._setup"]  # `from obskit._config import ...`
    assert "obskit._providers" in graph["obskit._setup"]  # `from obskit import _providers`
    assert "obskit._setup" in graph["obskit"]


def test_no_import_cycles_between_obskit_modules() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_module_is_in_a_layer(name: str) -> None:
    assert 0 <= _layer(name) < len(LAYERS)


def test_layers_import_only_downward() -> None:
    upward = [
        f"{name} ({LAYERS[_layer(name)][0]}) imports {dep} ({LAYERS[_layer(dep)][0]})"
        for name, deps in sorted(_graph().items())
        for dep in sorted(deps)
        if _layer(dep) > _layer(name)
    ]
    assert upward == []


def test_domains_do_not_import_each_other() -> None:
    crossing = [
        f"{name} imports {dep}"
        for name, deps in sorted(_graph().items())
        if _domain(name) is not None
        for dep in sorted(deps)
        if _domain(dep) not in (None, _domain(name))
    ]
    assert crossing == []
