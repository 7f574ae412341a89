"""obskit.propagation across dicts, bytes, objects, threads, tasks and processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from opentelemetry import trace

import obskit
from obskit import propagation

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_dict_round_trip_makes_a_child(obskit_capture) -> None:
    with obskit.span("client"):
        headers = propagation.inject()
    assert set(headers) >= {"traceparent"}
    with propagation.continue_trace(headers), obskit.span("server"):
        pass
    client, server = obskit_capture.one("client"), obskit_capture.one("server")
    assert server.parent.span_id == client.context.span_id
    assert server.context.trace_id == client.context.trace_id


def test_bytes_and_object_carriers(obskit_capture) -> None:
    message = SimpleNamespace(payload=b"x")
    with obskit.span("producer"):
        header = propagation.to_bytes()
        propagation.inject(message)
    with propagation.continue_trace(header), obskit.span("from-bytes"):
        pass
    with propagation.continue_trace(message), obskit.span("from-object"):
        pass
    producer = obskit_capture.one("producer").context.span_id
    assert obskit_capture.one("from-bytes").parent.span_id == producer
    assert obskit_capture.one("from-object").parent.span_id == producer


def test_malformed_or_missing_carriers_start_new_traces(obskit_capture) -> None:
    for carrier in (None, {}, {"traceparent": "garbage"}, b"\xff\x00", 42, {1: 2}, "text"):
        with propagation.continue_trace(carrier), obskit.span("fresh") as s:
            assert s.is_recording
    spans = obskit_capture.find("fresh")
    assert len(spans) == 7
    assert all(span.parent is None for span in spans)
    assert len({span.context.trace_id for span in spans}) == 7


def test_extracted_remote_parent(obskit_capture) -> None:
    with propagation.continue_trace({"traceparent": TRACEPARENT}), obskit.span("handler") as s:
        assert s.trace_id == "0af7651916cd43dd8448eb211c80319c"
    parent = obskit_capture.one("handler").parent
    assert parent.is_remote
    assert format(parent.span_id, "016x") == "b7ad6b7169203331"


def test_unsampled_decision_is_carried(obskit_capture) -> None:
    unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    with propagation.continue_trace({"traceparent": unsampled}), obskit.span("downstream") as s:
        assert not s.is_recording
        assert propagation.inject()["traceparent"].endswith("-00")
    assert obskit_capture.find("downstream") == []


def test_links_for_batches(obskit_capture) -> None:
    carriers = []
    for i in range(3):
        with obskit.span(f"record-{i}"):
            carriers.append(propagation.inject())
    links = [
        propagation.link_from(c, {"pipeline.record.id": str(i)}) for i, c in enumerate(carriers)
    ]
    assert propagation.link_from({"traceparent": "bad"}) is None
    with obskit.span("batch", links=[link for link in links if link]):
        pass
    batch = obskit_capture.one("batch")
    assert [link.context.span_id for link in batch.links] == [
        obskit_capture.one(f"record-{i}").context.span_id for i in range(3)
    ]
    assert batch.links[1].attributes == {"pipeline.record.id": "1"}


def test_threads_need_bind_and_tasks_inherit(obskit_capture) -> None:
    @obskit.traced("in-thread")
    def in_thread() -> None:
        pass

    @obskit.traced("in-task")
    async def in_task() -> None:
        pass

    async def spawn() -> None:
        await asyncio.create_task(in_task())

    with obskit.span("root"), ThreadPoolExecutor(2) as pool:
        pool.submit(propagation.bind(in_thread)).result()
        asyncio.run(spawn())
    obskit_capture.assert_tree(
        """
        root
          in-thread
          in-task
        """
    )


def test_across_processes(obskit_capture, obskit_collector) -> None:
    code = (
        "import sys, obskit\n"
        "from obskit import propagation\n"
        "obskit.configure(service_name='child')\n"
        "with propagation.continue_trace({'traceparent': sys.argv[1]}):\n"
        "    with obskit.span('child-work'):\n"
        "        pass\n"
        "obskit.shutdown()\n"
    )
    with obskit.span("parent-work"):
        traceparent = propagation.inject()["traceparent"]
    env = {**__import__("os").environ, **obskit_collector.env}
    subprocess.run([sys.executable, "-c", code, traceparent], env=env, timeout=60, check=True)
    (child,) = obskit_collector.wait_for(name="child-work", count=1, timeout=30)
    assert format(child.context.trace_id, "032x") == traceparent.split("-")[1]
    assert format(child.parent.span_id, "016x") == traceparent.split("-")[2]
    assert child.resource.attributes["service.name"] == "child"


def test_default_propagators_fast_path_writes_what_the_api_writes() -> None:
    from opentelemetry import baggage, propagate
    from opentelemetry import trace as trace_api
    from opentelemetry.trace.span import TraceState

    span_contexts = [
        trace_api.SpanContext(0x0AF7, 0xB7AD, True, trace_api.TraceFlags(1)),
        trace_api.SpanContext(
            0x0AF7,
            0xB7AD,
            False,
            trace_api.TraceFlags(0),
            TraceState([("vendor", "v1"), ("other", "x")]),
        ),
        trace_api.INVALID_SPAN_CONTEXT,
    ]
    for span_context in span_contexts:
        context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(span_context))
        for ctx in (context, baggage.set_baggage("tenant", "t1", context)):
            expected: dict[str, str] = {}
            propagate.inject(expected, context=ctx)
            assert propagation.inject({}, context=ctx) == expected
            round_trip = trace_api.get_current_span(propagation.extract(expected))
            api_trip = trace_api.get_current_span(propagate.extract(expected))
            assert round_trip.get_span_context() == api_trip.get_span_context()


_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_CARRIERS = [
    {"traceparent": _PARENT},
    {"traceparent": _PARENT.replace("-01", "-00")},
    {"traceparent": _PARENT.replace("-01", "-03")},
    {"traceparent": _PARENT.upper()},
    {"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"},
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01"},
    {"traceparent": "ff" + _PARENT[2:]},
    {"traceparent": "01" + _PARENT[2:]},
    {"traceparent": _PARENT + "-extra"},
    {"traceparent": " " + _PARENT},
    {"traceparent": _PARENT, "tracestate": "vendor=value"},
    {"Traceparent": _PARENT},
    {"traceparent": _PARENT[:-1] + "g"},
]


@pytest.mark.parametrize("carrier", _CARRIERS, ids=[str(i) for i in range(len(_CARRIERS))])
def test_extract_and_link_from_agree_with_the_w3c_propagator(carrier: dict[str, str]) -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    lowered = {key.lower(): value for key, value in carrier.items()}
    expected = trace.get_current_span(
        TraceContextTextMapPropagator().extract(lowered)
    ).get_span_context()
    found = trace.get_current_span(propagation.extract(carrier)).get_span_context()
    assert tuple(found) == tuple(expected)
    assert found.trace_state == expected.trace_state
    link = propagation.link_from(carrier)
    if expected.is_valid:
        assert link is not None
        assert tuple(link.context) == tuple(expected)
    else:
        assert link is None


def test_bind_keeps_what_functools_wraps_keeps() -> None:
    import functools

    def work(a: int, b: int = 1) -> int:
        """Some work."""
        return a + b

    work.tag = "kept"  # type: ignore[attr-defined]
    bound = propagation.bind(work)
    expected = functools.wraps(work)(lambda: None)
    for name in ("__module__", "__name__", "__qualname__", "__doc__", "__wrapped__",
                 "__annotations__", "__dict__"):  # fmt: skip
        assert getattr(bound, name) == getattr(expected, name), name
    assert bound(1) == 2
    assert propagation.bind(functools.partial(work, 2))() == 3  # no __name__: still bound


def test_inject_span_writes_what_propagation_inject_writes(obskit_capture) -> None:
    from opentelemetry import baggage
    from opentelemetry import context as context_api

    from obskit._trace.w3c import inject_span

    with obskit.span("op") as handle:
        span = handle.span
    fast: dict[str, str] = {}
    assert inject_span(fast, span)
    assert fast == propagation.inject({}, context=trace.set_span_in_context(span))
    token = context_api.attach(baggage.set_baggage("tenant", "a"))
    try:
        assert not inject_span({}, span)  # baggage: the general path writes it
    finally:
        context_api.detach(token)
    assert not inject_span(SimpleNamespace(), span)  # not a dict: the general path
