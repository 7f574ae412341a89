"""The `obskit` command: operator tools from the installed package alone.

    obskit report BASELINE CANDIDATE    compare benchmark runs (obskit.report)
    obskit rules                        the Prometheus alert and recording rules
    obskit dashboards NAME              the Grafana dashboards
    obskit catalogue                    every span, attribute and metric obskit emits
    obskit tail-sampling                the fleet's tail-sampling policy (docs/fleet.md)

Each subcommand is one line of `COMMANDS`: its name, a one-line summary, and where its
`configure(parser)` function lives ("module:function"). That function adds the
subcommand's arguments, description and examples to the parser it is given and returns
the function that runs it (`run(arguments) -> exit code`). The module is imported only
when its subcommand is used or asked for help, and `import obskit` never imports this one.

Examples:
    >>> main(["catalogue", "--format", "json", "runtime"])  # doctest: +ELLIPSIS
    [...
    0
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, Final

__all__ = ["COMMANDS", "configure_catalogue", "main"]

Run = Callable[[argparse.Namespace], int]

#: name -> (one-line summary, "module:configure function"). A new subcommand is one line.
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "report": ("compare benchmark runs: mean, spread, significance and a verdict per figure",
               "obskit.report:_configure"),
    "rules": ("print or write the Prometheus alert and recording rules",
              "obskit._tools.shipped:configure_rules"),
    "dashboards": ("print or write the Grafana dashboards, one per domain",
                   "obskit._tools.shipped:configure_dashboards"),
    "catalogue": ("list every span, attribute and metric obskit emits (Markdown or JSON)",
                  "obskit._tools.cli:configure_catalogue"),
    "tail-sampling": ("print the tail-sampling policy of a collector tier's gateways",
                      "obskit._tools.tail_sampling:configure"),
}  # fmt: skip

_EPILOG = """\
examples:
  obskit report runs/main/ runs/branch/ --max-regression 10%
  obskit rules -o /etc/prometheus/rules/
  obskit dashboards raft > obskit-raft.json
  obskit catalogue --format json raft
  obskit tail-sampling --ratio 0.05 -o tail-sampling.yaml

`obskit COMMAND --help` shows a command's options and examples.
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    """Examples kept as written; the command list wide enough for "dashboards"."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=24)


def _configure_function(target: str) -> Callable[[argparse.ArgumentParser], Run]:
    module, _, function = target.partition(":")
    found: Callable[[argparse.ArgumentParser], Run] = getattr(
        importlib.import_module(module), function
    )
    return found


def _parser(chosen: str | None) -> tuple[argparse.ArgumentParser, dict[str, Run]]:
    """The top-level parser; only the chosen subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="obskit",
        description=textwrap.fill(
            "obskit's operator tools: compare benchmark runs, and hand out the Prometheus "
            "rules, Grafana dashboards, catalogue and tail-sampling policy of the installed "
            "version.",
            88,
        ),
        epilog=_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"obskit {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    runners: dict[str, Run] = {}
    for name, (summary, target) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            runners[name] = _configure_function(target)(sub)
    return parser, runners


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("obskit")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `obskit` command with `argv` (default: the process's); return the exit code.

    Examples:
        >>> main(["dashboards", "no-such-board"])
        2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    chosen = next((arg for arg in args if not arg.startswith("-")), None)
    parser, runners = _parser(chosen if chosen in COMMANDS else None)
    try:
        arguments = parser.parse_args(args)
        if arguments.command is None:
            parser.print_help()
            return 2
        arguments.program = f"obskit {arguments.command}"
        return runners[arguments.command](arguments)
    except SystemExit as exit_:  # argparse's --help and usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    except BrokenPipeError:  # `obskit rules | head`: the reader left, nothing to say
        sys.stderr.close()
        return 0
    except OSError as exc:  # e.g. -o into a folder that cannot be written
        print(f"obskit: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # _shipped.MissingFiles: a broken install
        print(f"obskit: {exc}", file=sys.stderr)
        return 2


_CATALOGUE_EPILOG = """\
examples:
  obskit catalogue > catalogue.md              the catalogue page of the documentation
  obskit catalogue --format json raft query    two domains, as data for other tools
"""


def _catalogue_data(catalogue: Any) -> dict[str, Any]:
    return {
        "domain": catalogue.domain,
        "title": catalogue.title,
        "scope": catalogue.scope,
        "spans": [{"name": s.name, "kind": s.kind.name, "attributes": list(s.attributes),
                   "events": list(s.events), "description": s.description}
                  for s in catalogue.spans],
        "events": [{"name": e.name, "attributes": list(e.attributes),
                    "description": e.description} for e in catalogue.events],
        "attributes": [{"key": a.key, "type": a.type, "example": a.example, "source": a.source,
                        "description": a.description} for a in catalogue.attributes],
        "metrics": [{"name": i.name, "instrument": i.kind, "unit": i.unit,
                     "attributes": list(i.attributes), "prometheus": i.prometheus_name,
                     "description": i.description} for i in catalogue.instruments],
    }  # fmt: skip


def configure_catalogue(parser: argparse.ArgumentParser) -> Run:
    """`obskit catalogue`: the arguments, and the function that runs it."""
    parser.description = textwrap.fill("Print every span, event, attribute and metric obskit emits, by "
                          "domain: the Markdown of the documentation's catalogue page, or "
                          "JSON.", 88)  # fmt: skip
    parser.epilog = _CATALOGUE_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "domains",
        nargs="*",
        metavar="DOMAIN",
        help="only these domains (core, btree, raft, query, pipeline, runtime)",
    )
    parser.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="markdown (default) or json",
    )

    def run(arguments: argparse.Namespace) -> int:
        from obskit._tools import catalogue as _catalogue

        catalogues = _catalogue.all_catalogues()
        known = [catalogue.domain for catalogue in catalogues]
        unknown = [name for name in arguments.domains if name not in known]
        if unknown:
            print(f"{arguments.program}: error: no domain named {', '.join(unknown)} "
                  f"(choose from {', '.join(known)})", file=sys.stderr)  # fmt: skip
            return 2
        if arguments.domains:
            catalogues = [c for c in catalogues if c.domain in arguments.domains]
        if arguments.format == "json":
            data = [_catalogue_data(catalogue) for catalogue in catalogues]
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        else:
            sys.stdout.write(_catalogue.render_markdown(catalogues))
        return 0

    return run


if __name__ == "__main__":  # pragma: no cover - `python -m obskit._tools.cli`, as the script does
    sys.exit(main())
