"""`Capture`: route everything obskit emits into in-memory collectors for a block.

Spans are recorded as users' programs record them: obskit's own span recorder
(`obskit._export.slim`) hands each finished span to the capture's processor, as it hands
it to obskit's export queues after `configure()` (`OBSKIT_SLIM_SPANS=false` makes them SDK
spans, in the capture as everywhere else). The processor keeps every span in an
`InMemorySpanExporter` the moment it ends. Metrics go into an `InMemoryMetricReader` (read,
cumulative, when asked). Routing goes through obskit's provider proxy, so tracers and
instruments created at import time -- before the capture existed -- record into it too.
"""

from __future__ import annotations

# Imported before any TracerProvider is built here: the SDK's provider registers an
# at-fork handler that re-detects resources in the child on a ThreadPoolExecutor, and
# that module's own at-fork handler (which frees its lock in the child) must run first,
# or a child forked while a capture's provider is alive hangs (handlers run in
# registration order).
import concurrent.futures.thread  # noqa: F401
import gc
import threading
from collections.abc import Callable
from types import TracebackType

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from obskit._export.slim import SlimSpan
from obskit._metrics import cells as _cells
from obskit._safety import secrets as _scrub
from obskit._setup import configure as _setup
from obskit.testing._deterministic import DeterministicIdGenerator, FakeClock, install_span_clock
from obskit.testing._metrics import SERVICE_NAME, CapturedMetric, points_from_sdk
from obskit.testing._query import SpanQueries
from obskit.testing._routing import Pin

__all__ = ["DEFAULT_SERVICE_NAME", "Capture"]

DEFAULT_SERVICE_NAME = "obskit-test"


class _Recorder(SpanProcessor):
    """The capture's span processor: finished spans into `exporter`, open ones remembered.

    It takes SDK spans (`on_start`/`on_end`, as the SDK's `SimpleSpanProcessor` into an
    in-memory exporter) and spans from obskit's own recorder (`on_slim_start`/
    `on_slim_end`, the calls obskit's queues get), so a capture sees the spans users' own
    programs make. Open spans are the leak check's.
    """

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter
        self._open: dict[int, tuple[Span, str]] = {}
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: context_api.Context | None = None) -> None:
        with self._lock:
            self._open[span.context.span_id] = (span, threading.current_thread().name)

    def on_slim_start(self, span: Span) -> None:
        with self._lock:
            self._open[span.context.span_id] = (span, threading.current_thread().name)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        with self._lock:
            self._open.pop(span.context.span_id, None)
        if span.context.trace_flags.sampled:  # as SimpleSpanProcessor
            self.exporter.export((span,))

    def on_slim_end(self, span: SlimSpan, size: int, dropped: str | None) -> None:
        # Kept whatever the queues would decide (`dropped` is "encode_error" for text
        # that cannot be encoded): a capture shows what the code made, as with SDK spans.
        with self._lock:
            self._open.pop(span.context.span_id, None)
        # The ReadableSpan every exporter but obskit's OTLP one gets from this span (the
        # OTLP one encodes the same fields); the live span is not kept, as with the SDK.
        self.exporter.export((span.readable(),))

    def still_open(self) -> list[tuple[Span, str]]:
        with self._lock:
            return sorted(self._open.values(), key=lambda item: item[0].start_time or 0)


