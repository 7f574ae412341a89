"""The tail-sampling policy of a collector tier, generated from the catalogues and THRESHOLDS.

A gateway collector running the `tail_sampling` processor decides per *whole trace*
after `decision_wait`. obskit writes its policy from the same data as its alerts, so the
traces an alert points at are the traces Jaeger keeps:

- every trace with an error (a span with status ERROR);
- every trace with a domain operation slower than the domain's latency threshold
  (`obskit._tools.alerts.THRESHOLDS`; the operations are the catalogue's span names);
- every Raft election and leader/role change (the failover);
- a ratio of everything else (probabilistic on the trace id, the same salt on every
  gateway, so gateways agree on a trace whatever their number).

    obskit tail-sampling --ratio 0.1 > tail-sampling.yaml
    otelcol --config gateway.yaml --config tail-sampling.yaml

The output is a collector config fragment (`processors: tail_sampling: ...`), YAML that
the collector merges with the gateway's own config. Build-time only: `import obskit`
never imports this module.

Examples:
    >>> policy = tail_sampling_config(ratio=0.25)
    >>> [p["name"] for p in policy["policies"]][:3]
    ['errors', 'raft-elections-and-failover', 'slow-raft']
    >>> policy["policies"][-1]["probabilistic"]["sampling_percentage"]
    25.0
    >>> slow_condition("raft")
    'name == "raft.propose" and end_time_unix_nano - start_time_unix_nano > 500000000'
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from obskit._domain.catalogue import Catalogue
from obskit._tools.alerts import THRESHOLDS
from obskit.btree import _names as btree
from obskit.pipeline import _names as pipeline
from obskit.query import _names as query
from obskit.raft import _names as raft

__all__ = [
    "DECISION_CACHE_FACTOR",
    "DEFAULT_DECISION_WAIT",
    "DEFAULT_NUM_TRACES",
    "DEFAULT_RATIO",
    "HASH_SALT",
    "SLOW_OPERATIONS",
    "configure",
    "main",
    "render",
    "slow_condition",
    "tail_sampling_config",
]

#: Share of the remaining (healthy, fast) traces kept.
DEFAULT_RATIO: Final = 0.1
#: How long a gateway holds a trace's spans before deciding (from its first span).
DEFAULT_DECISION_WAIT: Final = "10s"
#: Traces a gateway holds at once; the oldest undecided one is decided early beyond it.
DEFAULT_NUM_TRACES: Final = 50_000
#: Decided trace ids remembered, per trace held (the processor's advice: 10x or more).
DECISION_CACHE_FACTOR: Final = 10
#: The probabilistic policy's salt: every gateway must use the same one.
HASH_SALT: Final = "obskit"


@dataclass(frozen=True)
class SlowOperation:
    """Which spans are a domain's operation, and which THRESHOLDS key bounds their latency."""

    threshold: str  # key of THRESHOLDS
    catalogue: Catalogue
    #: Catalogue span names (patterns with `{placeholders}`) that are the operation.
    spans: tuple[str, ...]
    #: An attribute every operation span carries (when its name alone says too little).
    attribute: str | None = None


#: The operation whose latency each domain's p99 alert watches (obskit._tools.alerts).
SLOW_OPERATIONS: Final = {
    "raft": SlowOperation("raft_commit_p99_seconds", raft.CATALOGUE, (raft.SPAN_PROPOSE,)),
    "query": SlowOperation(
        "query_p99_seconds", query.CATALOGUE, ("{db.query.summary}",), query.DB_QUERY_SUMMARY
    ),
    "btree": SlowOperation(
        "btree_operation_p99_seconds",
        btree.CATALOGUE,
        tuple(spec.name for spec in btree.CATALOGUE.spans),
    ),
    "pipeline": SlowOperation(
        "pipeline_step_p99_seconds", pipeline.CATALOGUE, (pipeline.SPAN_PROCESS,)
    ),
}
#: Spans of an election or a leader/role change: the failover, kept whatever their speed.
MEMBERSHIP_SPANS: Final = (raft.SPAN_ELECTION, raft.SPAN_STATE_CHANGE)

_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_DURATION = "end_time_unix_nano - start_time_unix_nano"


