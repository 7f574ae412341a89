"""configure(), flush() and shutdown(): building the SDK providers and tearing them down.

obskit owns the exit path: providers are built with `shutdown_on_exit=False` and one
obskit `atexit` hook shuts everything down within `shutdown_timeout` seconds (the SDK's
own hook waits 30 s against a dead backend; docs/reliability.md, R3 and R4).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit import _routing as _providers
from obskit import exporters
from obskit._base import log as _log
from obskit._base import processes as _children
from obskit._base.log import log_once
from obskit._base.names import (
    CODE_FUNCTION_NAME,
    DROP_REASON,
    ERROR_TYPE,
    FUNCTION_METRIC_PREFIX,
    METRIC_NAME,
    METRICS_OVERFLOWED,
    OUTCOME,
    REDACTION_SOURCE,
    SCRUB_REDACTIONS,
    SPANS_DROPPED,
    SPANS_ENDED,
    SPANS_EXPORTED,
    SPANS_QUEUED,
)
from obskit._base.processes import set_exit_hook
from obskit._config import ExporterChoice, resolve
from obskit._domain.catalogue import Attribute, Catalogue, Instrument
from obskit._export import builtins as _exporters  # noqa: F401  (importing it registers the built-ins)
from obskit._export.queue import DROP_REASONS
from obskit._metrics import cardinality as _cardinality
from obskit._runtime import collectors as _runtime
from obskit._runtime import runfile as _runfile
from obskit._safety import secrets as _scrub
from obskit._setup.build import Telemetry, _build

__all__ = ["Telemetry", "configure", "current", "flush", "shutdown"]


_lock = threading.RLock()
_current: Telemetry | None = None
_closing: Telemetry | None = None  # being shut down: its final metrics still report it


def current() -> Telemetry | None:
    """The active configuration, or None before `configure()` / after `shutdown()`.

    Examples:
        >>> import obskit
        >>> obskit.telemetry() is None
        True
    """
    return _current


def configure(
    service_name: str | None = None,
    *,
    exporters: ExporterChoice | None = None,
    sample_ratio: float | None = None,
    resource: Mapping[str, Any] | None = None,
    enabled: bool | None = None,
    runtime: bool | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    otlp_timeout: float | None = None,
    prometheus_host: str | None = None,
    prometheus_port: int | None = None,
    metrics_interval: float | None = None,
    shutdown_timeout: float | None = None,
    cardinality_limit: int | None = None,
    options: Mapping[str, Any] | None = None,
    scrubbing: _scrub.ScrubbingOptions | bool | None = None,
) -> Telemetry:
    """Set up tracing and metrics for this process; every argument has an env variable.

    Explicit arguments beat `OBSKIT_*` variables, which beat the standard `OTEL_*` ones
    (see docs/configuration.md for the full table). Calling `configure()` again
    reconfigures cleanly: the previous providers are shut down (within
    `shutdown_timeout`) and replaced as one step, so spans never go to two setups.

    Args:
        service_name: `service.name` of this process (`OBSKIT_SERVICE_NAME`, `OTEL_SERVICE_NAME`).
        exporters: exporter names, e.g. ``["otlp", "prometheus"]`` (`OBSKIT_EXPORTERS`;
            per signal `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`, ``none`` allowed).
            Default: ``otlp`` when an OTLP endpoint variable is set, else ``console``.
            Per signal: ``{"traces": ["otlp"], "metrics": ["prometheus"]}``.
        sample_ratio: fraction of new traces kept, parent-based (`OBSKIT_SAMPLE_RATIO`;
            `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` name any specified sampler).
        resource: extra resource attributes (merged with `OTEL_RESOURCE_ATTRIBUTES`).
        enabled: False makes every obskit call a near-free pass-through
            (`OBSKIT_ENABLED`, `OTEL_SDK_DISABLED`).
        runtime: also record GC, CPU and memory of this process (`OBSKIT_RUNTIME`).
        otlp_endpoint: collector or Jaeger base URL for both signals
            (`OBSKIT_OTLP_ENDPOINT`; `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT`).
        otlp_protocol: ``"http/protobuf"`` (default) or ``"grpc"`` for both signals
            (`OBSKIT_OTLP_PROTOCOL`; `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]PROTOCOL`).
        otlp_timeout: seconds per OTLP export, retries included (default 3;
            `OBSKIT_OTLP_TIMEOUT` in seconds, `OTEL_EXPORTER_OTLP_[..._]TIMEOUT` in ms).
        prometheus_host: address of the Prometheus endpoint (default ``localhost``;
            ``0.0.0.0`` serves every interface).
        prometheus_port: its port (default 9464; 0 picks a free one, see
            `Telemetry.prometheus_address`).
        metrics_interval: seconds between OTLP metric exports (default 10).
        shutdown_timeout: the most `shutdown()` and interpreter exit wait (default 3).
        cardinality_limit: attribute sets (series) kept per metric, default 2000
            (`OBSKIT_CARDINALITY_LIMIT`); measurements with new attribute sets beyond it
            go to one `otel.metric.overflow=true` series and are counted in
            `obskit.metrics.overflowed`.
        options: settings for third-party exporters.
        scrubbing: redaction of secret-looking keys and values in everything obskit
            records: True (default: `obskit._safety.secrets.DEFAULT_PATTERNS`), False (off), or
            `obskit.ScrubbingOptions(extra_patterns=..., callback=...)`
            (`OBSKIT_SCRUBBING`: ``false``, or comma-separated extra patterns).

    Returns:
        The `Telemetry` now active.

    Raises:
        ValueError: an unknown exporter name (the message lists the known ones) or an
            argument out of range. Bad *environment* values only log a warning.

    Examples:
        >>> import obskit
        >>> t = obskit.configure(service_name="demo", exporters=["memory"], sample_ratio=1.0)
        >>> obskit.shutdown()
        True
    """
    global _current
    settings = resolve(
        service_name=service_name,
        exporters=exporters,
        sample_ratio=sample_ratio,
        resource=resource,
        enabled=enabled,
        runtime=runtime,
        otlp_endpoint=otlp_endpoint,
        otlp_protocol=otlp_protocol,
        otlp_timeout=otlp_timeout,
        prometheus_host=prometheus_host,
        prometheus_port=prometheus_port,
        metrics_interval=metrics_interval,
        shutdown_timeout=shutdown_timeout,
        cardinality_limit=cardinality_limit,
        options=options,
        scrubbing=scrubbing,
        known_exporters=known_exporter_names(),
    )
    for name in settings.exporter_names():
        exporters_module_lookup(name)  # fail fast, before touching the running setup
    with _lock:
        if _current is not None:
            _shutdown_locked(settings.shutdown_timeout)
        _log.install_sdk_log_filter()
        _scrub.install(settings.scrubbing)
        if not settings.enabled:
            _providers.set_current(None, None, disabled=True)
            _current = Telemetry(settings)
            return _current
        telemetry = _build(settings)
        _providers.install_globals()
        _providers.set_current(telemetry.tracer_provider, telemetry.meter_provider)
        _current = telemetry
        if settings.runtime:
            _start_runtime(telemetry)
        _children.on_configure(_on_terminate)  # flush multiprocessing children at exit
        return telemetry


def exporters_module_lookup(name: str) -> None:
    exporters.lookup(name)  # the built-ins are registered: this module imports _exporters


def known_exporter_names() -> list[str]:
    return exporters.available()  # (configure's `exporters` argument hides the module)


def _start_runtime(telemetry: Telemetry) -> None:
    try:
        _runtime.enable()
        telemetry.closers.append(_runtime.disable)
    except Exception:
        log_once("runtime", "runtime metrics could not be enabled", exc_info=True)


def flush(timeout: float = 5.0) -> bool:
    """Export everything recorded so far; wait at most `timeout` seconds.

    Returns True only when every queued span and metric was delivered in time. Never
    exports on the calling thread, so it is safe (if pointless) on an event loop.

    Examples:
        >>> import obskit
        >>> obskit.flush(timeout=1.0)
        True
    """
    telemetry = _current
    if telemetry is None or telemetry.tracer_provider is None:
        return True
    deadline = time.monotonic() + max(0.0, timeout)
    ok = True
    for queue in telemetry.span_queues:
        ok = queue.flush(max(0.0, deadline - time.monotonic())) and ok
    if telemetry.meter_provider is not None:
        ok = (
            _bounded(
                lambda: telemetry.meter_provider.force_flush(  # type: ignore[union-attr]
                    timeout_millis=max(1.0, (deadline - time.monotonic()) * 1000)
                ),
                deadline,
            )
            and ok
        )
    return ok


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop everything within `timeout` seconds (default: `shutdown_timeout`).

    Returns True when everything was delivered; False when the budget ran out or exports
    failed -- the spans given up are counted in `obskit.spans.dropped{reason=shutdown}`.
    obskit is a no-op afterwards until `configure()` is called again.

    Examples:
        >>> import obskit
        >>> obskit.shutdown(timeout=2.0)
        True
    """
    with _lock:
        return _shutdown_locked(timeout)


