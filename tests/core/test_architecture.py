"""The package layout is the architecture: no import cycles, and layers import only downward.

Read from the `import` statements of src/obskit (docs/architecture.md draws the same
picture). A module may import its own layer or a lower one, never a higher one; a domain
never imports another domain. Imports anywhere in a module count, including those inside
functions: a function-local import is still a dependency.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

DOMAINS = ("btree", "raft", "query", "pipeline", "runtime")

# Lowest first; a module's layer is the first entry naming its package (or itself). The
# same order as docs/architecture.md and the tree in its "Where is X?" table.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("obskit._base",)),
    ("safety", ("obskit._safety",)),
    ("settings", ("obskit._config",)),
    ("export", ("obskit._export", "obskit.exporters")),
    ("routing", ("obskit._routing",)),
    ("metrics", ("obskit._metrics",)),
    ("trace", ("obskit._trace", "obskit.propagation")),
    ("domain engine", ("obskit._domain",)),
    ("runtime", ("obskit._runtime",)),
    ("setup", ("obskit._setup",)),
    ("domains", tuple(f"obskit.{domain}" for domain in DOMAINS)),
    ("top", ("obskit", "obskit.testing", "obskit.report", "obskit._tools")),
]
#: Where `importlib.import_module` of an obskit module is allowed (rule 3 of the layout):
#: the package's lazy domain attributes, the testing plugin's lazy names and build-time tools.
IMPORTLIB_ALLOWED = ("obskit", "obskit.testing", "obskit._tools")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((SRC / "obskit").rglob("*.py"))}


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _calls_importlib(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Attribute) and node.attr == "import_module" for node in ast.walk(tree)
    )


def _dynamic_targets(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """What a module that calls `importlib.import_module` may import: every string literal
    naming an obskit module, and for an f-string `f"obskit.{x}"` every module one level
    below its constant prefix."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in modules
            and node.value != "obskit"
        ):
            found.add(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and str(head.value).startswith("obskit."):
                prefix = str(head.value)
                depth = prefix.count(".")
                found.update(
                    name for name in modules if name.startswith(prefix) and name.count(".") == depth
                )
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The obskit modules that `name` imports (`from obskit import _x` counts as `obskit._x`),
    `importlib.import_module` included."""
    package = _package(name, path)
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, package)
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            found.update(sub for sub in submodules if sub in modules)
            if not all(sub in modules for sub in submodules):
                found.add(target)
    if _calls_importlib(tree):
        found |= _dynamic_targets(tree, modules)
    return {dep for dep in found if dep in modules and dep != name}


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _private_imports(name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """`from X import _y` where `_y` is a private name (not a module) of another package."""
    package = _package(name, path)
    crossing = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = _absolute(node, package)
        if not target.startswith("obskit") or target not in modules:
            continue
        home = _package(target, modules[target])
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and f"{target}.{alias.name}" not in modules and home != package:
                crossing.append(f"{name} imports {target}.{alias.name}")
    return crossing


def _layer(name: str) -> int:
    """The rank of the most specific LAYERS entry that is `name` or a package above it."""
    best, rank = -1, -1
    for index, (_, packages) in enumerate(LAYERS):
        for package in packages:
            if (name == package or name.startswith(package + ".")) and len(package) > best:
                best, rank = len(package), index
    if rank < 0:
        raise AssertionError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")
    return rank


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
    assert "obskit._export.queue" in graph["obskit._setup.configure"]
    assert "obskit.btree._names" in graph["obskit.btree._operation"]
    assert "obskit._config" in graph["obskit._setup.configure"]  # `from obskit._config import`
    assert "obskit._routing" in graph["obskit._setup.configure"]  # `from obskit import _routing`
    assert "obskit._setup.configure" in graph["obskit"]
    # importlib.import_module: a literal name, and an f-string's modules one level down.
    assert "obskit.raft" in graph["obskit"]
    assert "obskit.btree" in graph["obskit._tools.recording"]


def test_importlib_imports_are_seen(tmp_path: Path) -> None:
    source = (
        "import importlib\n"
        "def load(name):\n"
        "    importlib.import_module('obskit.raft')\n"
        "    return importlib.import_module(f'obskit.{name}')\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = {**_modules(), "obskit._base.probe": path}
    found = _imports("obskit._base.probe", path, modules)
    assert {"obskit.raft", "obskit.btree", "obskit.query", "obskit.pipeline"} <= found
    assert _layer("obskit.raft") > _layer("obskit._base.probe")  # so it would fail the layers


def test_importlib_only_where_the_layout_allows_it() -> None:
    modules = _modules()
    using = [
        name
        for name, path in modules.items()
        if _calls_importlib(ast.parse(path.read_text()))
        and _dynamic_targets(ast.parse(path.read_text()), modules)
        and not any(
            name == allowed or name.startswith(allowed + ".") for allowed in IMPORTLIB_ALLOWED
        )
    ]
    assert using == []


def test_no_private_name_is_imported_across_packages() -> None:
    modules = _modules()
    crossing = [
        line
        for name, path in sorted(modules.items())
        for line in _private_imports(name, path, modules)
    ]
    assert crossing == []


def test_a_private_import_across_packages_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        "from obskit._metrics.hot import _CURRENT\nfrom obskit._base.log import log_once\n"
    )
    modules = {**_modules(), "obskit.btree._probe": path}
    assert _private_imports("obskit.btree._probe", path, modules) == [
        "obskit.btree._probe imports obskit._metrics.hot._CURRENT"
    ]


#: The Python the snapshot was taken with: `inspect` renders some signatures (enums, typing
#: aliases) differently on other versions, so there only the names are compared.
SNAPSHOT_PYTHON = (3, 11)


def test_public_names_are_unchanged() -> None:
    """Every public module's `__all__`, with signatures and class members, as snapshotted in
    tests/core/public_api.json (regenerate it only for a deliberate API change)."""
    expected = json.loads((Path(__file__).parent / "public_api.json").read_text())
    found = _public_api()
    if sys.version_info[:2] != SNAPSHOT_PYTHON:
        found = {module: dict.fromkeys(names) for module, names in found.items()}
        expected = {module: dict.fromkeys(names) for module, names in expected.items()}
    assert found == expected


def _public_api() -> dict[str, dict[str, dict[str, Any]]]:
    import obskit

    names = ["obskit"] + [
        info.name
        for info in pkgutil.walk_packages(obskit.__path__, "obskit.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return {
        name: {
            attribute: _describe(getattr(module, attribute))
            for attribute in sorted(getattr(module, "__all__", []))
        }
        for name in sorted(names)
        for module in [importlib.import_module(name)]
    }


_DUNDERS = ("__call__", "__enter__", "__exit__", "__aenter__", "__aexit__")


def _describe(value: object) -> dict[str, Any]:
    try:
        signature = re.sub(r" at 0x[0-9a-f]+", "", str(inspect.signature(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        signature = "?"
    if inspect.isclass(value):
        members = sorted(n for n in vars(value) if not n.startswith("_") or n in _DUNDERS)
        return {"kind": "class", "members": members, "signature": signature}
    if callable(value):
        return {"kind": "callable", "signature": signature}
    return {"kind": type(value).__name__}


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