def _quote(text: str) -> str:
    """An OTTL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name_condition(patterns: Sequence[str]) -> str | None:
    """OTTL matching span names `patterns` ({x} matches any text); None: any name."""
    if any(_PLACEHOLDER.fullmatch(p) for p in patterns):
        return None
    if all(not _PLACEHOLDER.search(p) for p in patterns) and len(patterns) == 1:
        return f"name == {_quote(patterns[0])}"
    regexes = {p: ".+".join(re.escape(part) for part in _PLACEHOLDER.split(p)) for p in patterns}
    generic = [regex for p, regex in regexes.items() if _PLACEHOLDER.search(p)]
    kept = [regex for p, regex in regexes.items()  # drop names a generic pattern matches
            if _PLACEHOLDER.search(p) or not any(re.fullmatch(g, p) for g in generic)]  # fmt: skip
    return f"IsMatch(name, {_quote('^' + '|'.join(kept) + '$')})"


def slow_condition(domain: str, thresholds: Mapping[str, float] = THRESHOLDS) -> str:
    """The OTTL span condition "an operation of `domain` slower than its threshold".

    Examples:
        >>> slow_condition("pipeline", {"pipeline_step_p99_seconds": 0.25})
        'name == "pipeline.process" and end_time_unix_nano - start_time_unix_nano > 250000000'
        >>> slow_condition("query").split(" and ")[:2]
        ['instrumentation_scope.name == "obskit.query"', 'attributes["db.query.summary"] != nil']
    """
    operation = SLOW_OPERATIONS[domain]
    nanoseconds = round(float(thresholds[operation.threshold]) * 1e9)
    parts = []
    by_name = _name_condition(operation.spans)
    if by_name is None or operation.attribute or any(map(_PLACEHOLDER.search, operation.spans)):
        parts.append(f"instrumentation_scope.name == {_quote(operation.catalogue.scope)}")
    if operation.attribute:
        parts.append(f"attributes[{_quote(operation.attribute)}] != nil")
    if by_name is not None:
        parts.append(by_name)
    parts.append(f"{_DURATION} > {nanoseconds}")
    return " and ".join(parts)


def tail_sampling_config(
    ratio: float = DEFAULT_RATIO,
    *,
    thresholds: Mapping[str, float] | None = None,
    decision_wait: str = DEFAULT_DECISION_WAIT,
    num_traces: int = DEFAULT_NUM_TRACES,
) -> dict[str, Any]:
    """The `tail_sampling` processor's settings (as data) for obskit's domains.

    `thresholds` overrides entries of THRESHOLDS (seconds). Policies are OR-ed: a trace
    is kept when any policy keeps it.

    Examples:
        >>> config = tail_sampling_config(0.0, thresholds={"raft_commit_p99_seconds": 0.1})
        >>> config["policies"][2]["ottl_condition"]["span"][0].endswith("> 100000000")
        True
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be a number from 0.0 to 1.0, got {ratio!r}")
    merged = {**THRESHOLDS, **(thresholds or {})}
    unknown = sorted(set(thresholds or {}) - set(THRESHOLDS))
    if unknown:
        raise ValueError(f"unknown thresholds {unknown}; known: {sorted(THRESHOLDS)}")
    policies: list[dict[str, Any]] = [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {
            "name": "raft-elections-and-failover",
            "type": "ottl_condition",
            "ottl_condition": {
                "error_mode": "ignore",
                "span": [f"name == {_quote(name)}" for name in MEMBERSHIP_SPANS],
            },
        },
    ]
    for domain in SLOW_OPERATIONS:
        policies.append(
            {
                "name": f"slow-{domain}",
                "type": "ottl_condition",
                "ottl_condition": {
                    "error_mode": "ignore",
                    "span": [slow_condition(domain, merged)],
                },
            }
        )
    policies.append(
        {
            "name": "healthy-ratio",
            "type": "probabilistic",
            "probabilistic": {"hash_salt": HASH_SALT, "sampling_percentage": ratio * 100},
        }
    )
    # Decided trace ids are remembered (16 bytes and a little more each), so a span that
    # arrives after its trace's decision follows it instead of starting a fragment.
    cache = DECISION_CACHE_FACTOR * num_traces
    return {
        "decision_wait": decision_wait,
        "num_traces": num_traces,
        "decision_cache": {"sampled_cache_size": cache, "non_sampled_cache_size": cache},
        "policies": policies,
    }


