"""PromQL read by a real parser (`promql-parser`, in the `tools` extra).

The generator of the rules and dashboards (`obskit._tools.dashboards`) and the tests read the
expressions through it: which metrics an expression selects, where an alert's signal
ends and its condition begins, and every panel query and rule expression is parsed (a
syntax error fails the generation or the test, not Prometheus at load time).

Examples:
    >>> sorted(metric_names('sum by (a) (rate(x_total{b="c"}[5m])) / on(a) y'))
    ['x_total', 'y']
    >>> split_condition("sum(rate(errors_total[5m])) > 0.5")
    ('sum(rate(errors_total[5m]))', '> 0.5')
    >>> as_promql('rate(x{job=~"$job"}[$__rate_interval])')
    'rate(x{job=~".*"}[1m])'
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["as_promql", "metric_names", "parse", "split_condition"]

_COMPARISONS: Final = frozenset({"==", "!=", ">", "<", ">=", "<="})


def parse(expr: str) -> Any:
    """The expression's syntax tree (a `promql_parser.Expr`); a ValueError that quotes the
    expression when it is not PromQL.

    Examples:
        >>> type(parse("up == 0")).__name__
        'BinaryExpr'
    """
    import promql_parser

    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        raise ValueError(f"not PromQL: {expr!r}: {exc}") from None


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (by name or by a `__name__="..."` matcher).

    Examples:
        >>> sorted(metric_names('absent(up{job="a"}) or {__name__="target_info"}'))
        ['target_info', 'up']
    """
    import promql_parser

    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(str(node.name))
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
                    names.add(str(matcher.value))

    promql_parser.walk(parse(expr), visit)
    return names


def split_condition(expr: str) -> tuple[str, str]:
    """(signal, condition) of an alert expression "signal OP number", such as
    ("rate(x[5m])", "> 0.5"); (expr, "") when the expression has no such last comparison
    (a set operation, a `bool` comparison, a comparison of two series).

    The parser decides; the text is split at the operator it found, so the signal keeps
    its original spelling.

    Examples:
        >>> split_condition("a > 1 and b < 2")
        ('a > 1 and b < 2', '')
        >>> split_condition("(x > bool 1) + (y > bool 2) >= 1")
        ('(x > bool 1) + (y > bool 2)', '>= 1')
    """
    import promql_parser

    text = expr.strip()
    tree = parse(text)
    if not (isinstance(tree, promql_parser.BinaryExpr)
            and str(tree.op) in _COMPARISONS
            and isinstance(tree.rhs, promql_parser.NumberLiteral)
            and not (tree.modifier is not None and tree.modifier.return_bool)):  # fmt: skip
        return text, ""
    signal, op, value = text.rpartition(str(tree.op))
    signal, value = signal.strip(), value.strip()
    try:
        same = str(parse(signal)) == str(tree.lhs) and float(value) == tree.rhs.val
    except ValueError:  # e.g. a hexadecimal number: keep the expression whole
        same = False
    if not same:
        return text, ""  # the last operator in the text was not the top-level one
    return signal, f"{op} {value}"


def as_promql(expr: str, job: str = ".*", rate_interval: str = "1m") -> str:
    """A panel query with Grafana's variables replaced, ready for Prometheus' query API
    (and the parser).

    Examples:
        >>> as_promql('sum by (job) (x{job=~"${job}"})', job="raft")
        'sum by (job) (x{job=~"raft"})'
    """
    expr = expr.replace("${__rate_interval}", rate_interval)
    expr = expr.replace("$__rate_interval", rate_interval)
    return expr.replace("${job}", job).replace("$job", job)
