"""What `configure()` builds: the `Telemetry` record and the SDK providers, exporters and span
queues in it (obskit._setup swaps them in and tears them down).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from obskit import exporters
from obskit._base import log as _log
from obskit._base.log import log_once
from obskit._config import SIGNALS, Settings
from obskit._export.budget import span_limits
from obskit._export.queue import SpanAccounting, SpanQueue
from obskit._metrics import cardinality as _cardinality
from obskit._metrics import cells as _cells
from obskit._runtime import collectors as _runtime
from obskit._safety.clean import MAX_VALUE_CHARS, clean_attributes


@dataclass
class Telemetry:
    """What `obskit.configure()` set up: settings, providers and exporter facts.

    Examples:
        >>> import obskit
        >>> telemetry = obskit.configure(service_name="demo", exporters=["memory"])
        >>> telemetry.settings.service_name
        'demo'
        >>> obskit.shutdown()
        True
    """

    settings: Settings
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    span_queues: list[SpanQueue] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def prometheus_address(self) -> tuple[str, int] | None:
        """(host, port) the Prometheus endpoint listens on, or None without one."""
        address = self.info.get("prometheus_address")
        return None if address is None else (str(address[0]), int(address[1]))

    def span_counts(self) -> dict[str, int]:
        """Spans ended, exported and dropped (by reason), summed over the exporters."""
        totals = SpanAccounting().snapshot()  # zeros, so every series exists from the start
        for queue in self.span_queues:
            for key, value in queue.accounting.snapshot().items():
                totals[key] = totals.get(key, 0) + value
        return totals


def _resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = {"service.name": settings.service_name}
    if settings.runtime:
        attributes.update(_runtime.resource_attributes())  # process.runtime.* (semconv)
    attributes.update(clean_attributes(settings.resource))
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; our
    # resolved service name (argument > OBSKIT_ > OTEL_) wins over both.
    resource = Resource.create(attributes)
    return resource.merge(Resource({"service.name": settings.service_name}))


def sampler(settings: Settings) -> Sampler:
    """The SDK sampler `settings.sampler` names (OTEL_TRACES_SAMPLER's values).

    Examples:
        >>> from obskit._config import Settings
        >>> sampler(Settings(sampler="always_on")).get_description()
        'AlwaysOnSampler'
        >>> sampler(Settings(sample_ratio=0.25)).get_description()
        'ParentBased{root:TraceIdRatioBased{0.25},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}'
    """
    name = settings.sampler
    root: Sampler
    if name.endswith("always_on"):
        root = ALWAYS_ON
    elif name.endswith("always_off"):
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(settings.sample_ratio)
    return ParentBased(root) if name.startswith("parentbased_") else root


def _normalize_span_exporter(
    value: SpanExporter | Callable[[], SpanExporter] | None,
) -> Callable[[], SpanExporter] | None:
    if value is None:
        return None
    if isinstance(value, SpanExporter):
        return lambda: value
    return value


def _build(settings: Settings) -> Telemetry:
    telemetry = Telemetry(settings)
    span_factories: list[tuple[str, Callable[[], SpanExporter]]] = []
    readers: list[MetricReader] = []
    for name in settings.exporter_names():
        signals = frozenset(s for s in SIGNALS if name in settings.exporters.get(s, ()))
        factory = exporters.lookup(name)  # ValueError for unknown names: a caller's bug
        try:
            parts = factory(settings, signals)
        except Exception:
            log_once(
                f"exporter:{name}", "exporter %r failed to start; left out", name, exc_info=True
            )
            continue
        make = _normalize_span_exporter(parts.span_exporter)
        if make is not None:
            span_factories.append((name, make))
        if parts.metric_reader is not None:
            readers.append(parts.metric_reader)
        if parts.close is not None:
            telemetry.closers.append(parts.close)
        telemetry.info.update(parts.info)
    resource = _resource(settings)
    tracer_provider = TracerProvider(
        resource=resource,
        sampler=sampler(settings),
        shutdown_on_exit=False,
        span_limits=span_limits(MAX_VALUE_CHARS),
    )
    for name, make in span_factories:
        try:
            queue = SpanQueue(
                make,
                max_queue_size=settings.max_queue_size,
                max_batch_size=settings.max_export_batch_size,
                schedule_delay=settings.schedule_delay,
                name=name,
                max_span_bytes=settings.max_span_bytes,
                max_queue_bytes=settings.max_queue_bytes,
                max_batch_bytes=settings.max_export_batch_bytes,
            )
        except Exception:
            log_once(f"queue:{name}", "exporter %r failed to start; left out", name, exc_info=True)
            continue
        tracer_provider.add_span_processor(queue)
        telemetry.span_queues.append(queue)
    telemetry.tracer_provider = tracer_provider
    for reader in readers:
        _cardinality.count_overflows(reader)  # keeps the reader's preferred aggregations
    telemetry.meter_provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        shutdown_on_exit=False,
        views=[_cardinality.view(settings.cardinality_limit)],
    )
    _cells.set_cardinality_limit(settings.cardinality_limit)
    # The SDK providers read OTEL_SDK_DISABLED themselves; obskit already resolved it
    # (an explicit enabled=True beats the variable), so they must not second-guess it.
    for provider in (telemetry.tracer_provider, telemetry.meter_provider):
        if getattr(provider, "_disabled", False):
            provider._disabled = False
    _log.install_sdk_log_filter()  # the exporters' SDK loggers exist only now
    return telemetry