# --- a YAML writer for plain data (pyyaml is a dev dependency only) -----------------------


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if "'" not in text and text.isprintable():
        return f"'{text}'"  # single-quoted: backslashes and double quotes stay as they are
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{pad}{key}: {_scalar(item) if item != {} and item != [] else item}")
    else:
        for item in value:
            if isinstance(item, Mapping | list) and item:
                nested = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def render(config: Mapping[str, Any]) -> str:
    """The collector config fragment `processors: tail_sampling: <config>` as YAML text.

    Examples:
        >>> print(render({"decision_wait": "5s", "policies": [{"name": "errors"}]}))
        # Generated by `obskit tail-sampling` from obskit's catalogues and THRESHOLDS.
        processors:
          tail_sampling:
            decision_wait: '5s'
            policies:
              - name: 'errors'
        <BLANKLINE>
    """
    header = "# Generated by `obskit tail-sampling` from obskit's catalogues and THRESHOLDS."
    body = _yaml_lines({"processors": {"tail_sampling": config}}, 0)
    return "\n".join([header, *body]) + "\n"


_EPILOG = """\
examples:
  obskit tail-sampling > tail-sampling.yaml       the default policy (what compose uses)
  obskit tail-sampling --ratio 0.01 --threshold query_p99_seconds=2 -o tail-sampling.yaml
  otelcol --config gateway.yaml --config tail-sampling.yaml

The output is a collector config fragment; the collector merges it with the gateway's
own config. docs/fleet.md shows the tier, the policy and how to size a gateway.
"""


def _ratio(text: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        ratio = math.nan
    if not 0.0 <= ratio <= 1.0:
        raise argparse.ArgumentTypeError(f"takes a number from 0.0 to 1.0, got {text!r}")
    return ratio


def _threshold(text: str) -> tuple[str, float]:
    key, separator, seconds = text.partition("=")
    try:
        return key, float(seconds if separator else "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes KEY=SECONDS, got {text!r}") from None


def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """`obskit tail-sampling`: the arguments, and the function that runs it."""
    keys = ", ".join(operation.threshold for operation in SLOW_OPERATIONS.values())
    parser.description = textwrap.fill(
        "Print the tail-sampling policy of a collector tier's gateways (a collector config "
        "fragment), generated from obskit's catalogues and alert thresholds: keep every "
        "trace with an error, with an operation over its latency threshold, or with a Raft "
        "election or failover, and a ratio of the rest.",
        88,
    )
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--ratio", type=_ratio, default=DEFAULT_RATIO, metavar="R",
                        help="share of the other traces kept, 0.0 to 1.0 (default "
                        f"{DEFAULT_RATIO})")  # fmt: skip
    parser.add_argument("--threshold", type=_threshold, action="append", default=[],
                        metavar="KEY=SECONDS", help="override a latency threshold "
                        f"(repeatable); keys: {keys}")  # fmt: skip
    parser.add_argument("--decision-wait", default=DEFAULT_DECISION_WAIT, metavar="DURATION",
                        help="how long a gateway waits for a trace's spans (default "
                        f"{DEFAULT_DECISION_WAIT})")  # fmt: skip
    parser.add_argument("--num-traces", type=int, default=DEFAULT_NUM_TRACES, metavar="N",
                        help=f"traces a gateway holds at once (default {DEFAULT_NUM_TRACES})")  # fmt: skip
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write to FILE instead of standard output")  # fmt: skip

    def run(arguments: argparse.Namespace) -> int:
        try:
            text = render(tail_sampling_config(
                arguments.ratio, thresholds=dict(arguments.threshold),
                decision_wait=arguments.decision_wait, num_traces=arguments.num_traces))  # fmt: skip
        except ValueError as error:
            program = getattr(arguments, "program", "obskit tail-sampling")
            print(f"{program}: error: {error}", file=sys.stderr)
            return 2
        if arguments.output is None:
            sys.stdout.write(text)
        else:
            with open(arguments.output, "w", encoding="utf-8") as file:
                file.write(text)
        return 0

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """`obskit tail-sampling` (also `python -m obskit._tools.tail_sampling`): print (or
    `--output`) the policy; 2 on a bad argument.

    Examples:
        >>> main(["--ratio", "2"])
        2
    """
    parser = argparse.ArgumentParser(prog="obskit tail-sampling")
    run = configure(parser)
    try:
        arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # --help, or a usage error (argparse has said which)
        return exit_.code if isinstance(exit_.code, int) else 2
    arguments.program = parser.prog
    return run(arguments)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