class Capture(SpanQueries):
    """In-memory spans and metrics for one test (what the `obskit_capture` fixture yields).

    Use the fixture in tests; use the class directly to capture a block of code.
    `configure()` called while a capture is active does not take the routing away: the
    capture keeps receiving everything (`enabled=False` still turns obskit off), and a
    configuration made inside the block is shut down when it ends.

    Args:
        deterministic: count trace/span ids up from 1 and stamp spans with a `FakeClock`
            (1 s, 2 s, ...) so span data can be snapshotted exactly.
        check_leaks: whether `problems()` reports spans left open and context left attached.
        service_name: `service.name` of the capture's resource.
        seed: with `deterministic`, pseudo-random but repeatable ids instead of counting.

    Examples:
        >>> import obskit
        >>> with Capture() as capture:
        ...     with obskit.span("flush"):
        ...         obskit.counter("flushes").add(1)
        >>> capture.tree()
        'flush\\n'
        >>> capture.metric("flushes").value
        1
    """

    def __init__(
        self,
        *,
        deterministic: bool = False,
        check_leaks: bool = True,
        service_name: str = DEFAULT_SERVICE_NAME,
        seed: int | None = None,
    ) -> None:
        self.deterministic = deterministic
        self.check_leaks = check_leaks
        self.resource = Resource({SERVICE_NAME: service_name})
        #: The fake clock stamping spans when `deterministic`, else None.
        self.clock: FakeClock | None = FakeClock() if deterministic else None
        self.exporter = InMemorySpanExporter()
        self._recorder = _Recorder(self.exporter)
        self.tracer_provider = TracerProvider(
            resource=self.resource,
            sampler=ParentBased(ALWAYS_ON),
            id_generator=DeterministicIdGenerator(seed) if deterministic else None,
            shutdown_on_exit=False,
        )
        self.tracer_provider.add_span_processor(self._recorder)
        self.reader, self.meter_provider = self._new_metrics()
        self._pin = Pin(self.tracer_provider, self.meter_provider)
        self._replaced_clock: Callable[[], int] | None = None
        self._context = context_api.get_current()
        self._span_at_start: trace_api.Span = trace_api.INVALID_SPAN
        self._telemetry_at_start: _setup.Telemetry | None = None
        self._scrubbing_at_start = _scrub.current()
        self._hot_limit_at_start = _cells._limit[0]

    def _new_metrics(self) -> tuple[InMemoryMetricReader, MeterProvider]:
        reader = InMemoryMetricReader()
        provider = MeterProvider(
            metric_readers=[reader], resource=self.resource, shutdown_on_exit=False
        )
        return reader, provider

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Capture:
        """Start routing obskit here; remembers the context to check at `stop()`."""
        self._context = context_api.get_current()
        self._span_at_start = trace_api.get_current_span()
        self._telemetry_at_start = _setup.current()
        self._scrubbing_at_start = _scrub.current()
        self._hot_limit_at_start = _cells._limit[0]
        if self.clock is not None:
            self._replaced_clock = install_span_clock(self.clock)
        self._pin.hold()
        return self

    def problems(self) -> str | None:
        """Spans started and never ended, or context left attached, as a message (or None).

        Call it before `stop()`. A leaked context is detached here so it cannot spill
        into whatever runs next.

        Example::

            message = capture.problems()
            assert message is None, message
        """
        if not self.check_leaks:
            return None
        still_open = self._recorder.still_open()
        if still_open:
            gc.collect()  # an abandoned generator ends its span when it is collected
            still_open = self._recorder.still_open()
        lines: list[str] = []
        if still_open:
            lines.append(f"{len(still_open)} span(s) started during the test and never ended:")
            lines.extend(f"  {_describe_open(span, thread)}" for span, thread in still_open)
            lines.append(
                "  (a generator that was not run to the end, or a span started without `with`)"
            )
        current = trace_api.get_current_span()
        if current is not self._span_at_start:
            name = getattr(current, "name", None) or _span_label(current)
            lines.append(
                f"a context was left attached: the current span at teardown is {name!r}, "
                "not the one at setup (an attach() without detach(), or a span made current "
                "and never exited)"
            )
            context_api.attach(self._context)  # put the setup context back for what follows
        if not lines:
            return None
        lines.append(self._emitted())
        lines.append(
            "If this is intended, mark the test @pytest.mark.obskit_capture(check_leaks=False)."
        )
        return "\n".join(lines)

    def stop(self) -> None:
        """Restore the previous routing; shuts down a `configure()` made meanwhile."""
        try:
            if _setup.current() is not self._telemetry_at_start:
                _setup.shutdown()
        finally:
            _scrub.restore(self._scrubbing_at_start)  # configure(scrubbing=...) is per test
            # ... and so is configure(cardinality_limit=...) for the hot instruments.
            _cells.set_cardinality_limit(self._hot_limit_at_start)
            self._pin.release()
            if self._replaced_clock is not None:
                install_span_clock(self._replaced_clock)
                self._replaced_clock = None

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data ------------------------------------------------------------------------

    def _finished_spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def _metric_points(self) -> list[CapturedMetric]:
        return points_from_sdk(self.reader.get_metrics_data())

    def clear(self) -> None:
        """Forget the spans and metric values recorded so far (the clock restarts too).

        Example::

            warm_up_cache()
            obskit_capture.clear()
            run_query()
            assert obskit_capture.metric("cache.hits").value == 1
        """
        self.exporter.clear()
        # Cumulative points cannot be reset in place: route to a fresh meter provider.
        self.reader, self.meter_provider = self._new_metrics()
        self._pin.update(self.tracer_provider, self.meter_provider)
        if self.clock is not None:
            self.clock.reset()


def _span_label(span: trace_api.Span) -> str:
    context = span.get_span_context()
    return f"span {context.span_id:016x}" if context.is_valid else "an invalid span"


def _describe_open(span: Span, thread: str) -> str:
    parent = f", child of span {span.parent.span_id:016x}" if span.parent else ""
    return f"{span.name!r} (span {span.context.span_id:016x}, started on thread {thread}{parent})"
