"""Panels and alerts as data: what each domain's `_dashboards` module declares.

Plain dataclasses the domains import at run time. Building Grafana dashboards from them and
reading alert expressions with a PromQL parser are build-time work, in obskit._tools.grafana
(the `tools` extra), so nothing here needs those packages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: Datasource uids the provisioning files declare and every dashboard refers to.
PROMETHEUS_UID: Final = "obskit-prometheus"
JAEGER_UID: Final = "obskit-jaeger"


@dataclass(frozen=True)
class Panel:
    """One Grafana panel: a title and its PromQL queries (the first is the main one).

    Examples:
        >>> Panel("Leader present", ("min(raft_leader_present)",), type="stat").type
        'stat'
    """

    title: str
    exprs: tuple[str, ...]
    unit: str = "none"
    type: str = "timeseries"
    description: str = ""
    #: Grafana legendFormat per query ("" lets Grafana choose).
    legends: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: Panel | Mapping[str, Any]) -> Panel:
        """A Panel from a domain's `PANELS` entry.

        Accepted shapes: a Panel; a dict with `title`, `expr` (and optional `extra`
        queries, `legend`, `unit`, `type`, `description`); or a dict with `targets`, a
        list of `{"expr", "legend"}`.

        Examples:
            >>> Panel.of({"title": "T", "expr": "up", "extra": ["up > 0"]}).exprs
            ('up', 'up > 0')
        """
        if isinstance(data, Panel):
            return data
        if "targets" in data:
            targets = [(str(t["expr"]), str(t.get("legend", ""))) for t in data["targets"]]
        else:
            exprs = [str(data["expr"]), *(str(e) for e in data.get("extra", ()))]
            targets = [
                (e, str(data.get("legend", "")) if i == 0 else "") for i, e in enumerate(exprs)
            ]
        return cls(
            title=str(data["title"]),
            exprs=tuple(expr for expr, _ in targets),
            unit=str(data.get("unit", "none")),
            type=str(data.get("type", "timeseries")),
            description=str(data.get("description", "")),
            legends=tuple(legend for _, legend in targets),
        )


@dataclass(frozen=True)
class Alert:
    """A Prometheus alerting rule: `signal` compared by `condition` (e.g. "> 0").

    The signal alone is what a test runs to prove the rule reads real series; the full
    `expr` is what fires.

    Examples:
        >>> Alert("Dropped", "sum(x)", "> 0", "Spans dropped", "Some spans were lost").expr
        'sum(x) > 0'
    """

    name: str
    signal: str
    condition: str
    summary: str
    description: str
    duration: str = "0m"
    severity: str = "warning"

    @property
    def expr(self) -> str:
        """The rule's PromQL expression."""
        return f"{self.signal} {self.condition}".strip()
