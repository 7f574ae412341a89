"""The provider proxy: one stable object behind the global OTel providers.

obskit never hands out the real SDK providers. It installs (once) a proxy tracer provider
and a proxy meter provider as the OpenTelemetry globals; tracers and instruments made from
them -- including module-level ones created at import time by user code -- look up the
*current* real provider on use. `configure()`, `shutdown()` and the pytest fixtures swap
that real provider behind the proxy, so a tracer made before `configure()` or in the first
test keeps working after the swap (with the plain OTel API it stays bound to the first
provider forever).

Which real provider is current, first match wins:

1. obskit is disabled (`enabled=False`, `OTEL_SDK_DISABLED`)     -> none (no-op)
2. a test fixture installed capture providers                     -> those
3. `obskit.configure()` installed providers                       -> those
4. the host application set its own SDK provider as the OTel global -> the host's
5. otherwise                                                     -> none (no-op)
"""

from __future__ import annotations

import linecache
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.util.types import Attributes

from obskit._base.log import log_once

__all__ = [
    "State",
    "current_meter_provider",
    "current_tracer_provider",
    "install_globals",
    "state",
    "swapped",
]


@dataclass
class State:
    """What obskit routes to right now. Read on hot paths: keep it flat."""

    # The provider obskit itself installed (configure() or a fixture); None otherwise.
    tracer_provider: trace_api.TracerProvider | None = None
    meter_provider: metrics_api.MeterProvider | None = None
    # True when obskit was configured with enabled=False / OTEL_SDK_DISABLED.
    disabled: bool = False


state = State()  # the effective routing: what hot paths read
_configured = State()  # what configure()/shutdown() asked for
_pins: list[State] = []  # test fixtures' routing, innermost last; beats _configured
_lock = threading.RLock()
_listeners: list[Callable[[], None]] = []


def current_tracer_provider() -> trace_api.TracerProvider | None:
    """The real tracer provider obskit's spans go to, or None for the no-op path."""
    provider = state.tracer_provider
    if provider is not None:
        return provider
    if state.disabled:
        return None
    host = trace_api._TRACER_PROVIDER
    if host is None or host is _TRACER_PROXY:
        return None
    return host


def current_meter_provider() -> metrics_api.MeterProvider | None:
    """The real meter provider obskit's instruments record into, or None."""
    provider = state.meter_provider
    if provider is not None:
        return provider
    if state.disabled:
        return None
    host = metrics_internal._METER_PROVIDER
    if host is None or host is _METER_PROXY:
        return None
    return host


class _ProxyTracer(trace_api.Tracer):
    """A tracer that resolves the current real tracer each time it is used."""

    def __init__(
        self,
        name: str,
        version: str | None,
        schema_url: str | None,
        attributes: Attributes,
    ) -> None:
        self._args = (name, version, schema_url, attributes)
        self._provider: trace_api.TracerProvider | None = None
        self._real: trace_api.Tracer = trace_api.NoOpTracer()

    def _tracer(self) -> trace_api.Tracer:
        provider = current_tracer_provider()
        if provider is not self._provider:
            self._real = (
                trace_api.NoOpTracer() if provider is None else provider.get_tracer(*self._args)
            )
            self._provider = provider
        return self._real

    def start_span(self, *args: Any, **kwargs: Any) -> trace_api.Span:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


class _ProxyTracerProvider(trace_api.TracerProvider):
    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace_api.Tracer:
        return _ProxyTracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )


class _ProxyMeterProvider(metrics_api.MeterProvider):
    """Meters whose instruments follow the current real meter provider (see _metrics)."""

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> metrics_api.Meter:
        # Registered like obskit's own meters, so observable instruments made through the
        # OTel global meter are re-registered with each new provider too.
        return _meter_factory(name, version, schema_url)


def _no_op_meter(name: str, version: str | None, schema_url: str | None) -> metrics_api.Meter:
    return metrics_api.NoOpMeter(name, version, schema_url)


# obskit._metrics (above this module) installs its meter registry here when it is imported.
_meter_factory: Callable[[str, str | None, str | None], metrics_api.Meter] = _no_op_meter


def serve_meters(factory: Callable[[str, str | None, str | None], metrics_api.Meter]) -> None:
    """Have the proxy meter provider hand out meters made by `factory`.

    obskit._metrics registers its meter registry here at import, as it registers its
    `on_change` listener, so this module needs nothing from the layer above it.
    """
    global _meter_factory
    _meter_factory = factory


_TRACER_PROXY = _ProxyTracerProvider()
_METER_PROXY = _ProxyMeterProvider()