def _shutdown_locked(timeout: float | None) -> bool:
    global _current, _closing
    telemetry = _current
    if telemetry is None:
        return True
    _closing = telemetry
    budget = telemetry.settings.shutdown_timeout if timeout is None else max(0.0, timeout)
    deadline = time.monotonic() + budget
    _current = None
    _providers.set_current(None, None)
    ok = True
    for queue in telemetry.span_queues:
        ok = queue.stop(max(0.0, deadline - time.monotonic())) and ok
    meter_provider = telemetry.meter_provider
    if meter_provider is not None:
        ok = (
            _bounded(
                lambda: meter_provider.shutdown(
                    timeout_millis=max(1.0, (deadline - time.monotonic()) * 1000)
                ),
                deadline,
            )
            and ok
        )
    for close in telemetry.closers:
        _bounded(close, deadline + 0.2)
    _closing = None
    return ok


def _bounded(work: Callable[[], Any], deadline: float) -> bool:
    """Run `work` on a daemon thread; give up waiting at `deadline`. True if it returned truthy."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(work())
        except Exception:
            log_once("bounded", "telemetry shutdown step failed", exc_info=True)
            result.append(False)

    helper = threading.Thread(target=run, name="obskit-shutdown", daemon=True)
    helper.start()
    helper.join(max(0.0, deadline - time.monotonic()))
    return bool(result and result[0] is not False)


def _at_exit() -> None:
    try:
        shutdown()
    except Exception:
        pass


atexit.register(_at_exit)
set_exit_hook(_at_exit)  # a multiprocessing child skips atexit: its queue runs this


def _on_terminate() -> float | None:
    """SIGTERM in a multiprocessing child: flush within the budget (None), or, when a
    shutdown is already under way, how long to let it finish."""
    closing = _closing
    if closing is not None:
        return closing.settings.shutdown_timeout + 0.5
    telemetry = _current
    if telemetry is not None:
        budget = telemetry.settings.shutdown_timeout
        # On a helper thread: the main thread was interrupted and may hold a lock the
        # shutdown needs; the wait is bounded either way.
        _bounded(lambda: shutdown(budget), time.monotonic() + budget + 0.5)
    return None


# --- obskit's own health, read at collection time -----------------------------------


def _span_totals() -> dict[str, int]:
    telemetry = _current or _closing
    return telemetry.span_counts() if telemetry is not None else {}


def _observe_ended(options: CallbackOptions) -> list[Observation]:
    totals = _span_totals()
    return [Observation(totals["ended"])] if totals else []


def _observe_exported(options: CallbackOptions) -> list[Observation]:
    totals = _span_totals()
    return [Observation(totals["exported"])] if totals else []


def _observe_dropped(options: CallbackOptions) -> list[Observation]:
    totals = _span_totals()
    if not totals:
        return []
    return [Observation(totals[reason], {DROP_REASON: reason}) for reason in DROP_REASONS]


def _observe_queued(options: CallbackOptions) -> list[Observation]:
    telemetry = _current or _closing
    if telemetry is None:
        return []
    return [Observation(sum(len(q._queue) for q in telemetry.span_queues))]


CATALOGUE = Catalogue(
    domain="core",
    title="Core: obskit's own health and @traced(metrics=...)",
    scope="obskit",
    attributes=[
        Attribute(DROP_REASON, "string", "Why spans were given up: " + ", ".join(DROP_REASONS),
                  "queue_full"),
        Attribute(CODE_FUNCTION_NAME, "string", "Span name of the traced function", "Index.get",
                  "semconv"),
        Attribute(OUTCOME, "string", "ok, error, or cancelled (asyncio cancellation)", "ok"),
        Attribute(REDACTION_SOURCE, "string",
                  "Where a value was redacted: " + ", ".join(_scrub.REDACTION_SOURCES),
                  "exception"),
        Attribute(ERROR_TYPE, "string", "Exception class of a failed call", "KeyError", "semconv"),
        Attribute(METRIC_NAME, "string", "Name of a metric whose cardinality limit was reached",
                  "btree.operation.duration"),
    ],
    instruments=[
        Instrument(SPANS_ENDED, "observable_counter", "{span}",
                   "Sampled spans handed to obskit's exporters (= exported + dropped + queued)"),
        Instrument(SPANS_EXPORTED, "observable_counter", "{span}",
                   "Spans delivered to a backend by obskit's exporters"),
        Instrument(SPANS_DROPPED, "observable_counter", "{span}", "Spans given up, by reason",
                   [DROP_REASON]),
        Instrument(SPANS_QUEUED, "observable_up_down_counter", "{span}",
                   "Spans waiting in obskit's export queues"),
        Instrument(SCRUB_REDACTIONS, "observable_counter", "{value}",
                   "Values redacted before export (secret-looking or query literals), by source",
                   [REDACTION_SOURCE]),
        Instrument(METRICS_OVERFLOWED, "observable_counter", "{measurement}",
                   "Measurements recorded into a metric's overflow series (its cardinality "
                   "limit was reached)", [METRIC_NAME]),
        Instrument(f"{FUNCTION_METRIC_PREFIX}.duration", "histogram", "s",
                   "Duration of calls of a @traced(metrics=True) function",
                   [CODE_FUNCTION_NAME, OUTCOME, ERROR_TYPE]),
        Instrument(f"{FUNCTION_METRIC_PREFIX}.calls", "counter", "{call}",
                   "Calls of a @traced(metrics=True) function, by outcome",
                   [CODE_FUNCTION_NAME, OUTCOME, ERROR_TYPE]),
        Instrument(f"{FUNCTION_METRIC_PREFIX}.active", "up_down_counter", "{call}",
                   "Calls of a @traced(metrics=True) function in progress", [CODE_FUNCTION_NAME]),
    ],
)  # fmt: skip
CATALOGUE.instrument(SPANS_ENDED).add_callback(_observe_ended)
CATALOGUE.instrument(SPANS_EXPORTED).add_callback(_observe_exported)
CATALOGUE.instrument(SPANS_DROPPED).add_callback(_observe_dropped)
CATALOGUE.instrument(SPANS_QUEUED).add_callback(_observe_queued)
CATALOGUE.instrument(SCRUB_REDACTIONS).add_callback(_scrub.observe_redactions)
CATALOGUE.instrument(METRICS_OVERFLOWED).add_callback(_cardinality.observe(METRIC_NAME))


def _memory_metrics() -> Any:
    telemetry = _current
    return None if telemetry is None else telemetry.info.get("memory_metrics")


_runfile.memory_metrics = _memory_metrics  # run files read what configure() built
