"""The "console" exporter: span trees per trace, and a metric summary at shutdown.

This is the embedded default: with no backend running, `obskit.configure()` shows what the
program emits as readable trees instead of the SDK console exporter's JSON per span.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TextIO

from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from obskit._export.span_tree import render_tree

__all__ = ["ConsoleMetricExporter", "ConsoleSpanExporter"]

_MAX_PENDING_SPANS = 10_000


class ConsoleSpanExporter(SpanExporter):
    """Prints each trace as a tree once its local root span has ended.

    Spans of a trace are held until the root (a span without a local parent) arrives;
    at most `_MAX_PENDING_SPANS` are held, the oldest trace is printed early beyond that.
    Spans that end after their root (a record's journey through a pipeline, a generator
    consumed later) are printed with the next export as "(continued)" of their trace.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._count = 0
        self._printed: OrderedDict[int, None] = OrderedDict()  # recent trace ids, bounded
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id
                self._pending.setdefault(trace_id, []).append(span)
                self._count += 1
                if span.parent is None or span.parent.is_remote:
                    ready.append(self._pending.pop(trace_id))
            for trace_id in [t for t in self._pending if t in self._printed]:
                ready.append(self._pending.pop(trace_id))  # late spans of a printed trace
            while self._count - sum(map(len, ready)) > _MAX_PENDING_SPANS and self._pending:
                ready.append(self._pending.popitem(last=False)[1])
            self._count -= sum(map(len, ready))
            continued = [group[0].context.trace_id in self._printed for group in ready]
            for group in ready:
                self._printed[group[0].context.trace_id] = None
            while len(self._printed) > 1024:
                self._printed.popitem(last=False)
        for trace_spans, late in zip(ready, continued, strict=True):
            self._print(trace_spans, continued=late)
        return SpanExportResult.SUCCESS

    def _print(self, spans: list[ReadableSpan], *, continued: bool = False) -> None:
        first = spans[0]
        service = first.resource.attributes.get("service.name", "?") if first.resource else "?"
        more = " (continued)" if continued else ""
        header = f"trace {first.context.trace_id:032x}{more}  service={service}\n"
        body = render_tree(spans, attributes=True, durations=True, guides=True)
        out = self._out or sys.stdout
        try:
            out.write(header + body)
            out.flush()
        except Exception:
            pass  # a closed stdout at exit must not raise into the export thread

    def shutdown(self) -> None:
        with self._lock:
            leftovers = list(self._pending.values())
            self._pending.clear()
            self._count = 0
        for trace_spans in leftovers:
            self._print(trace_spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class ConsoleMetricExporter(MetricExporter):
    """Keeps the latest collection and prints a compact summary at shutdown."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__()
        self._out = out
        self._latest: MetricsData | None = None

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self._latest = metrics_data
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        text = summarize(self._latest) if self._latest is not None else ""
        if not text:
            return
        out = self._out or sys.stdout
        try:
            out.write(text)
            out.flush()
        except Exception:
            pass


def summarize(data: MetricsData) -> str:
    """One line per metric point: name{attributes} value (or count/sum for histograms)."""
    lines: list[str] = []
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    labels = ",".join(
                        k + "=" + _label(v) for k, v in sorted((point.attributes or {}).items())
                    )
                    name = f"{metric.name}{{{labels}}}" if labels else metric.name
                    lines.append(f"  {name}  {_point(point, metric.unit or '')}")
    if not lines:
        return ""
    return "metrics\n" + "\n".join(sorted(lines)) + "\n"


def _point(point: object, unit: str) -> str:
    suffix = f" {unit}" if unit and not unit.startswith("{") and unit != "1" else ""
    if isinstance(point, HistogramDataPoint):
        mean = point.sum / point.count if point.count else 0.0
        return f"count={point.count} sum={point.sum:.6g}{suffix} mean={mean:.6g}{suffix}"
    if isinstance(point, NumberDataPoint):
        return f"{point.value:.6g}{suffix}"
    return str(point)


def _label(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