def install_globals() -> None:
    """Make obskit's proxies the OTel global providers, if nobody set one yet.

    OpenTelemetry allows the globals to be set once. When the host application already
    set its own, obskit leaves them alone: its own spans and instruments still follow
    obskit's providers, and the host's module-level tracers stay with the host's.
    """
    with _lock:
        if trace_api._TRACER_PROVIDER is None:
            trace_api.set_tracer_provider(_TRACER_PROXY)
        if metrics_internal._METER_PROVIDER is None:
            metrics_api.set_meter_provider(_METER_PROXY)


def globals_are_obskit() -> tuple[bool, bool]:
    """Whether the OTel global tracer / meter providers are obskit's proxies."""
    return (
        trace_api._TRACER_PROVIDER is _TRACER_PROXY,
        metrics_internal._METER_PROVIDER is _METER_PROXY,
    )


def set_current(
    tracer_provider: trace_api.TracerProvider | None,
    meter_provider: metrics_api.MeterProvider | None,
    *,
    disabled: bool = False,
) -> State:
    """Route obskit to these providers (configure/shutdown); returns the previous request.

    While a test fixture holds a pin, the pinned providers stay in force and this request
    takes effect when the last pin is released -- except `disabled`, which always wins.
    """
    global _configured
    with _lock:
        previous = _configured
        _configured = State(tracer_provider, meter_provider, disabled)
        _apply()
        return previous


def configured() -> State:
    """The routing configure()/shutdown() last asked for (a new object per request)."""
    return _configured


def pin(
    tracer_provider: trace_api.TracerProvider | None,
    meter_provider: metrics_api.MeterProvider | None,
) -> State:
    """Route obskit to these providers until `unpin(token)`, whatever configure() does.

    Used by obskit.testing so a test's capture keeps everything the code under test emits
    even when that code calls `obskit.configure()`. Pins nest; the innermost wins.
    """
    install_globals()
    token = State(tracer_provider, meter_provider)
    with _lock:
        _pins.append(token)
        _apply()
    return token


def repin(
    token: State,
    tracer_provider: trace_api.TracerProvider | None,
    meter_provider: metrics_api.MeterProvider | None,
) -> None:
    """Point an existing pin at other providers (a capture clearing its metrics)."""
    with _lock:
        token.tracer_provider, token.meter_provider = tracer_provider, meter_provider
        _apply()


def unpin(token: State) -> None:
    """Release a pin; the routing falls back to the next pin or to what was configured."""
    with _lock:
        for i, held in enumerate(_pins):
            if held is token:
                del _pins[i]
                break
        _apply()


