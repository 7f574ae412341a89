"""Settings: explicit arguments, then `OBSKIT_*` variables, then standard `OTEL_*` ones.

Resolution never raises for a bad *environment* value: it logs one warning naming the
variable, the value and what is accepted, and falls back to the default (a typo in a
deployment's environment must not take the host program down). Bad *arguments* raise
ValueError, since they are bugs in code the user can fix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obskit._base.env import FALSE, TRUE, check_number, env, env_bool, env_number, split, warn_bad
from obskit._base.log import log_once
from obskit._safety.secrets import ScrubbingOptions, patterns_from_env

__all__ = ["SAMPLERS", "SIGNALS", "OtlpSettings", "Settings", "resolve"]

#: A span estimated above this is dropped (reason `too_large`).
DEFAULT_MAX_SPAN_BYTES = 1024 * 1024
#: Export batches are split to stay below this: gRPC's default receive limit is 4 MiB.
DEFAULT_MAX_BATCH_BYTES = 3 * 1024 * 1024
#: Spans waiting for export hold at most this many (estimated) bytes.
DEFAULT_MAX_QUEUE_BYTES = 32 * 1024 * 1024
SIGNALS = ("traces", "metrics")
_PROTOCOLS = ("grpc", "http/protobuf")
_COMPRESSIONS = {"grpc": ("none", "gzip"), "http/protobuf": ("none", "gzip", "deflate")}
_MIB = 1024 * 1024
_MAX_CARDINALITY = 1_000_000
#: OTEL_TRACES_SAMPLER values (the specification's built-in samplers).
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


@dataclass(frozen=True)
class OtlpSettings:
    """How one signal (traces or metrics) is sent over OTLP, resolved per signal.

    Attributes:
        endpoint: the URL the exporter is given (`/v1/<signal>` already appended to a
            base URL for HTTP), or None for the exporter's default
            (``http://localhost:4318/v1/<signal>``, ``http://localhost:4317`` for gRPC).
        protocol: ``"http/protobuf"`` or ``"grpc"``.
        compression: ``"none"``, ``"gzip"`` (or ``"deflate"`` over HTTP).
        timeout: seconds per export, retries included.

    Examples:
        >>> import obskit
        >>> obskit.configure(exporters=["memory"]).settings.otlp["metrics"].protocol
        'http/protobuf'
    """

    endpoint: str | None = None
    protocol: str = "http/protobuf"
    compression: str = "none"
    timeout: float = 3.0


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
    #: One of SAMPLERS; the ratio ones use `sample_ratio`.
    sampler: str = "parentbased_traceidratio"
    resource: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    runtime: bool = False
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_timeout: float = 3.0
    prometheus_host: str = "localhost"
    prometheus_port: int = 9464
    metrics_interval: float = 10.0
    #: Seconds one periodic metric export may take (OTEL_METRIC_EXPORT_TIMEOUT); None:
    #: the OTLP metrics timeout.
    metrics_export_timeout: float | None = None
    shutdown_timeout: float = 3.0
    max_queue_size: int = 2048
    max_export_batch_size: int = 512
    schedule_delay: float = 1.0
    #: OTLP compression ("none", "gzip"; "deflate" over HTTP only).
    otlp_compression: str = "none"
    #: OTLP settings per signal (per-signal `OTEL_EXPORTER_OTLP_<SIGNAL>_*` variables
    #: applied); a signal missing here uses the `otlp_*` fields above.
    otlp: Mapping[str, OtlpSettings] = field(default_factory=dict)
    #: Byte budgets (estimated encoded size): per span, spans queued, per export batch.
    max_span_bytes: int = DEFAULT_MAX_SPAN_BYTES
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    max_export_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    #: Attribute sets (series) per metric before measurements go to the overflow series.
    cardinality_limit: int = 2000
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Secret scrubbing rules; None when scrubbing is off (see docs/reliability.md#security).
    scrubbing: ScrubbingOptions | None = field(default_factory=ScrubbingOptions)

    def otlp_for(self, signal: str) -> OtlpSettings:
        """The OTLP settings of `signal` ("traces" or "metrics").

        Examples:
            >>> Settings(otlp_endpoint="http://collector:4318").otlp_for("traces").endpoint
            'http://collector:4318/v1/traces'
        """
        found = self.otlp.get(signal)
        if found is not None:
            return found
        endpoint = self.otlp_endpoint
        if endpoint is not None and self.otlp_protocol == "http/protobuf":
            endpoint = _signal_url(endpoint, signal)
        return OtlpSettings(endpoint, self.otlp_protocol, self.otlp_compression, self.otlp_timeout)

    def exporter_names(self) -> list[str]:
        """All exporter names used by any signal, in first-seen order."""
        names: list[str] = []
        for signal in SIGNALS:
            for name in self.exporters.get(signal, ()):
                if name not in names:
                    names.append(name)
        return names


def _sampler(explicit_ratio: float | None) -> tuple[str, float]:
    """(sampler name, ratio): sample_ratio= or OBSKIT_SAMPLE_RATIO (parent-based ratio),
    else OTEL_TRACES_SAMPLER (+ OTEL_TRACES_SAMPLER_ARG), else parent-based, all kept."""
    ratio = _first(explicit_ratio, env_number("OBSKIT_SAMPLE_RATIO", 0.0, 1.0))
    from_otel = _sampler_from_otel()  # read (and warned about) even when overridden
    if ratio is not None:
        return "parentbased_traceidratio", ratio
    # The default makes the same decisions as parentbased_always_on.
    return from_otel or ("parentbased_traceidratio", 1.0)


def _sampler_from_otel() -> tuple[str, float] | None:
    sampler = env("OTEL_TRACES_SAMPLER")
    if sampler is None:
        return None
    sampler = sampler.lower()
    if sampler not in SAMPLERS:
        warn_bad("OTEL_TRACES_SAMPLER", sampler, " | ".join(SAMPLERS), "parentbased_always_on")
        return None
    if sampler.endswith("always_on"):
        return sampler, 1.0
    if sampler.endswith("always_off"):
        return sampler, 0.0
    ratio = env_number("OTEL_TRACES_SAMPLER_ARG", 0.0, 1.0)
    return sampler, 1.0 if ratio is None else ratio


#: What `exporters=` accepts: names for every signal, or names per signal.
ExporterChoice = Sequence[str] | str | Mapping[str, Sequence[str] | str]


def _names(value: Sequence[str] | str) -> tuple[str, ...]:
    return split(value) if isinstance(value, str) else tuple(n.lower() for n in value)


def _exporters(
    explicit: ExporterChoice | None, known: Collection[str] | None = None
) -> dict[str, tuple[str, ...]]:
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
        var = f"OTEL_{signal.upper()}_EXPORTER"
        per_signal = env(var)
        names = split(per_signal) if per_signal is not None else base
        if per_signal is None:
            var = "OBSKIT_EXPORTERS"
        kept = []
        for name in names:
            if name == "none":
                continue
            if known is not None and name not in known:  # from the environment: warn
                warn_bad(var, name, " | ".join(sorted(known)) + " | none", "nothing for it")
                continue
            kept.append(name)
        chosen[signal] = tuple(kept)
    return chosen


def _otlp_vars(name: str, signal: str | None) -> tuple[str, ...]:
    """The OTEL_* variables for one OTLP setting: the signal's own first, then the generic."""
    generic = f"OTEL_EXPORTER_OTLP_{name}"
    return (
        (generic,) if signal is None else (f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}", generic)
    )


def _protocol(explicit: str | None, signal: str | None = None) -> str:
    if explicit is not None:
        if explicit not in _PROTOCOLS:
            raise ValueError(f"otlp_protocol must be one of {_PROTOCOLS}, got {explicit!r}")
        return explicit
    for var in ("OBSKIT_OTLP_PROTOCOL", *_otlp_vars("PROTOCOL", signal)):
        value = env(var)
        if value is None:
            continue
        if value.lower() in _PROTOCOLS:
            return value.lower()
        warn_bad(var, value, " or ".join(_PROTOCOLS), "http/protobuf")
    return "http/protobuf"


def _compression(protocol: str, signal: str | None = None) -> str:
    # Validated here, once, because the SDK's gRPC exporter raises on an unknown value
    # and its HTTP exporter logs once per exporter built (docs/reliability.md, R14).
    accepted = _COMPRESSIONS[protocol]
    for var in ("OBSKIT_OTLP_COMPRESSION", *_otlp_vars("COMPRESSION", signal)):
        value = env(var)
        if value is None:
            continue
        if value.lower() in accepted:
            return value.lower()
        warn_bad(var, value, f"{' or '.join(accepted)} for {protocol}", "none")
        return "none"
    return "none"


def _timeout(explicit: float | None, signal: str | None = None) -> float:
    """Seconds per OTLP export: otlp_timeout= or OBSKIT_OTLP_TIMEOUT (seconds), else the
    OTEL_EXPORTER_OTLP_[<SIGNAL>_]TIMEOUT variables (milliseconds), else 3 s."""
    from_otel = None
    for var in _otlp_vars("TIMEOUT", signal):  # all read: a bad value warns even if unused
        millis = env_number(var, 1, 3_600_000)
        if millis is not None and from_otel is None:
            from_otel = millis / 1000.0
    found = _first(explicit, env_number("OBSKIT_OTLP_TIMEOUT", 0.001, 3600), from_otel, 3.0)
    return float(found)


def _signal_url(base: str, signal: str) -> str:
    """`base` + /v1/<signal>: where OTLP/HTTP sends a signal given the generic endpoint."""
    return base.rstrip("/") + f"/v1/{signal}"


def _endpoint(explicit: str | None, protocol: str, signal: str) -> str | None:
    """The URL the exporter of `signal` is given, or None for the exporter's default.

    A base URL (otlp_endpoint=, OBSKIT_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT) gets
    /v1/<signal> appended for HTTP; OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT is used as it is.
    """
    base = _first(explicit, env("OBSKIT_OTLP_ENDPOINT"))
    if base is None:
        own = env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        if own is not None:
            return str(own)
        base = env("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base is None:
        return None
    return _signal_url(base, signal) if protocol == "http/protobuf" else str(base)


def _otlp(
    endpoint: str | None, protocol: str | None, timeout: float | None
) -> dict[str, OtlpSettings]:
    per_signal = {}
    for signal in SIGNALS:
        chosen = _protocol(protocol, signal)
        per_signal[signal] = OtlpSettings(
            endpoint=_endpoint(endpoint, chosen, signal),
            protocol=chosen,
            compression=_compression(chosen, signal),
            timeout=_timeout(timeout, signal),
        )
    return per_signal


def _service_name(explicit: str | None, resource: Mapping[str, Any] | None) -> str:
    """service_name=, resource={"service.name": ...}, OBSKIT_SERVICE_NAME, then the
    specification's order: OTEL_SERVICE_NAME, service.name in OTEL_RESOURCE_ATTRIBUTES."""
    from_resource = (resource or {}).get("service.name")
    found = _first(
        explicit,
        from_resource if isinstance(from_resource, str) and from_resource else None,
        env("OBSKIT_SERVICE_NAME"),
    )
    if found is None:
        try:
            from opentelemetry.sdk.resources import OTELResourceDetector

            # The SDK's parser (percent-decoding, OTEL_SERVICE_NAME first).
            named = OTELResourceDetector().detect().attributes.get("service.name")
        except Exception:
            log_once("config:resource", "reading OTEL_RESOURCE_ATTRIBUTES failed", exc_info=True)
            named = None
        found = named if isinstance(named, str) and named.strip() else None
    return str(found) if found else "unknown_service"


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
    known_exporters: Collection[str] | None = None,
) -> Settings:
    """Resolve every setting from arguments and the environment (arguments win).

    `known_exporters`: the exporter names that exist; a name from the environment not
    among them is warned about and left out (an unknown *argument* raises later).
    """
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
    interval_ms = env_number("OTEL_METRIC_EXPORT_INTERVAL", 1, 86_400_000)
    export_timeout_ms = env_number("OTEL_METRIC_EXPORT_TIMEOUT", 1, 3_600_000)
    protocol = _protocol(otlp_protocol)
    sampler, ratio = _sampler(sample_ratio)
    span_bytes, queue_bytes, batch_bytes = _budgets()
    return Settings(
        service_name=_service_name(service_name, resource),
        exporters=_exporters(exporters, known_exporters),
        sample_ratio=ratio,
        sampler=sampler,
        resource=dict(resource or {}),
        enabled=bool(resolved_enabled),
        runtime=bool(_first(runtime, env_bool("OBSKIT_RUNTIME"), False)),
        otlp_endpoint=_first(otlp_endpoint, env("OBSKIT_OTLP_ENDPOINT")),
        otlp_protocol=protocol,
        otlp_compression=_compression(protocol),
        # Milliseconds, as the specification says (the Python SDK reads seconds).
        otlp_timeout=_timeout(otlp_timeout),
        otlp=_otlp(otlp_endpoint, otlp_protocol, otlp_timeout),
        prometheus_host=_first(
            prometheus_host,
            env("OBSKIT_PROMETHEUS_HOST"),
            env("OTEL_EXPORTER_PROMETHEUS_HOST"),
            "localhost",
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
        metrics_export_timeout=None if export_timeout_ms is None else export_timeout_ms / 1000.0,
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
