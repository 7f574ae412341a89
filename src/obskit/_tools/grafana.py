"""Grafana dashboards built from panels, and alerts read from the domains' `ALERTS`.

Build-time only: grafana-foundation-sdk builds the dashboards (typed builders of Grafana's
dashboard model) and PromQL is read with a real parser (obskit._tools.promql); both are in
the `tools` extra and imported only here. The panel and alert types themselves are plain
data in obskit._domain.dashboards, which the domains import.

Examples:
    >>> from obskit._domain.dashboards import Panel
    >>> board = grafana_dashboard("demo", "Demo", [("Row", [Panel("P", ("up",))])])
    >>> board["uid"]
    'obskit-demo'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from obskit._domain.dashboards import PROMETHEUS_UID, Alert, Panel
from obskit._tools.promql import split_condition

__all__ = ["alert_of", "grafana_dashboard"]


def alert_of(data: Alert | Mapping[str, Any], describe: Mapping[str, str]) -> Alert:
    """An Alert from a domain's `ALERTS` entry; `describe` fills a missing description.

    Examples:
        >>> alert_of({"alert": "A", "expr": "x == 0", "summary": "s"}, {"A": "d"}).condition
        '== 0'
    """
    if isinstance(data, Alert):
        return data
    name = str(data.get("alert") or data["name"])
    # "a == 0 and b > 0" has no one signal to show: the whole is the rule.
    signal, condition = split_condition(str(data["expr"]))
    summary = str(data.get("summary", name))
    return Alert(
        name=name,
        signal=signal,
        condition=condition,
        summary=summary,
        description=str(data.get("description") or describe.get(name) or summary),
        duration=str(data.get("for", "0m")),
        severity=str(data.get("severity", "warning")),
    )


_PANEL_WIDTH, _PANEL_HEIGHT = 12, 8  # two panels side by side on Grafana's 24-column grid

# `$job`: panels may filter on it ({job=~"$job"}); "All" matches every scrape job.
_JOB_QUERY: Final = "label_values(target_info, job)"
_JAEGER_SEARCH: Final = "http://localhost:16686/search"


def _panel(panel: Panel, panel_id: int) -> Any:
    """One panel as an SDK builder: a time series or a stat panel, its queries as targets."""
    from grafana_foundation_sdk.builders import common, prometheus, stat, table, timeseries
    from grafana_foundation_sdk.models import common as options
    from grafana_foundation_sdk.models.dashboard import DataSourceRef
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat

    datasource = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
    builder: Any
    if panel.type == "stat":
        builder = (
            stat.Panel()
            .reduce_options(
                common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)
            )
            .color_mode(options.BigValueColorMode.VALUE)
            .graph_mode(options.BigValueGraphMode.AREA)
            .text_mode(options.BigValueTextMode.AUTO)
        )
    elif panel.type == "table":
        builder = table.Panel()
    elif panel.type == "timeseries":
        builder = (
            timeseries.Panel()
            .tooltip(common.VizTooltipOptions().mode(options.TooltipDisplayMode.MULTI)
                     .sort(options.SortOrder.DESCENDING))
            .legend(common.VizLegendOptions().display_mode(options.LegendDisplayMode.LIST)
                    .placement(options.LegendPlacement.BOTTOM).show_legend(True))
        )  # fmt: skip
    else:
        raise ValueError(f"panel {panel.title!r}: type must be timeseries, stat or table, "
                         f"not {panel.type!r}")  # fmt: skip
    builder.id(panel_id).title(panel.title).description(panel.description)
    builder.datasource(datasource).unit(panel.unit).span(_PANEL_WIDTH).height(_PANEL_HEIGHT)
    for index, expr in enumerate(panel.exprs):
        query = (
            prometheus.Dataquery()
            .ref_id(chr(ord("A") + index))
            .datasource(datasource)
            .expr(expr)
            .legend_format((panel.legends[index : index + 1] or ("",))[0] or "__auto")
            # A latency quantile shows its buckets' exemplars: each links to its trace.
            .exemplar("histogram_quantile(" in expr and panel.type == "timeseries")
        )
        # A table shows the latest value of each series as a row; the others a range.
        if panel.type == "table":
            query.instant().format(PromQueryFormat.TABLE)
        else:
            query.range()
        builder.with_target(query)
    return builder


def grafana_dashboard(
    domain: str, title: str, rows: Sequence[tuple[str, Sequence[Panel]]]
) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) with one row per (row title, panels) entry.

    Examples:
        >>> board = grafana_dashboard("demo", "Demo", [("Row", [Panel("P", ("up",))])])
        >>> [p["type"] for p in board["panels"]], board["uid"]
        (['row', 'timeseries'], 'obskit-demo')
    """
    from grafana_foundation_sdk.builders import dashboard
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard as model

    job = (
        dashboard.QueryVariable("job")
        .label("Job")
        .datasource(model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID))
        .query({"query": _JOB_QUERY, "refId": "job"})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    board = (
        dashboard.Dashboard(title)
        .uid(f"obskit-{domain}")
        .tags(["obskit", domain])
        .description(f"Generated by `python -m obskit._tools.dashboards` from obskit.{domain}.PANELS")
        .editable()
        .version(1)
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
        .with_variable(job)
        .link(dashboard.DashboardLink("Traces in Jaeger").type(model.DashboardLinkType.LINK)
              .target_blank(True).url(_JAEGER_SEARCH))
    )  # fmt: skip
    next_id = 1
    for row_title, row_panels in rows:
        # An open row: its panels follow it on the grid (a collapsed one would nest them).
        board.with_row(dashboard.Row(row_title).id(next_id).collapsed(False))
        next_id += 1
        for panel in row_panels:
            board.with_panel(_panel(panel, next_id))
            next_id += 1
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built