def _apply() -> None:
    _host_seen[0] = metrics_internal._METER_PROVIDER  # the listeners below see it
    wanted = _pins[-1] if _pins and not _configured.disabled else _configured
    state.tracer_provider = wanted.tracer_provider
    state.meter_provider = wanted.meter_provider
    state.disabled = _configured.disabled
    for listener in _listeners:
        listener()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` (under the routing lock) whenever the current providers change.

    Observable instruments use it to register their callbacks with the new provider:
    unlike synchronous instruments they are never "used", so they cannot rebind lazily.
    """
    _listeners.append(listener)


# The host's OTel global meter provider when the listeners last ran (see notice_host).
_host_seen: list[Any] = [None]


def notice_host(*, wait: bool = True) -> None:
    """Run the provider-change listeners if the host set a new OTel global meter provider.

    A host that sets up the SDK itself (`metrics.set_meter_provider(...)`, no
    `configure()`) changes what `current_meter_provider()` returns without telling
    obskit; instruments that attach to a provider (observable ones, hot histograms'
    reader hooks) would stay detached. Called from rare points (a hot instrument made or
    bound, a thread's first record into a handle) and from the OTel API's own
    notification when the global is set: a call and an identity compare (~60 ns, 2-core
    VM) when nothing changed. `wait=False`: give up rather than wait for the routing lock (the API calls
    us under its own locks); a later rare point catches up.
    """
    host = metrics_internal._METER_PROVIDER
    if host is _host_seen[0]:
        return
    if not _lock.acquire(blocking=wait):
        return
    try:
        host = metrics_internal._METER_PROVIDER
        if host is _host_seen[0]:
            return
        _host_seen[0] = host
        if state.meter_provider is None and not state.disabled:  # the host's is current
            for listener in _listeners:
                listener()
    finally:
        _lock.release()


def _watch_host_global() -> None:
    """Have the OTel API tell us when the global meter provider is set (if still unset).

    The API hands out proxy meters while no global is set and notifies each one when it
    is (`on_set_meter_provider`); one such meter, asked for here, is our hook. The API
    makes it a real (empty) meter of the host's provider, which exports nothing.
    """
    try:
        if metrics_internal._METER_PROVIDER is not None:
            return
        # The API's proxy itself, not get_meter_provider(): that one installs the provider
        # named by OTEL_PYTHON_METER_PROVIDER as the global, which would refuse the host's.
        proxy = getattr(metrics_internal, "_PROXY_METER_PROVIDER", None)
        if proxy is None:
            return  # another API version: the rare-point checks still catch up
        meter: Any = proxy.get_meter("obskit.host-provider")
        original = getattr(meter, "on_set_meter_provider", None)
        if original is None:
            return  # another API version: the rare-point checks still catch up

        def on_set(meter_provider: Any, *, _original: Any = original) -> None:
            _original(meter_provider)
            try:
                notice_host(wait=False)
            except Exception:
                log_once("host-provider", "following the host's meter provider failed",
                         exc_info=True)  # fmt: skip

        meter.on_set_meter_provider = on_set
    except Exception:
        log_once("host-provider", "watching the OTel global meter provider failed",
                 exc_info=True)  # fmt: skip


def restore(previous: State) -> None:
    """Undo a `set_current` call."""
    set_current(previous.tracer_provider, previous.meter_provider, disabled=previous.disabled)


@contextmanager
def swapped(
    tracer_provider: trace_api.TracerProvider | None,
    meter_provider: metrics_api.MeterProvider | None,
) -> Iterator[None]:
    """Route obskit (and the OTel globals, via the proxy) to these providers for a block."""
    token = pin(tracer_provider, meter_provider)
    try:
        yield
    finally:
        unpin(token)


_watch_host_global()


#: The one "is obskit off?" test, as expressions over `OFF_NAMESPACE`, in two halves.
#: Spans have nowhere to go: no routed tracer provider, and the global one unset or
#: obskit's own proxy, or `configure(enabled=False)`. Metrics have nowhere to go: the same
#: for the meter provider (a host may install only an SDK meter provider, and then the
#: domains' operations still record their metrics). `off()` is both; `spans_off()` is the
#: first half alone, for what records only beside a span (`@traced`, a B+tree operation:
#: with no tracer they pass straight through). Both are compiled from these strings, and
#: so are the per-call-site wrappers obskit generates (`@traced`'s exact-signature
#: wrappers), which paste the test inline to save a call: a few attribute reads and
#: identity compares.
SPANS_OFF_TEST = (
    "_obskit_state.tracer_provider is None"
    " and (_obskit_state.disabled"
    " or _obskit_trace._TRACER_PROVIDER is None"
    " or _obskit_trace._TRACER_PROVIDER is _obskit_tracer_proxy)"
)
METRICS_OFF_TEST = (
    "_obskit_state.meter_provider is None"
    " and (_obskit_state.disabled"
    " or _obskit_metrics._METER_PROVIDER is None"
    " or _obskit_metrics._METER_PROVIDER is _obskit_meter_proxy)"
)
OFF_TEST = f"{SPANS_OFF_TEST} and {METRICS_OFF_TEST}"
#: The names `OFF_TEST` reads; generated code puts them in its namespace.
OFF_NAMESPACE: dict[str, Any] = {
    "_obskit_state": state,
    "_obskit_trace": trace_api,
    "_obskit_tracer_proxy": _TRACER_PROXY,
    "_obskit_metrics": metrics_internal,
    "_obskit_meter_proxy": _METER_PROXY,
}


def _compile(name: str, test: str) -> Callable[[], bool]:
    namespace = dict(OFF_NAMESPACE)
    source = f"def {name}():\n    return {test}\n"
    filename = f"<obskit._routing.{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    generated: Callable[[], bool] = namespace[name]
    return generated


off = _compile("off", OFF_TEST)
off.__doc__ = """True when nothing obskit records could reach anything (`OFF_TEST`).

The domains' operations and their shared no-op ask this. A flag and a few identity
compares.

Examples:
    >>> from obskit._routing import off
    >>> isinstance(off(), bool)
    True
"""
spans_off = _compile("spans_off", SPANS_OFF_TEST)
spans_off.__doc__ = """True when spans have nowhere to go (`SPANS_OFF_TEST`, the first half
of `off()`): for what records only beside a span (`@traced`, B+tree operations).

Examples:
    >>> from obskit._routing import spans_off
    >>> isinstance(spans_off(), bool)
    True
"""
