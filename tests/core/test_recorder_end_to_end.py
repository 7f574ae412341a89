"""obskit's own span recorder end to end: the same workload through `SpanQueue` and the
OTLP exporters (gRPC and HTTP/protobuf) to obskit's receiver, once with recorder spans
(the default) and once with the SDK's spans (`OBSKIT_SLIM_SPANS=false`), and the two
decoded results compared field by field. Any difference in what the recorder sends fails
here, whatever the in-process tests see.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry import context as context_api
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import SpanKind

import obskit
from obskit import propagation
from obskit._export import slim as _slim
from obskit._export.slim import SlimSpan
from obskit.testing._collector import Collector
from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.timeout(120)

SEED = 20261206  # the same ids in both runs: both paths draw them from `random` in turn
REMOTE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
LINKED = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
EVERY_TYPE: dict[str, Any] = {
    "text": "value",
    "flag": True,
    "count": -42,
    "ratio": 2.5,
    "texts": ["a", "b"],
    "counts": [1, 2, 3],
    "ratios": [0.5, 1.5],
    "flags": [True, False],
}
LIMITS = {  # small limits so that dropped counts are sent too
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "12",
    "OTEL_SPAN_EVENT_COUNT_LIMIT": "3",
    "OTEL_SPAN_LINK_COUNT_LIMIT": "1",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "16",
}


@obskit.traced("failing.step")
def _failing_step() -> None:
    raise ValueError("bad page 7")


def _workload(kinds: list[type]) -> None:
    """Spans with every field OTLP carries: kinds, statuses, events, links, limits."""
    with obskit.span("root", attributes=EVERY_TYPE) as root:
        kinds.append(type(root.span))
        root.set_attribute("late", "set after start")
        root.add_event("checkpoint", {"page": 7, "keys": [1, 2]})
        with pytest.raises(ValueError, match="bad page"):
            _failing_step()
        links = [propagation.link_from(LINKED, {"why": "batch"}), propagation.link_from(REMOTE)]
        with obskit.span("client", kind=SpanKind.CLIENT, links=links) as client:
            kinds.append(type(client.span))
            client.set_attribute("long.text", "x" * 40)  # cut to the length limit
            client.set_error("peer refused")
        with obskit.span("crowded", kind=SpanKind.PRODUCER) as crowded:
            crowded.set_attributes({f"key.{n}": n for n in range(15)})  # beyond the limit
            for n in range(5):
                crowded.add_event(f"event.{n}", {"n": n})  # beyond the event limit
    token = context_api.attach(propagation.extract(REMOTE))
    try:
        server = obskit.span("server", kind=SpanKind.SERVER, attributes={"rpc.system": "raft"})
        with server, obskit.span("consumer", kind=SpanKind.CONSUMER):
            pass
    finally:
        context_api.detach(token)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def _run(
    receiver: OTLPReceiver, protocol: str, recorder: bool, monkeypatch: pytest.MonkeyPatch
) -> list[Any]:
    receiver.clear()
    receiver.protocol = protocol  # type: ignore[assignment]
    for key, value in {**Collector(receiver).env, **LIMITS}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(_slim, "ENABLED", recorder)
    obskit.configure(service_name="end-to-end", runtime=False, resource={"run": "same"})
    kinds: list[type] = []
    try:
        random.seed(SEED)
        _workload(kinds)
        assert obskit.flush(timeout=30)
    finally:
        obskit.shutdown(timeout=10)
    expected = SlimSpan if recorder else SdkSpan
    assert kinds
    assert all(issubclass(kind, expected) for kind in kinds), kinds
    return receiver.wait_for_spans(6)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(item) for item in value)
    return value


def _fields(span: Any, by_id: Mapping[int, Any]) -> dict[str, Any]:
    """Every decoded field of `span`; timestamps by presence and order only."""
    context = span.context
    parent = span.parent
    start, end = span.start_time, span.end_time
    parent_span = by_id.get(parent.span_id) if parent is not None else None
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "trace_id": context.trace_id,
        "span_id": context.span_id,
        "trace_flags": int(context.trace_flags),
        "trace_state": context.trace_state.to_header() if context.trace_state else "",
        "otlp_flags": span.otlp_flags,
        "parent": None if parent is None else (parent.span_id, parent.is_remote),
        "parent_name": None if parent_span is None else parent_span.name,
        "kind": span.kind,
        "status": (span.status.status_code, span.status.description),
        "attributes": _plain(span.attributes),
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
        "events": [
            (event.name, _plain(event.attributes), start <= event.timestamp <= end)
            for event in span.events
        ],
        "links": [
            (
                link.context.trace_id,
                link.context.span_id,
                link.context.is_remote,
                int(link.context.trace_flags),
                _plain(link.attributes),
            )
            for link in span.links
        ],
        "resource": _plain(span.resource.attributes),
        "resource_schema": span.resource.schema_url,
        "scope": (scope.name, scope.version, scope.schema_url, _plain(scope.attributes or {})),
        "times": (
            0 < start <= end,
            parent_span is None or parent_span.start_time <= start <= end <= parent_span.end_time,
        ),
    }


def _decoded(spans: list[Any]) -> dict[str, dict[str, Any]]:
    by_id = {span.context.span_id: span for span in spans}
    decoded = {span.name: _fields(span, by_id) for span in spans}
    assert len(decoded) == len(spans), "span names repeat: the comparison needs them unique"
    return decoded


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_recorder_spans_arrive_as_sdk_spans_do(
    receiver: OTLPReceiver, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = _decoded(_run(receiver, protocol, True, monkeypatch))
    sdk = _decoded(_run(receiver, protocol, False, monkeypatch))

    assert sorted(recorded) == sorted(sdk)
    for name in sdk:
        for field, expected in sdk[name].items():
            assert recorded[name][field] == expected, (name, field)
    # The workload reached every field: the comparison compared something.
    assert recorded["crowded"]["dropped"] == (3, 2, 0)
    assert recorded["client"]["dropped"] == (0, 0, 1)
    assert recorded["client"]["attributes"]["long.text"] == "x" * 16
    assert recorded["server"]["parent"] == (0xB7AD6B7169203331, True)
    assert recorded["server"]["otlp_flags"] == 0x300
    assert recorded["failing.step"]["status"][1] == "ValueError: bad page 7"
    assert [event[0] for event in recorded["failing.step"]["events"]] == ["exception"]
    assert recorded["root"]["times"] == (True, True)
