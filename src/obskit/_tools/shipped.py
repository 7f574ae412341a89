"""The Prometheus rule files and Grafana dashboards obskit ships, and the commands that
hand them out (`obskit rules`, `obskit dashboards`).

The files are generated from the domains' panels and alerts into examples/stack/
(`python -m obskit._tools.dashboards`, a maintainer's tool) and the wheel carries them as
package data under `obskit/_stack/` (pyproject.toml, `force-include`), so a plain
`pip install obskit` hands them out with no generator and no extra dependency. In a
source checkout (an editable install) they are read from examples/stack/ directly.

Examples:
    >>> sorted(rule_files())
    ['obskit-alerts.yml', 'obskit-recording.yml']
    >>> "raft" in dashboards()
    True
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11 on

__all__ = ["combined_rules", "configure_dashboards", "configure_rules", "dashboards",
           "rule_files"]  # fmt: skip

#: Where the files are inside the package, and where in a source checkout.
_PACKAGED: Final = {"rules": "_stack/rules", "dashboards": "_stack/dashboards"}
_CHECKOUT: Final = {"rules": "examples/stack/prometheus/rules",
                    "dashboards": "examples/stack/grafana/dashboards"}  # fmt: skip
_DATASOURCE_UID: Final = "obskit-prometheus"  # obskit._domain.dashboards.PROMETHEUS_UID


class MissingFiles(RuntimeError):
    """The shipped files are not where the package keeps them (a broken install)."""


def _folder(kind: str) -> Traversable:
    packaged = resources.files("obskit").joinpath(_PACKAGED[kind])
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / _CHECKOUT[kind]
    if checkout.is_dir():
        return checkout
    raise MissingFiles(f"obskit's {kind} are missing from the installed package "
                       f"(expected obskit/{_PACKAGED[kind]}/): reinstall obskit")  # fmt: skip


def rule_files() -> dict[str, str]:
    """The Prometheus rule files by file name (alert rules, recording rules).

    Examples:
        >>> "alert: ObskitSpansDropped" in rule_files()["obskit-alerts.yml"]
        True
    """
    folder = _folder("rules")
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".yml")
    }


def dashboards() -> dict[str, str]:
    """The Grafana dashboards (JSON text) by domain, e.g. "raft".

    Examples:
        >>> import json
        >>> json.loads(dashboards()["raft"])["uid"]
        'obskit-raft'
    """
    folder = _folder("dashboards")
    return {
        entry.name.removeprefix("obskit-").removesuffix(".json"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.startswith("obskit-") and entry.name.endswith(".json")
    }


def combined_rules() -> str:
    """Every rule group of the shipped rule files as one Prometheus rule file.

    The generated files are `groups:` followed by the groups as a block list at column 0,
    so their group lines concatenate into one valid list (a test loads the result and runs
    `promtool check rules` on it).

    Examples:
        >>> text = combined_rules()
        >>> text.count("\\ngroups:\\n"), "record: " in text, "alert: " in text
        (1, True, True)
    """
    groups = []
    for name, text in rule_files().items():
        lines = text.splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "groups:")
        groups.append(f"# from {name}\n" + "".join(lines[start + 1 :]))
    header = "# obskit's Prometheus alert and recording rules (`obskit rules`). Do not edit.\n"
    return header + "groups:\n" + "".join(groups)


def _with_datasource(text: str, uid: str) -> str:
    if uid == _DATASOURCE_UID:
        return text

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("type") == "prometheus" and node.get("uid") == _DATASOURCE_UID:
                return {**node, "uid": uid}
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(item) for item in node]
        return node

    return json.dumps(swap(json.loads(text)), indent=2) + "\n"


def _write(folder: str, files: dict[str, str]) -> None:
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
        print(f"wrote {target / name}")


_RULES_EPILOG = """\
examples:
  obskit rules > obskit-rules.yml            every group in one rule file
  obskit rules -o /etc/prometheus/rules/     obskit-alerts.yml and obskit-recording.yml
  promtool check rules obskit-rules.yml

Point Prometheus' rule_files at them (e.g. rule_files: [rules/*.yml]). The alerts and
their thresholds are documented on each domain's page (docs/backends.md lists them all).
"""


def configure_rules(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """`obskit rules`: the arguments, and the function that runs it."""
    parser.description = textwrap.fill("Print obskit's Prometheus alert and recording rules as one rule "
                          "file, or write them into a directory.", 88)  # fmt: skip
    parser.epilog = _RULES_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="write obskit-alerts.yml and obskit-recording.yml into DIR "
                        "(created if missing) instead of printing")  # fmt: skip

    def run(arguments: argparse.Namespace) -> int:
        if arguments.output:
            _write(arguments.output, rule_files())
        else:
            sys.stdout.write(combined_rules())
        return 0

    return run


_DASHBOARDS_EPILOG = """\
examples:
  obskit dashboards raft > obskit-raft.json       one dashboard, to import in Grafana
  obskit dashboards -o /var/lib/grafana/dashboards/
  obskit dashboards -o boards/ --datasource my-prometheus btree query

Every panel queries a Prometheus datasource with uid "obskit-prometheus" (the example
stack provisions it); --datasource UID points the panels at yours instead.
"""


def configure_dashboards(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """`obskit dashboards`: the arguments, and the function that runs it."""
    parser.description = textwrap.fill("Print one of obskit's Grafana dashboards (JSON), or write them "
                          "into a directory: one per domain, each with obskit's self-health "
                          "and process runtime rows, and collector-tier, the fleet's "
                          "collectors (docs/fleet.md).", 88)  # fmt: skip
    parser.epilog = _DASHBOARDS_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="btree, raft, query, pipeline or collector-tier (default with -o: all)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="write obskit-NAME.json files into DIR (created if missing)",
    )
    parser.add_argument("--datasource", metavar="UID", default=_DATASOURCE_UID,
                        help="the uid of your Prometheus datasource in Grafana (default "
                        f"{_DATASOURCE_UID})")  # fmt: skip

    def run(arguments: argparse.Namespace) -> int:
        boards = dashboards()
        unknown = [name for name in arguments.names if name not in boards]
        if unknown:
            return _refuse(arguments, f"no dashboard named {', '.join(unknown)} "
                                      f"(choose from {', '.join(boards)})")  # fmt: skip
        names = arguments.names or (list(boards) if arguments.output else [])
        if arguments.output:
            _write(arguments.output, {f"obskit-{name}.json": _with_datasource(
                boards[name], arguments.datasource) for name in names})  # fmt: skip
            return 0
        if len(names) != 1:
            return _refuse(arguments, "name one dashboard to print "
                           f"({', '.join(boards)}), or give -o DIR to write them all")  # fmt: skip
        sys.stdout.write(_with_datasource(boards[names[0]], arguments.datasource))
        return 0

    return run


def _refuse(arguments: argparse.Namespace, message: str) -> int:
    print(f"{getattr(arguments, 'program', 'obskit')}: error: {message}", file=sys.stderr)
    return 2
