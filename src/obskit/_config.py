"""Settings: explicit arguments, then `OBSKIT_*` variables, then standard `OTEL_*` ones.

Resolution never raises for a bad *environment* value: it logs one warning naming the
variable, the value and what is accepted, and falls back to the default (a typo in a
deployment's environment must not take the host program down). Bad *arguments* raise
ValueError, since they are bugs in code the user can fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obskit._environment import (
    FALSE,
    TRUE,
    check_number,
    env,
    env_bool,
    env_number,
    split,
    warn_bad,
)
from obskit._export._budget import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_SPAN_BYTES,
)
from obskit._log import log_once
from obskit._scrub import ScrubbingOptions, patterns_from_env

__all__ = ["SIGNALS", "Settings", "resolve"]

SIGNALS = ("traces", "metrics")
_PROTOCOLS = ("grpc", "http/protobuf")
_COMPRESSIONS = {"grpc": ("none", "gzip"), "http/protobuf": ("none", "gzip", "deflate")}
_MIB = 1024 * 1024
_MAX_CARDINALITY = 1_000_000
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


@dataclass(frozen=True)
class Settings:
    """The resolved configuration obskit runs with (see docs/configuration.md).

    Examples:
        >>> import obskit
        >>> obskit.configure(exporters=["memory"], sample_ratio=0.5).settings.sample_ratio
        0.5
    """

    service_name: str = "unknown_service"
    #: Exporter names per signal, e.g. {"traces": ("otlp",), "metrics": ("prometheus",)}.
    exporters: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"traces": ("console",), "metrics": ("console",)}
    )
    sample_ratio: float = 1.0
    resource: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    runtime: bool = False
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_timeout: float = 3.0
    prometheus_host: str = "0.0.0.0"
    prometheus_port: int = 9464
    metrics_interval: float = 10.0
    shutdown_timeout: float = 3.0
    max_queue_size: int = 2048
    max_export_batch_size: int = 512
    schedule_delay: float = 1.0
    #: OTLP compression ("none", "gzip"; "deflate" over HTTP only).
    otlp_compression: str = "none"
    #: Byte budgets (estimated encoded size): per span, spans queued, per export batch.
    max_span_bytes: int = DEFAULT_MAX_SPAN_BYTES
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    max_export_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    #: Attribute sets (series) per metric before measurements go to the overflow series.
    cardinality_limit: int = 2000
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Secret scrubbing rules; None when scrubbing is off (see docs/reliability.md#security).
    scrubbing: ScrubbingOptions | None = field(default_factory=ScrubbingOptions)

    def exporter_names(self) -> list[str]:
        """All exporter names used by any signal, in first-seen order."""
        names: list[str] = []
        for signal in SIGNALS:
            for name in self.exporters.get(signal, ()):
                if name not in names:
                    names.append(name)
        return names


def _sample_ratio_from_otel() -> float | None:
    sampler = env("OTEL_TRACES_SAMPLER")
    if sampler is None:
        return None
    sampler = sampler.lower()
    if sampler not in _SAMPLERS:
        warn_bad("OTEL_TRACES_SAMPLER", sampler, " | ".join(_SAMPLERS), "parentbased_always_on")
        return None
    if sampler.endswith("always_on"):
        return 1.0
    if sampler.endswith("always_off"):
        return 0.0
    ratio = env_number("OTEL_TRACES_SAMPLER_ARG", 0.0, 1.0)
    return 1.0 if ratio is None else ratio


#: What `exporters=` accepts: names for every signal, or names per signal.
ExporterChoice = Sequence[str] | str | Mapping[str, Sequence[str] | str]


def _names(value: Sequence[str] | str) -> tuple[str, ...]:
    return split(value) if isinstance(value, str) else tuple(n.lower() for n in value)


def _exporters(explicit: ExporterChoice | None) -> dict[str, tuple[str, ...]]:
    if isinstance(explicit, Mapping):
        unknown = sorted(set(explicit) - set(SIGNALS))
        if unknown:
            raise ValueError(f"exporters per signal: unknown signal(s) {unknown}; use {SIGNALS}")
        return {
            signal: tuple(n for n in _names(explicit.get(signal, ())) if n != "none")
            for signal in SIGNALS
        }
    if explicit is not None:
        names = split(explicit) if isinstance(explicit, str) else tuple(n.lower() for n in explicit)
        return {signal: names for signal in SIGNALS}
    base_env = env("OBSKIT_EXPORTERS")
    if base_env is not None:
        base = split(base_env)
    elif any(
        env(var)
        for var in (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        )
    ):
        base = ("otlp",)
    else:
        base = ("console",)
    chosen = {}
    for signal in SIGNALS:
        per_signal = env(f"OTEL_{signal.upper()}_EXPORTER")
        names = split(per_signal) if per_signal is not None else base
        chosen[signal] = tuple(n for n in names if n != "none")
    return chosen


def _protocol(explicit: str | None) -> str:
    if explicit is not None:
        if explicit not in _PROTOCOLS:
            raise ValueError(f"otlp_protocol must be one of {_PROTOCOLS}, got {explicit!r}")
        return explicit
    for var in (
        "OBSKIT_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        value = env(var)
        if value is None:
            continue
        if value.lower() in _PROTOCOLS:
            return value.lower()
        warn_bad(var, value, " or ".join(_PROTOCOLS), "http/protobuf")
    return "http/protobuf"


def _compression(protocol: str) -> str:
    # Validated here, once, because the SDK's gRPC exporter raises on an unknown value
    # and its HTTP exporter logs once per exporter built (docs/reliability.md, R14).
    accepted = _COMPRESSIONS[protocol]
    for var in (
        "OBSKIT_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ):
        value = env(var)
        if value is None:
            continue
        if value.lower() in accepted:
            return value.lower()
        warn_bad(var, value, f"{' or '.join(accepted)} for {protocol}", "none")
        return "none"
    return "none"


def _budgets() -> tuple[int, int, int]:
    """(max_span_bytes, max_queue_bytes, max_export_batch_bytes), kept consistent."""
    batch = int(
        env_number("OBSKIT_MAX_EXPORT_BATCH_BYTES", 1024, 1024 * _MIB, integer=True)
        or DEFAULT_MAX_BATCH_BYTES
    )
    span = int(
        env_number("OBSKIT_MAX_SPAN_BYTES", 256, 1024 * _MIB, integer=True)
        or DEFAULT_MAX_SPAN_BYTES
    )
    queue = int(
        env_number("OBSKIT_MAX_QUEUE_BYTES", 1024, 64 * 1024 * _MIB, integer=True)
        or DEFAULT_MAX_QUEUE_BYTES
    )
    if span > batch:
        log_once(
            "config:span>batch",
            "OBSKIT_MAX_SPAN_BYTES=%d is larger than the export batch budget %d; "
            "using %d (a span must fit in one export)",
            span,
            batch,
            batch,
        )
        span = batch
    return span, max(queue, span), batch


def _scrubbing(explicit: ScrubbingOptions | bool | None) -> ScrubbingOptions | None:
    """scrubbing=: options, True (defaults) or False (off); else OBSKIT_SCRUBBING."""
    if isinstance(explicit, ScrubbingOptions):
        return explicit
    if explicit is True:
        return ScrubbingOptions()
    if explicit is False:
        return None
    if explicit is not None:
        raise ValueError(
            f"scrubbing must be True, False or obskit.ScrubbingOptions(...), got {explicit!r}"
        )
    value = env("OBSKIT_SCRUBBING")
    if value is None or value.lower() in TRUE:
        return ScrubbingOptions()
    if value.lower() in FALSE:
        return None
    # Anything else: comma-separated extra patterns, scrubbing on.
    return ScrubbingOptions(extra_patterns=tuple(patterns_from_env(value)))


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def resolve(
    *,
    service_name: str | None = None,
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
    scrubbing: ScrubbingOptions | bool | None = None,
) -> Settings:
    """Resolve every setting from arguments and the environment (arguments win)."""
    if sample_ratio is not None:
        sample_ratio = check_number("sample_ratio", sample_ratio, 0.0, 1.0)
    if prometheus_port is not None:
        prometheus_port = int(check_number("prometheus_port", prometheus_port, 0, 65535))
    for name, value in (
        ("otlp_timeout", otlp_timeout),
        ("metrics_interval", metrics_interval),
        ("shutdown_timeout", shutdown_timeout),
    ):
        if value is not None:
            check_number(name, value, 0.0, 3600.0)
    if cardinality_limit is not None and (
        isinstance(cardinality_limit, bool)
        or not isinstance(cardinality_limit, int)
        or not 1 <= cardinality_limit <= _MAX_CARDINALITY
    ):
        raise ValueError(
            f"cardinality_limit must be an integer from 1 to {_MAX_CARDINALITY}, "
            f"got {cardinality_limit!r}"
        )
    if service_name is not None and (not isinstance(service_name, str) or not service_name):
        raise ValueError(f"service_name must be a non-empty string, got {service_name!r}")

    disabled_by_otel = env_bool("OTEL_SDK_DISABLED")
    resolved_enabled = _first(
        enabled,
        env_bool("OBSKIT_ENABLED"),
        None if disabled_by_otel is None else not disabled_by_otel,
        True,
    )
    resolved_service = _first(
        service_name, env("OBSKIT_SERVICE_NAME"), env("OTEL_SERVICE_NAME"), None
    )
    queue = int(env_number("OTEL_BSP_MAX_QUEUE_SIZE", 1, 10_000_000, integer=True) or 2048)
    batch = int(env_number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 10_000_000, integer=True) or 512)
    if batch > queue:
        log_once(
            "config:batch>queue",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%d is larger than OTEL_BSP_MAX_QUEUE_SIZE=%d; "
            "using a batch size of %d",
            batch,
            queue,
            queue,
        )
        batch = queue
    delay_ms = env_number("OTEL_BSP_SCHEDULE_DELAY", 1, 3_600_000)
    otel_timeout = env_number("OTEL_EXPORTER_OTLP_TIMEOUT", 0.001, 3_600_000)
    interval_ms = env_number("OTEL_METRIC_EXPORT_INTERVAL", 1, 86_400_000)
    protocol = _protocol(otlp_protocol)
    span_bytes, queue_bytes, batch_bytes = _budgets()
    return Settings(
        service_name=resolved_service or "unknown_service",
        exporters=_exporters(exporters),
        sample_ratio=_first(
            sample_ratio,
            env_number("OBSKIT_SAMPLE_RATIO", 0.0, 1.0),
            _sample_ratio_from_otel(),
            1.0,
        ),
        resource=dict(resource or {}),
        enabled=bool(resolved_enabled),
        runtime=bool(_first(runtime, env_bool("OBSKIT_RUNTIME"), False)),
        otlp_endpoint=_first(otlp_endpoint, env("OBSKIT_OTLP_ENDPOINT")),
        otlp_protocol=protocol,
        otlp_compression=_compression(protocol),
        # The SDK's variable is in seconds in Python despite the spec's milliseconds.
        otlp_timeout=_first(
            otlp_timeout,
            env_number("OBSKIT_OTLP_TIMEOUT", 0.001, 3600),
            None if otel_timeout is None else min(otel_timeout, 3600.0),
            3.0,
        ),
        prometheus_host=_first(
            prometheus_host,
            env("OBSKIT_PROMETHEUS_HOST"),
            env("OTEL_EXPORTER_PROMETHEUS_HOST"),
            "0.0.0.0",
        ),
        prometheus_port=int(
            _first(
                prometheus_port,
                env_number("OBSKIT_PROMETHEUS_PORT", 0, 65535, integer=True),
                env_number("OTEL_EXPORTER_PROMETHEUS_PORT", 0, 65535, integer=True),
                9464,
            )
        ),
        metrics_interval=_first(
            metrics_interval,
            env_number("OBSKIT_METRICS_INTERVAL", 0.01, 86_400),
            None if interval_ms is None else interval_ms / 1000.0,
            10.0,
        ),
        shutdown_timeout=_first(
            shutdown_timeout, env_number("OBSKIT_SHUTDOWN_TIMEOUT", 0.0, 3600), 3.0
        ),
        max_queue_size=queue,
        max_export_batch_size=batch,
        schedule_delay=(delay_ms or 1000) / 1000.0,
        max_span_bytes=span_bytes,
        max_queue_bytes=queue_bytes,
        max_export_batch_bytes=batch_bytes,
        cardinality_limit=int(
            _first(
                cardinality_limit,
                env_number("OBSKIT_CARDINALITY_LIMIT", 1, _MAX_CARDINALITY, integer=True),
                2000,
            )
        ),
        options=dict(options or {}),
        scrubbing=_scrubbing(scrubbing),
    )
