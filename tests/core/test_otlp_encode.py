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
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from obskit._export import _encoder as _otlp_encode
from obskit._export._encoder import Unsupported, encode_request, serialize_spans

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
    from obskit._export._otlp import (
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

    from obskit._export._otlp import _fast_http_span_exporter
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
