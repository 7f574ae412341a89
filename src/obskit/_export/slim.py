"""obskit's own span recorder: the slim span, and where it goes.

A `SlimSpan` is written straight into obskit's span queues, without the SDK's span
processors; one `SlimSink` per SDK tracer holds what it needs (resource, scope, limits,
queues), and `sink_for` decides whether a tracer may use the recorder at all. The OTLP
encoder writes a slim span to the same bytes as an SDK span
(tests/core/test_recorder_end_to_end.py). `OBSKIT_SLIM_SPANS=false` gives SDK spans.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as _sdk_trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext, Status, StatusCode

from obskit._export.budget import (
    _FIELD_OVERHEAD,
    _SPAN_OVERHEAD,
    NotEncodable,
    _attributes_size,
    _text_size,
)

__all__ = ["ENABLED", "SlimSink", "SlimSpan", "WatchedSlimSink", "sink_for", "slim_span_size"]

#: obskit's slim recorder is used where obskit owns the providers unless the environment
#: says `OBSKIT_SLIM_SPANS=false` (then every span is the SDK's). Read when a span recipe
#: binds to a provider: set it before `obskit.configure()`.
ENABLED = os.environ.get("OBSKIT_SLIM_SPANS", "true").strip().lower() not in {
    "0",
    "false",
    "no",
    "off",
}

_sdk_logger = logging.getLogger(_sdk_trace.__name__)  # the SDK's warnings, word for word
_UNSET = Status(StatusCode.UNSET)  # ReadableSpan's default status object
# One lock for every slim span, held for a few dict operations: end() hands a span to the
# queues exactly once, and attributes, events, links and status change as under the SDK
# span's own lock (the limits hold and nothing is lost with threads writing at once).
# Re-entrant: code that interrupts a section on this thread (a GC callback, a finalizer,
# a signal or logging handler) must never wait for it; see "Re-entry" above.
_lock = threading.RLock()
# Writes to a span that was busy on this thread when they came: (method, span, args),
# applied in order by the outermost section once it ends (`_apply_pending`). Only the
# thread holding `_lock` appends, and it empties the list before it lets go of the lock.
_pending: list[tuple[Any, SlimSpan, tuple[Any, ...]]] = []


def _new_lock_in_child() -> None:
    # A fork while another thread held the lock would leave it held forever in the child;
    # spans that thread marked busy hold the old lock object, so they are not busy here.
    global _lock
    _lock = threading.RLock()
    SlimSpan._lock = _lock
    _pending.clear()


def _apply_pending() -> None:
    """Apply the writes queued by re-entry, once this thread has left every section."""
    if _lock._is_owned():  # type: ignore[attr-defined]  # still inside an outer section
        return
    with _lock:
        writes = _pending[:]
        del _pending[:]
    for method, span, args in writes:
        method(span, *args)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)
_SIMPLE = frozenset((bool, int, float))
_SAMPLED = trace_api.TraceFlags.SAMPLED
_RANDOM = trace_api.TraceFlags.RANDOM_TRACE_ID
_NO_STATE = trace_api.DEFAULT_TRACE_STATE


class SlimSpan:
    """A sampled span recorded by obskit itself (see the module docstring).

    Behaves as the SDK's span does through the OpenTelemetry `Span` API, and reads as a
    `ReadableSpan` (same properties) for whoever gets it from obskit's queues.
    """

    __slots__ = (
        "__weakref__",  # as SDK spans: obskit's GC-pause events and hot caches key by span
        "_attributes",
        "_busy",
        "_context",
        "_end_time",
        "_events",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_sink",
        "_start_time",
        "_status",
    )

    # Not a slot: the one module lock, named as the SDK span's own lock (obskit's GC
    # callback, runtime._gc, tries it without waiting).
    _lock = _lock

    _attributes: dict[str, Any] | BoundedAttributes
    _busy: Any  # `_lock` while a section on this thread changes the span, else None
    _context: SpanContext
    _end_time: int | None
    _events: BoundedList[Any] | None
    _kind: trace_api.SpanKind
    _links: BoundedList[Any] | None
    _name: str
    _parent: SpanContext | None
    _sink: Any  # an obskit._export.slim.SlimSink
    _start_time: int
    _status: Status

    # --- the Span API -------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    # Each method that changes the span: take the lock; if this thread is already inside a
    # section changing this span (re-entry), queue the call for after it; else mark the
    # span busy for the section. Measured cost: docs/architecture.md, "Locks and re-entry".

    def set_attribute(self, key: str, value: Any) -> None:
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan.set_attribute, self, (key, value)))
                return
            if self._end_time is None:
                self._busy = lock
                try:
                    held = self._attributes
                    if type(held) is dict and type(key) is str and key:
                        kind = type(value)
                        limit = self._sink.max_value_length
                        if kind in _SIMPLE or (
                            kind is str and (limit is None or len(value) <= limit)
                        ):
                            if key in held:
                                del held[key]  # the SDK moves a key set again to the end
                                held[key] = value
                                return
                            maximum = self._sink.max_attributes
                            if maximum is None or len(held) < maximum:
                                held[key] = value
                                return
                    self._bounded()[key] = value
                    return
                finally:
                    self._busy = None
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        _sdk_logger.warning("Setting attribute on ended span.")

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan.set_attributes, self, (attributes,)))
                return
            if self._end_time is None:
                self._busy = lock
                try:
                    held = self._attributes
                    if type(held) is dict:
                        limit = self._sink.max_value_length
                        maximum = self._sink.max_attributes
                        for key, value in attributes.items():
                            kind = type(value)
                            if not (
                                type(key) is str
                                and key
                                and (
                                    kind in _SIMPLE
                                    or (kind is str and (limit is None or len(value) <= limit))
                                )
                                and (key in held or maximum is None or len(held) < maximum)
                            ):
                                # This key and the rest by the SDK's rules (keys are unique:
                                # the rest starts where this key is). No copy on the way.
                                attributes = _from_key(attributes, key)
                                break
                            held.pop(key, None)
                            held[key] = value
                        else:
                            return
                    self._bounded()._set_items(attributes)
                    return
                finally:
                    self._busy = None
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        _sdk_logger.warning("Setting attribute on ended span.")

    def _bounded(self) -> BoundedAttributes:
        """The attributes in the SDK's own container from now on (called under `_lock`)."""
        held = self._attributes
        if type(held) is dict:
            # From here on: the SDK's cleaning, eviction and dropped count.
            bounded = BoundedAttributes(
                self._sink.max_attributes,
                immutable=False,
                max_value_len=self._sink.max_value_length,
            )
            bounded._dict.update(held)  # already clean: no second pass, same order
            self._attributes = held = bounded
        return held  # type: ignore[return-value]

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        sink = self._sink
        bounded = BoundedAttributes(
            sink.max_event_attributes, attributes, max_value_len=sink.max_length, immutable=True
        )
        self._add_event(Event(name=name, attributes=bounded, timestamp=timestamp))

    def _add_event(self, event: Event) -> None:
        """Add an event already built (by `add_event`, or queued by re-entry)."""
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan._add_event, self, (event,)))
                return
            if self._end_time is None:
                self._busy = lock
                try:
                    events = self._events
                    if events is None:
                        self._events = events = BoundedList(self._sink.max_events)
                    events.append(event)
                    return
                finally:
                    self._busy = None
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        _sdk_logger.warning("Tried calling %s on an ended span.", "_add_event")

    def add_link(self, context: SpanContext, attributes: Mapping[str, Any] | None = None) -> None:
        if not _sdk_trace._is_valid_link(context, attributes):
            return
        sink = self._sink
        bounded = BoundedAttributes(
            sink.max_link_attributes, attributes, max_value_len=sink.max_length, immutable=True
        )
        link = trace_api.Link(context=context, attributes=bounded)
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan.add_link, self, (context, attributes)))
                return
            if self._end_time is None:
                self._busy = lock
                try:
                    links = self._links
                    if links is None:
                        self._links = links = BoundedList(sink.max_links)
                    links.append(link)
                    return
                finally:
                    self._busy = None
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        _sdk_logger.warning("Tried calling %s on an ended span.", "_add_link")

    def update_name(self, name: str) -> None:
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan.update_name, self, (name,)))
                return
            if self._end_time is None:
                self._name = name  # one store: nothing to interrupt
                return
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        _sdk_logger.warning("Tried calling %s on an ended span.", "update_name")

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        ignored = None
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan.set_status, self, (status, description)))
                return
            self._busy = lock
            try:
                if self._end_time is not None:
                    ignored = "ended"
                elif self._status.status_code is StatusCode.OK:
                    pass  # an OK status is final
                elif isinstance(status, Status):
                    if status.status_code is not StatusCode.UNSET:
                        if description is not None:
                            ignored = "description"
                        self._status = status
                elif isinstance(status, StatusCode) and status is not StatusCode.UNSET:
                    self._status = Status(status, description)
            finally:
                self._busy = None
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        if ignored == "ended":
            _sdk_logger.warning("Tried calling %s on an ended span.", "set_status")
        elif ignored == "description":
            _sdk_logger.warning(
                "Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                description,
            )

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # The SDK's own method, run on this span: the same event, word for word.
        _sdk_trace.Span.record_exception(self, exception, attributes, timestamp, escaped)  # type: ignore[arg-type]

    def end(self, end_time: int | None = None) -> None:
        lock = _lock
        lock.acquire()
        try:
            if self._busy is lock:
                _pending.append((SlimSpan.end, self, (end_time,)))
                return
            if self._end_time is not None:
                ended = True
            else:
                ended = False
                self._busy = lock
                try:
                    self._end_time = end_time if end_time is not None else _sdk_trace.time_ns()  # type: ignore[attr-defined]
                    held = self._attributes
                    if type(held) is not dict:
                        held._immutable = True  # type: ignore[union-attr]
                finally:
                    self._busy = None
        finally:
            lock.release()
            if _pending:
                _apply_pending()
        if ended:
            _sdk_logger.warning("Calling end() on an ended span.")
            return
        if lock._is_owned():  # type: ignore[attr-defined]
            # Ended by code that interrupted a section of this thread: hand it over once
            # the section ends, so that nothing waits for a queue's lock while holding
            # this one (another thread may hold that one and wait for this one).
            _pending.append((SlimSpan._hand_off, self, ()))
            return
        self._hand_off()

    def _hand_off(self) -> None:
        """Give the ended span to the queues (or to the provider's processors)."""
        dropped = None
        try:
            size = slim_span_size(self)
        except NotEncodable:
            size, dropped = 0, "encode_error"
        except Exception:  # as SpanQueue.on_end: a span it cannot measure counts as small
            size = 0
        sink = self._sink
        if not sink.live():
            # A processor was added (or removed) after this span started: hand it to the
            # provider's processors as the SDK span would, as a ReadableSpan.
            try:
                sink.multi.on_end(self.readable())
            except Exception:
                _sdk_logger.exception("Exception while ending a span")
            return
        for queue in sink.queues:
            queue.on_slim_end(self, size, dropped)

    def __enter__(self) -> SlimSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        # As the SDK span used as a context manager (record_exception and
        # set_status_on_exception are on for tracers obskit binds).
        if exc_val is not None and self.is_recording():
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    # --- the ReadableSpan view --------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def context(self) -> SpanContext:
        return self._context

    @property
    def parent(self) -> SpanContext | None:
        return self._parent

    @property
    def kind(self) -> trace_api.SpanKind:
        return self._kind

    @property
    def start_time(self) -> int:
        return self._start_time

    @property
    def end_time(self) -> int | None:
        return self._end_time

    @property
    def status(self) -> Status:
        return self._status

    @property
    def attributes(self) -> Mapping[str, Any]:
        return MappingProxyType(self._attributes)

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events) if self._events else ()

    @property
    def links(self) -> tuple[trace_api.Link, ...]:
        return tuple(self._links) if self._links else ()

    @property
    def dropped_attributes(self) -> int:
        return getattr(self._attributes, "dropped", 0)

    @property
    def dropped_events(self) -> int:
        return self._events.dropped if self._events is not None else 0

    @property
    def dropped_links(self) -> int:
        return self._links.dropped if self._links is not None else 0

    @property
    def resource(self) -> Any:
        return self._sink.resource

    @property
    def instrumentation_scope(self) -> Any:
        return self._sink.instrumentation_scope

    @property
    def instrumentation_info(self) -> Any:
        return self._sink.instrumentation_info

    def readable(self) -> ReadableSpan:
        """The SDK `ReadableSpan` of this (ended) span, for exporters that need one."""
        sink = self._sink
        return ReadableSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=sink.resource,
            attributes=self._attributes,
            events=self._events if self._events is not None else BoundedList(sink.max_events),
            links=self._links if self._links is not None else BoundedList(sink.max_links),
            kind=self._kind,
            status=self._status,
            start_time=self._start_time,
            end_time=self._end_time,
            instrumentation_info=sink.instrumentation_info,
            instrumentation_scope=sink.instrumentation_scope,
        )

    _readable_span = readable  # the SDK span's name for the same thing

    def to_json(self, indent: int | None = 4) -> str:
        """The SDK's JSON rendering of this span (as `ReadableSpan.to_json`)."""
        text: str = self.readable().to_json(indent)
        return text

    def __repr__(self) -> str:  # as the SDK's spans show in logs
        return f'_Span(name="{self._name}", context={self._context})'


trace_api.Span.register(SlimSpan)


def _from_key(attributes: Mapping[str, Any], key: object) -> dict[str, Any]:
    """The items of `attributes` from `key` on, in order."""
    found: dict[str, Any] = {}
    for name, value in attributes.items():
        if found or name == key:
            found[name] = value
    return found


def slim_span_size(span: SlimSpan) -> int:
    """`_budget.span_size(span)` read from the slots (the same estimate, fewer copies)."""
    name = span._name
    size = _SPAN_OVERHEAD + (len(name) if name.isascii() else _text_size(name))
    if span._attributes:
        size += _attributes_size(span._attributes)
    if span._events:
        for event in span._events:
            size += _FIELD_OVERHEAD + _text_size(event.name) + _attributes_size(event.attributes)
    if span._links:
        for link in span._links:
            size += _SPAN_OVERHEAD // 2 + _attributes_size(link.attributes)
    description = span._status.description
    if description:
        size += _text_size(description)
    return size


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
    if not ENABLED:  # read here: tests and benchmarks switch it
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
