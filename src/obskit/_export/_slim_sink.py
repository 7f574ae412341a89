"""Where obskit's slim spans go: one `SlimSink` per SDK tracer (resource, scope, limits,
queues), and `sink_for`, which decides whether a tracer may use the slim recorder at all.

Split from obskit._export._slim (the span itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as _sdk_trace
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext

from obskit._export import _slim
from obskit._export._slim import _NO_STATE, _SIMPLE, _UNSET, SlimSpan

__all__ = ["SlimSink", "WatchedSlimSink", "sink_for"]


class SlimSink:
    """Where slim spans of one SDK tracer go: its resource, scope, limits and queues."""

    __slots__ = (
        "instrumentation_info",
        "instrumentation_scope",
        "max_attributes",
        "max_event_attributes",
        "max_events",
        "max_length",
        "max_link_attributes",
        "max_links",
        "max_value_length",
        "multi",
        "processors",
        "queues",
        "resource",
    )

    def __init__(self, tracer: Any, queues: tuple[Any, ...]) -> None:
        limits = tracer._span_limits
        self.resource = tracer.resource
        self.instrumentation_scope = tracer._instrumentation_scope
        self.instrumentation_info = tracer.instrumentation_info
        self.max_attributes = limits.max_span_attributes
        self.max_value_length = limits.max_span_attribute_length
        self.max_length = limits.max_attribute_length
        self.max_events = limits.max_events
        self.max_links = limits.max_links
        self.max_event_attributes = limits.max_event_attributes
        self.max_link_attributes = limits.max_link_attributes
        self.queues = queues
        self.multi = tracer.span_processor
        self.processors = self.multi._span_processors

    def live(self) -> bool:
        """Whether the provider's processors are still exactly the queues bound here."""
        return self.multi._span_processors is self.processors

    def start(
        self,
        name: str,
        parent: SpanContext | None,
        kind: trace_api.SpanKind,
        attributes: Mapping[str, Any] | None,
        links: Any,
        trace_id: int,
        span_id: int,
        flags: trace_api.TraceFlags,
    ) -> trace_api.Span:
        """A sampled `SlimSpan` with these ids, started now (`parent` None for a root)."""
        span = SlimSpan.__new__(SlimSpan)
        span._name = name
        span._context = tuple.__new__(
            SpanContext, (trace_id, span_id, False, flags, _NO_STATE, True)
        )
        span._parent = parent
        span._kind = kind
        span._sink = self
        span._attributes = self._attributes(attributes) if attributes else {}
        span._events = None
        span._busy = None
        span._links = self._links(links) if links else None
        span._status = _UNSET
        span._end_time = None
        span._start_time = _sdk_trace.time_ns()  # type: ignore[attr-defined]
        return span  # type: ignore[return-value]  # a virtual subclass of trace_api.Span

    def _attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any] | BoundedAttributes:
        limit = self.max_value_length
        if self.max_attributes is None or len(attributes) <= self.max_attributes:
            for key, value in attributes.items():
                kind = type(value)
                if not (
                    type(key) is str
                    and key
                    and (
                        kind in _SIMPLE or (kind is str and (limit is None or len(value) <= limit))
                    )
                ):
                    break
            else:
                return dict(attributes)
        return BoundedAttributes(
            self.max_attributes, attributes, immutable=False, max_value_len=limit
        )

    def _links(self, links: Sequence[Any]) -> BoundedList[Any] | None:
        valid = []
        for link in links:
            if link and _sdk_trace._is_valid_link(link.context, link.attributes):
                link._attributes = BoundedAttributes(
                    self.max_link_attributes,
                    link.attributes,
                    max_value_len=self.max_length,
                    immutable=True,
                )
                valid.append(link)
        return BoundedList.from_seq(self.max_links, valid)


class WatchedSlimSink(SlimSink):
    """A `SlimSink` whose processors also hear when a span starts (`on_slim_start(span)`).

    The testing capture's processor wants that (its check for spans left open); obskit's
    queues do not, so the default path never pays for the call.
    """

    __slots__ = ("watchers",)

    def __init__(self, tracer: Any, queues: tuple[Any, ...], watchers: tuple[Any, ...]) -> None:
        super().__init__(tracer, queues)
        self.watchers = watchers

    def start(
        self,
        name: str,
        parent: SpanContext | None,
        kind: trace_api.SpanKind,
        attributes: Mapping[str, Any] | None,
        links: Any,
        trace_id: int,
        span_id: int,
        flags: trace_api.TraceFlags,
    ) -> trace_api.Span:
        span = SlimSink.start(self, name, parent, kind, attributes, links, trace_id, span_id, flags)
        for on_start in self.watchers:
            on_start(span)
        return span


def sink_for(provider: Any, tracer: Any) -> SlimSink | None:
    """A sink for `tracer` when every processor of `provider` takes slim spans.

    A processor takes them when it has `on_slim_end(span, size, dropped)`: obskit's queues,
    and the testing capture's processor (which also has `on_slim_start(span)`). None (the
    SDK path) when the switch is off, the provider or tracer is not the SDK's (or has the
    SDK's experimental tracer metrics on), or any processor is someone else's.
    """
    if not _slim.ENABLED:  # read here: tests and benchmarks switch it
        return None
    try:
        multi = tracer.span_processor
        processors = multi._span_processors
        if (
            not processors
            or provider._active_span_processor is not multi
            or type(tracer._tracer_metrics).__name__ != "NoOpTracerMetrics"
            or not tracer._is_enabled()
            or not all(callable(getattr(p, "on_slim_end", None)) for p in processors)
        ):
            return None
        watchers = tuple(
            p.on_slim_start for p in processors if callable(getattr(p, "on_slim_start", None))
        )
        if watchers:
            return WatchedSlimSink(tracer, tuple(processors), watchers)
        return SlimSink(tracer, tuple(processors))
    except Exception:  # not the SDK's shapes: keep the SDK path
        return None
