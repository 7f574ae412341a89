"""obskit's OTLP encoder against the SDK's: same message, and the same bytes."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from obskit._export import encoder as _otlp_encode
from obskit._export.encoder import Unsupported, encode_request, serialize_spans

_VALUES: list[Any] = [
    "",
    "plain",
    "ünïcödé ✓ 日本語 🙂",
    "x" * 300,  # beyond the cached-value length
    True,
    False,
    0,
    1,
    127,
    128,
    16_383,
    16_384,
    -1,
    -(2**63),
    2**63 - 1,
    0.0,
    -0.0,
    1.5,
    -2.25e300,
    float("inf"),
    b"",
    b"\x00\xffbytes",
    (),
    ("a", "", "ü"),
    (1, -2, 3),
    (1.5, 2.5),
    (True, False),
    [b"x", b""],
]


def _assert_same(spans: Sequence[ReadableSpan]) -> None:
    expected = encode_spans(spans).SerializeToString()
    ours = encode_request(spans)
    parsed = ExportTraceServiceRequest.FromString(ours)
    assert parsed == ExportTraceServiceRequest.FromString(expected)
    # Both write fields in field-number order, so the bytes match too.
    assert ours == expected


def _context(rng: random.Random, remote: bool = False, state: TraceState | None = None) -> Any:
    return SpanContext(
        rng.getrandbits(128) or 1,
        rng.getrandbits(64) or 1,
        is_remote=remote,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=state,
    )


def _random_attributes(rng: random.Random) -> dict[str, Any]:
    return {
        f"k{i}.{rng.choice(['a', 'ü', ''])}": rng.choice(_VALUES) for i in range(rng.randint(0, 6))
    }


def _many_spans(seed: int, count: int) -> list[ReadableSpan]:
    rng = random.Random(seed)
    resources = [
        Resource.create({"service.name": "a"}),
        Resource({"service.name": "b", "n": 3, "list": ("x", "y")}, schema_url="https://s/1"),
        Resource({}),
        Resource({"service.name": "a"}),  # a second, equal object: merged like the SDK does
    ]
    providers = [TracerProvider(resource=r, shutdown_on_exit=False) for r in resources]
    scopes = [
        ("lib", None, None, None),
        ("lib", "1.0", None, None),
        ("other", "2", "https://schema/2", {"scope.attr": "v", "n": 1}),
        ("ünï", "", None, None),
    ]
    kinds = list(SpanKind)
    statuses = [
        None,
        Status(StatusCode.OK),
        Status(StatusCode.ERROR),
        Status(StatusCode.ERROR, "boom ü"),
        Status(StatusCode.UNSET),
    ]
    spans: list[ReadableSpan] = []
    for i in range(count):
        provider = rng.choice(providers)
        name, version, schema, attrs = rng.choice(scopes)
        tracer = provider.get_tracer(name, version, schema_url=schema, attributes=attrs)
        parent_choice = rng.random()
        context = None
        if parent_choice < 0.3:
            from opentelemetry.trace import NonRecordingSpan, set_span_in_context

            state = TraceState([("vendor", "v1"), ("other", "x")]) if rng.random() < 0.5 else None
            parent = _context(rng, remote=rng.random() < 0.5, state=state)
            context = set_span_in_context(NonRecordingSpan(parent))
        links = [
            Link(_context(rng, remote=rng.random() < 0.5), attributes=_random_attributes(rng))
            for _ in range(rng.randint(0, 2))
        ]
        span = tracer.start_span(
            rng.choice(["op", "", "ünï op", f"op-{i}"]),
            context=context,
            kind=rng.choice(kinds),
            attributes=_random_attributes(rng),
            links=links,
        )
        for _ in range(rng.randint(0, 3)):
            span.add_event(rng.choice(["ev", "", "é"]), _random_attributes(rng))
        status = rng.choice(statuses)
        if status is not None:
            span.set_status(status)
        span.end()
        spans.append(span)  # type: ignore[arg-type]
    return spans


@pytest.mark.parametrize("seed", range(8))
def test_random_batches_encode_like_the_sdk(seed: int) -> None:
    spans = _many_spans(seed, 200)
    _assert_same(spans)
    _assert_same(spans[:1])


def test_an_empty_batch_is_empty() -> None:
    assert encode_request([]) == encode_spans([]).SerializeToString() == b""


def test_span_limits_dropped_counts_are_encoded() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    provider = TracerProvider(
        shutdown_on_exit=False,
        span_limits=SpanLimits(max_attributes=2, max_events=1, max_links=1, max_event_attributes=1),
    )
    rng = random.Random(1)
    span = provider.get_tracer("t").start_span(
        "limited",
        attributes={"a": 1, "b": 2, "c": 3},
        links=[Link(_context(rng)), Link(_context(rng))],
    )
    span.add_event("e1", {"x": 1, "y": 2})
    span.add_event("e2")
    span.end()
    assert span.dropped_attributes == 1
    assert span.dropped_events == 1
    assert span.dropped_links == 1
    _assert_same([span])  # type: ignore[list-item]


def test_dropped_counts_are_encoded_when_nothing_was_kept() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    provider = TracerProvider(
        shutdown_on_exit=False,
        span_limits=SpanLimits(max_attributes=0, max_events=0, max_links=0),
    )
    rng = random.Random(3)
    span = provider.get_tracer("t").start_span(
        "nothing kept", attributes={"a": 1}, links=[Link(_context(rng)), Link(_context(rng))]
    )
    span.add_event("e1")
    span.end()
    assert (span.dropped_attributes, span.dropped_events, span.dropped_links) == (1, 1, 2)
    _assert_same([span])  # type: ignore[list-item]


def test_plain_readable_spans_and_subclasses_take_the_generic_path() -> None:
    rng = random.Random(2)

    class Custom(ReadableSpan):
        @property
        def name(self) -> str:
            return "custom " + self._name

    made = [
        cls(
            name="n",
            context=_context(rng, state=TraceState([("a", "b")])),
            parent=_context(rng, remote=True),
            resource=Resource({"r": 1}),
            attributes={"k": "v", "i": -5, "kv": "ü"},
            kind=SpanKind.CONSUMER,
            status=Status(StatusCode.ERROR, "bad"),
            start_time=1,
            end_time=2**64 - 1,
            instrumentation_scope=InstrumentationScope("s", "1"),
            links=[Link(_context(rng), {"l": 1.0})],
        )
        for cls in (ReadableSpan, Custom)
    ]
    assert type(made[1]) not in _otlp_encode._DIRECT
    _assert_same(made)
    # No scope, no start, no status: the SDK writes an empty scope and status message.
    bare = ReadableSpan(name="bare", context=_context(rng), status=None)  # type: ignore[arg-type]
    _assert_same([bare])


def test_mapping_and_other_values_the_generic_value_path_encodes() -> None:
    from enum import IntEnum

    class Level(IntEnum):
        HIGH = 7

    class Text(str):
        pass

    span = ReadableSpan(
        name="values",
        context=_context(random.Random(3)),
        attributes={
            "map": {"a": 1, 2: ["x", None], "nested": {"b": b"y"}},
            "none": None,
            "enum": Level.HIGH,
            "text": Text("sub"),
            "array_with_none": [None, 1],
            "bytearray": bytearray(b"ab"),  # the SDK treats it as a Sequence of ints
        },
    )
    _assert_same([span])


def test_values_the_sdk_skips_go_to_the_sdk_encoder(caplog: pytest.LogCaptureFixture) -> None:
    span = ReadableSpan(
        name="big", context=_context(random.Random(4)), attributes={"big": 2**64, "ok": 1}
    )
    with pytest.raises(Unsupported):
        encode_request([span])
    with caplog.at_level(logging.WARNING):
        body = serialize_spans([span])
    assert body == encode_spans([span]).SerializePartialToString()
    parsed = ExportTraceServiceRequest.FromString(body)
    keys = [kv.key for kv in parsed.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert keys == ["ok"]  # the SDK skipped the unencodable attribute


def test_lone_surrogates_raise_like_the_sdk() -> None:
    span = ReadableSpan(name="bad\ud800", context=_context(random.Random(5)))
    with pytest.raises(UnicodeEncodeError):
        encode_request([span])
    with pytest.raises(Exception):  # noqa: B017 - the SDK's encoder rejects it too
        serialize_spans([span])


def test_caches_do_not_leak_between_objects() -> None:
    # Many distinct resources and long-lived keys: the identity caches stay bounded and
    # never answer for a different object.
    for i in range(_otlp_encode._OBJECT_CACHE_LIMIT * 2 + 3):
        span = ReadableSpan(
            name="r",
            context=_context(random.Random(i)),
            resource=Resource({"i": i}),
            instrumentation_scope=InstrumentationScope(f"s{i}"),
            attributes={f"key{i}": f"value{i}"},
        )
        _assert_same([span])
    assert len(_otlp_encode._RESOURCES) <= _otlp_encode._OBJECT_CACHE_LIMIT
    assert len(_otlp_encode._SCOPES) <= _otlp_encode._OBJECT_CACHE_LIMIT


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_otlp_exporters_configure_builds_send_our_bytes(protocol: str) -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    from obskit._config import Settings
    from obskit._export.otlp import (
        _fast_grpc_span_exporter,
        _fast_http_span_exporter,
        _otlp_span_exporter,
    )
    from obskit.testing._receiver import OTLPReceiver

    spans = _many_spans(11, 50)
    transport = "grpc" if protocol == "grpc" else "http"
    with OTLPReceiver() as receiver:
        endpoint = (
            f"http://{receiver.grpc_endpoint}" if protocol == "grpc" else receiver.http_endpoint
        )
        factory = _otlp_span_exporter(Settings(otlp_endpoint=endpoint, otlp_protocol=protocol))
        assert factory is not None
        exporter = factory()
        expected_class = (
            _fast_grpc_span_exporter() if protocol == "grpc" else _fast_http_span_exporter()
        )
        assert type(exporter) is expected_class
        try:
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            received = receiver.wait_for_spans(len(spans), timeout=10)
            assert receiver.request_sizes[transport] == [len(encode_request(spans))]
        finally:
            exporter.shutdown()
    sent = {(s.name, s.context.span_id): dict(s.attributes or {}) for s in spans}
    got = {(s.name, s.context.span_id): dict(s.attributes or {}) for s in received}
    assert got == sent


def test_the_http_exporter_falls_back_to_the_sdk_encoder() -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    from obskit._export.otlp import _fast_http_span_exporter
    from obskit.testing._receiver import OTLPReceiver

    span = ReadableSpan(
        name="fallback", context=_context(random.Random(6)), attributes={"big": 2**64, "ok": 1}
    )
    with OTLPReceiver() as receiver:
        exporter = _fast_http_span_exporter()(endpoint=receiver.http_endpoint + "/v1/traces")
        try:
            assert exporter.export([span]) is SpanExportResult.SUCCESS
            (received,) = receiver.wait_for_spans(1, timeout=10)
        finally:
            exporter.shutdown()
    assert received.name == "fallback"
    assert dict(received.attributes or {}) == {"ok": 1}


# --- spans from obskit's own recorder (obskit._export.slim) ---------------------------
# Each scenario runs the same calls on an SDK span and on a slim span of the same tracer,
# with the same ids and a frozen clock, and compares the bytes both encoders write.


class _Collect(SpanProcessor):
    """A processor shaped like obskit's SpanQueue: collects SDK and slim spans at end."""

    def __init__(self) -> None:
        self.ended: list[Any] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        self.ended.append(span)

    def on_slim_end(self, span: Any, size: int = 0, dropped: Any = None) -> None:
        self.ended.append(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class _SameIds:
    """An id generator handing out the ids the slim span is given too."""

    trace_id = 0
    span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id

    def is_trace_id_random(self) -> bool:
        return True


def _twins(limits: Any = None) -> tuple[Any, Any, _Collect, _SameIds]:
    from opentelemetry.sdk.trace import SpanLimits

    from obskit._export import slim as _slim
    from obskit._export import slim as _slim_sink

    ids = _SameIds()
    provider = TracerProvider(
        resource=Resource({"service.name": "twins"}),
        id_generator=ids,  # type: ignore[arg-type]
        shutdown_on_exit=False,
        span_limits=limits or SpanLimits(max_attribute_length=4096),
    )
    collect = _Collect()
    provider.add_span_processor(collect)  # type: ignore[arg-type]
    tracer = provider.get_tracer("obskit", "0.1.0", "https://opentelemetry.io/schemas/1.37.0")
    switch, _slim.ENABLED = _slim.ENABLED, True
    try:
        sink = _slim_sink.sink_for(provider, tracer)
    finally:
        _slim.ENABLED = switch
    assert sink is not None
    return tracer, sink, collect, ids


_PARENTS = [
    None,
    SpanContext(7, 8, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
    SpanContext(9, 10, is_remote=True, trace_flags=TraceFlags(0x03)),
]


def _both(
    script: Any,
    *,
    attributes: dict[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Any = None,
    limits: Any = None,
    parent: Any = None,
) -> tuple[Any, Any]:
    """(SDK span, slim span) after `script(span)` on each; both ended, same ids and times."""
    from opentelemetry.trace import NonRecordingSpan, set_span_in_context

    from obskit._trace.recipe import _CHILD_FLAGS
    from obskit.testing import frozen_span_clock

    tracer, sink, collect, ids = _twins(limits)
    ids.trace_id = parent.trace_id if parent is not None else 0x1234
    ids.span_id = 0x55
    context = set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
    flags = _CHILD_FLAGS[(parent.trace_flags if parent is not None else 0x02) & 0x02]
    with frozen_span_clock():
        sdk = tracer.start_span("op", context, kind, attributes, links() if links else None)
        script(sdk)
        sdk.end()
    with frozen_span_clock():
        slim = sink.start(
            "op", parent, kind, attributes, links() if links else None, ids.trace_id, 0x55, flags
        )
        script(slim)
        slim.end()
    readable, ended_slim = collect.ended
    assert ended_slim is slim
    assert slim.get_span_context() == sdk.get_span_context()
    assert slim.get_span_context().trace_flags == sdk.get_span_context().trace_flags
    return readable, slim


def _assert_twins(readable: Any, slim: Any) -> None:
    from obskit._export.budget import span_size
    from obskit._export.slim import slim_span_size

    expected = encode_spans([readable]).SerializeToString()
    assert encode_request([slim]) == expected  # obskit's encoder, slim span
    assert encode_spans([slim]).SerializeToString() == expected  # the SDK's, on its properties
    assert encode_request([slim.readable()]) == expected  # the ReadableSpan built for exporters
    assert encode_request([readable, slim]) == encode_spans([readable, slim]).SerializeToString()
    assert slim_span_size(slim) == span_size(readable) == span_size(slim)
    assert dict(slim.attributes) == dict(readable.attributes)
    assert slim.dropped_attributes == readable.dropped_attributes
    assert slim.dropped_events == readable.dropped_events
    assert slim.dropped_links == readable.dropped_links


@pytest.mark.parametrize("parent", _PARENTS)
@pytest.mark.parametrize("kind", list(SpanKind))
def test_slim_spans_encode_like_sdk_spans_every_attribute_type(parent: Any, kind: SpanKind) -> None:
    start = {f"start.{i}": value for i, value in enumerate(_VALUES)}

    def script(span: Any) -> None:
        for i, value in enumerate(_VALUES):
            span.set_attribute(f"set.{i}", value)
        span.set_attribute("start.3", "set again: moves to the end")
        span.set_attributes({"many.a": 1, "many.b": [1, 2], "many.c": "x"})

    _assert_twins(*_both(script, attributes=start, kind=kind, parent=parent))


def test_slim_spans_events_links_status_and_names_like_sdk_spans() -> None:
    rng = random.Random(12)
    contexts = [_context(rng, remote=rng.random() < 0.5) for _ in range(3)]

    def links() -> list[Link]:
        return [
            Link(contexts[0], {"link.n": 1, "link.s": "v"}),
            Link(contexts[1]),
            Link(trace_api_invalid(), {}),  # invalid and bare: the SDK leaves it out
            Link(trace_api_invalid(), {"kept": True}),  # invalid with attributes: kept
        ]

    def script(span: Any) -> None:
        span.add_event("first", {"e.int": 3, "e.list": ("a", "b"), "e.float": 0.5})
        span.add_event("", None, timestamp=123)
        span.add_link(contexts[2], {"late": "link"})
        span.add_link(trace_api_invalid())  # ignored by both
        span.update_name("renamed ü")
        span.set_status(Status(StatusCode.ERROR, "boom"))
        span.set_status(StatusCode.UNSET)  # ignored
        span.set_status(StatusCode.OK)
        span.set_status(StatusCode.ERROR, "after OK: ignored")

    _assert_twins(*_both(script, links=links, kind=SpanKind.SERVER))


def trace_api_invalid() -> Any:
    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    return INVALID_SPAN_CONTEXT


@pytest.mark.parametrize("error", [True, False])
def test_slim_spans_record_exceptions_like_sdk_spans(error: bool) -> None:
    from obskit._safety.errors import record_exception

    def raised() -> BaseException:
        try:
            raise ValueError("password=hunter2 in 'literal' ü")
        except ValueError as exc:
            return exc

    exc = raised()

    def script(span: Any) -> None:
        record_exception(span, exc, error=error)  # obskit's: scrubbed, then status
        span.record_exception(KeyError("k"), {"extra": 1}, timestamp=5, escaped=True)  # OTel's

    readable, slim = _both(script)
    _assert_twins(readable, slim)
    message = dict(slim.events[0].attributes)["exception.message"]
    assert "hunter2" not in message  # scrubbing applies to slim spans too
    assert slim.status.status_code is (StatusCode.ERROR if error else StatusCode.UNSET)


def test_slim_spans_as_context_managers_record_like_sdk_spans() -> None:
    from obskit.testing import frozen_span_clock

    tracer, sink, collect, ids = _twins()
    ids.trace_id, ids.span_id = 0x99, 0x98
    flags = TraceFlags(0x03)
    starts = [
        lambda: tracer.start_span("cm"),
        lambda: sink.start("cm", None, SpanKind.INTERNAL, None, None, 0x99, 0x98, flags),
    ]
    for start in starts:  # one source line raising for both: the same stack trace
        with frozen_span_clock():
            span = start()
            with pytest.raises(RuntimeError), span:
                raise RuntimeError("in block")
    readable, slim = collect.ended
    assert type(slim).__name__ == "SlimSpan"
    _assert_twins(readable, slim)
    assert slim.status.status_code is StatusCode.ERROR


def test_slim_spans_limits_and_dropped_counts_like_sdk_spans(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.sdk.trace import SpanLimits

    limits = SpanLimits(
        max_span_attributes=3,
        max_attribute_length=5,
        max_events=2,
        max_links=1,
        max_event_attributes=1,
        max_link_attributes=1,
    )
    rng = random.Random(13)
    contexts = [_context(rng) for _ in range(3)]

    def links() -> list[Link]:
        return [Link(c, {"a": 1, "b": 2}) for c in contexts]

    def script(span: Any) -> None:
        span.set_attribute("long", "longer than five")  # truncated
        span.set_attribute("n", 1)
        span.set_attribute("m", 2)  # evicts the oldest
        span.set_attribute("", 3)  # invalid key: dropped and counted
        span.set_attributes({"x": "abcdefgh", "y": 1})
        for i in range(4):
            span.add_event(f"e{i}", {"p": i, "q": i})
        span.add_link(contexts[0], {"c": 1})

    with caplog.at_level(logging.WARNING):
        readable, slim = _both(script, attributes={"s1": 1, "s2": "too long here"}, links=links,
                               limits=limits)  # fmt: skip
    _assert_twins(readable, slim)
    assert slim.dropped_attributes > 0
    assert slim.dropped_events == 2
    assert slim.dropped_links == 3


def test_slim_spans_ignore_calls_after_end_like_sdk_spans(caplog: pytest.LogCaptureFixture) -> None:
    def script(span: Any) -> None:
        span.set_attribute("before", 1)

    readable, slim = _both(script)
    with caplog.at_level(logging.WARNING, logger="opentelemetry.sdk.trace"):
        slim.set_attribute("after", 1)
        slim.set_attributes({"after": 2})
        slim.add_event("after")
        slim.set_status(StatusCode.ERROR)
        slim.update_name("after")
        slim.end()  # a second end: warned, not queued again
    assert not slim.is_recording()
    assert len(slim._sink.queues[0].ended) == 2  # the SDK span and the slim one, once each
    assert dict(slim.attributes) == {"before": 1}
    assert slim.name == "op"
    assert not slim.events
    assert slim.status.status_code is StatusCode.UNSET
    _assert_twins(readable, slim)
