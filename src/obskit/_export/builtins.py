"""The built-in exporters (otlp, prometheus, console, memory), registered with obskit.exporters.

Every built-in degrades instead of crashing: a bad endpoint, a bad compression value or a
port already in use logs one warning naming the problem and leaves that exporter out
(the SDK constructors raise on several of these; docs/reliability.md, R14).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from obskit import exporters
from obskit._base.log import log_once
from obskit._config import Settings
from obskit._export.console import ConsoleMetricExporter, ConsoleSpanExporter
from obskit._export.exemplars import ExemplarCollector, ExemplarIndex
from obskit._export.otlp import _otlp_metric_reader, _otlp_span_exporter
from obskit._export.queue import _live
from obskit.exporters import ExporterParts

__all__ = ["console", "memory", "otlp", "prometheus"]


def otlp(settings: Settings, signals: frozenset[str]) -> ExporterParts:
    """OTLP to a collector or Jaeger: traces and metrics, gRPC or HTTP/protobuf."""
    return ExporterParts(
        span_exporter=_otlp_span_exporter(settings) if "traces" in signals else None,
        metric_reader=_otlp_metric_reader(settings) if "metrics" in signals else None,
    )


def prometheus(settings: Settings, signals: frozenset[str]) -> ExporterParts:
    """A Prometheus pull endpoint on prometheus_host:prometheus_port (0 picks a free port)."""
    if "metrics" not in signals:
        return ExporterParts()
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    from obskit._export.prometheus import WithoutEmptyLabels

    registry = CollectorRegistry(auto_describe=True)

    class PullReader(PrometheusMetricReader):  # type: ignore[misc]
        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            # A pull reader is collected by the scrape. Collecting here too queued a second
            # copy of every series for the next scrape (seen as 2-3 duplicates per flush).
            return True

        def _receive_metrics(self, metrics_data: Any, *args: Any, **kwargs: Any) -> None:
            if metrics_data is not None:
                try:
                    index.update(metrics_data)
                except Exception:
                    log_once("prometheus-exemplars", "indexing exemplars failed", exc_info=True)
            super()._receive_metrics(metrics_data, *args, **kwargs)

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            registry.unregister(wrapper)

    reader = PullReader(registry=registry)
    # Serve the exporter's series with their exemplars (OpenMetrics scrapes only), and
    # without error_type="" on successful series (see _prometheus_labels).
    index = ExemplarIndex(reader._collector)
    wrapper = WithoutEmptyLabels(ExemplarCollector(reader._collector, index))
    registry.unregister(reader._collector)
    registry.register(wrapper)
    host, port = settings.prometheus_host, settings.prometheus_port
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except Exception as exc:
        log_once(
            f"prometheus-port:{host}:{port}",
            "cannot serve Prometheus metrics on %s:%s (%s); metrics will not be scraped. "
            "Set prometheus_port / OBSKIT_PROMETHEUS_PORT to a free port (0 picks one)",
            host,
            port,
            exc,
        )
        registry.unregister(wrapper)
        return ExporterParts()

    def close() -> None:
        server.shutdown()
        server.server_close()
        thread.join(1.0)

    return ExporterParts(
        metric_reader=reader,
        close=close,
        info={"prometheus_address": (host, server.server_port)},
    )


def console(settings: Settings, signals: frozenset[str]) -> ExporterParts:
    """Span trees on stdout as traces complete, and a metric summary at shutdown."""
    reader = None
    if "metrics" in signals:
        reader = PeriodicExportingMetricReader(
            ConsoleMetricExporter(),
            export_interval_millis=max(settings.metrics_interval, 60) * 1000,
        )
    exporter = ConsoleSpanExporter() if "traces" in signals else None
    return ExporterParts(span_exporter=exporter, metric_reader=reader)


class MemorySpans(InMemorySpanExporter):
    """The `memory` exporter's spans: reading them first exports what is still queued.

    Spans reach an exporter through obskit's batching queue, so a span that just ended
    may not be here yet; `get_finished_spans()` flushes the queue feeding this exporter
    (bounded by `flush_timeout` seconds) before answering, so what a test or notebook
    reads is complete without calling `obskit.flush()` first.
    """

    flush_timeout = 5.0

    def get_finished_spans(self) -> tuple[ReadableSpan, ...]:
        try:
            for queue in list(_live):
                if queue._exporter is self:
                    queue.flush(self.flush_timeout)
        except Exception:
            log_once("memory-flush", "flushing before reading memory spans failed", exc_info=True)
        return super().get_finished_spans()


def memory(settings: Settings, signals: frozenset[str]) -> ExporterParts:
    """In-memory collectors, found later in `Telemetry.info["memory_spans"]` / `["memory_metrics"]`.

    Reading `memory_spans.get_finished_spans()` first exports what is still queued (see
    `MemorySpans`); `memory_metrics` collects when read.
    """
    spans = MemorySpans() if "traces" in signals else None
    reader = InMemoryMetricReader() if "metrics" in signals else None
    return ExporterParts(
        span_exporter=spans,
        metric_reader=reader,
        info={"memory_spans": spans, "memory_metrics": reader},
    )


exporters.register("otlp", otlp)
exporters.register("prometheus", prometheus)
exporters.register("console", console)
exporters.register("memory", memory)
