"""Sampling decisions obskit makes without the SDK, and the exact-signature wrapper.

For obskit's own sampler shape, ParentBased(TraceIdRatioBased(r)), obskit decides "not
sampled" itself (benchmarks/bench_calls.py, targets 2 and 3); these tests pin that the
decisions are the SDK's: same bound, same trace ids, propagation still says sampled=0.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

import obskit
from obskit import _routing as _providers
from obskit import propagation

MASK = (1 << 64) - 1


@pytest.fixture
def ratio_provider(request: pytest.FixtureRequest) -> Iterator[InMemorySpanExporter]:
    ratio: float = request.param
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with _providers.swapped(provider, None):
        yield exporter
    provider.shutdown()


def _traceparent() -> str:
    return str(propagation.inject({})["traceparent"])


@pytest.mark.parametrize("ratio_provider", [0.0], indirect=True)
def test_unsampled_root_propagates_sampled_zero_and_records_nothing(ratio_provider) -> None:
    seen: list[str] = []

    @obskit.traced
    def inner() -> None:
        seen.append(_traceparent())

    @obskit.traced
    def outer() -> None:
        seen.append(_traceparent())
        inner()

    outer()
    outer()
    assert ratio_provider.get_finished_spans() == ()
    first, nested, second, _ = (value.split("-") for value in seen)
    # sampled bit clear (0x02 is W3C's "random trace id" flag, set as the SDK sets it)
    assert int(first[3], 16) & 1 == 0
    assert int(second[3], 16) & 1 == 0
    assert first[1] != "0" * 32
    assert first[1] != second[1]
    assert nested[1:] == first[1:]  # the child made no span: its parent stayed current


@pytest.mark.parametrize("ratio_provider", [0.0], indirect=True)
def test_child_of_remote_unsampled_parent_keeps_its_context(ratio_provider) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"

    @obskit.traced
    def handler() -> str:
        return _traceparent()

    with obskit.span("ignored"):  # an unsampled root of our own around it, too
        pass
    token = None
    from opentelemetry import context as context_api

    token = context_api.attach(propagation.extract({"traceparent": parent}))
    try:
        assert handler() == parent
    finally:
        context_api.detach(token)
    assert ratio_provider.get_finished_spans() == ()


@pytest.mark.parametrize("ratio_provider", [0.5], indirect=True)
def test_root_decisions_follow_the_trace_id_ratio(ratio_provider) -> None:
    @obskit.traced
    def root() -> None:
        pass

    for _ in range(400):
        root()
    spans = ratio_provider.get_finished_spans()
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    assert all(span.context.trace_id & MASK < bound for span in spans)
    assert 100 < len(spans) < 300  # binomial(400, 0.5): outside this is ~1e-23


@pytest.mark.parametrize("ratio_provider", [1.0], indirect=True)
def test_sampled_spans_keep_attributes_parent_and_trace_state(ratio_provider) -> None:
    @obskit.traced("child", attributes={"k": "v"}, record_args=["n"])
    def child(n: int) -> None:
        pass

    @obskit.traced("root")
    def root() -> None:
        child(3)

    root()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    from opentelemetry import context as context_api

    token = context_api.attach(propagation.extract({"traceparent": parent, "tracestate": "a=1"}))
    try:
        child(4)
    finally:
        context_api.detach(token)
    first, outer, remote = ratio_provider.get_finished_spans()
    assert first.parent is not None
    assert first.parent.span_id == outer.context.span_id
    assert dict(first.attributes or {}) == {"k": "v", "code.arg.n": 3}
    assert outer.context.trace_flags.sampled
    assert outer.parent is None
    assert remote.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert remote.context.trace_state.get("a") == "1"


@pytest.mark.parametrize("ratio_provider", [0.0], indirect=True)
def test_call_metrics_still_count_unsampled_calls(ratio_provider, obskit_capture) -> None:
    @obskit.traced("work", metrics="fasttest")
    def work() -> None:
        pass

    with _providers.swapped(_providers.state.tracer_provider, obskit_capture.meter_provider):
        with obskit.span("unsampled-root"):
            work()
        work()
    assert obskit_capture.metric("fasttest.calls", outcome="ok").value == 2


def test_host_sampler_is_always_asked(obskit_capture) -> None:
    # obskit_capture samples with ParentBased(ALWAYS_ON): every span is recorded.
    @obskit.traced
    def f() -> int:
        return 1

    for _ in range(3):
        f()
    assert len(obskit_capture.spans) == 3


def _forms(a, /, b, c=3, *rest, d, e=5, **extra):  # type: ignore[no-untyped-def]
    return (a, b, c, rest, d, e, extra)


@pytest.mark.parametrize("configured", [False, True])
def test_exact_signature_wrapper_passes_every_parameter_form(configured, obskit_capture) -> None:
    wrapped = obskit.traced(record_args=["c", "e"])(_forms)
    assert inspect.signature(wrapped) == inspect.signature(_forms)
    state = _providers.state
    previous = _providers.set_current(
        state.tracer_provider if configured else None, None, disabled=not configured
    )
    try:
        assert wrapped(1, 2, d=4) == (1, 2, 3, (), 4, 5, {})
        assert wrapped(1, b=2, d=4, z=9) == (1, 2, 3, (), 4, 5, {"z": 9})
        assert wrapped(1, 2, 7, 8, d=4, e=6) == (1, 2, 7, (8,), 4, 6, {})
        with pytest.raises(TypeError):
            wrapped(a=1, b=2, d=4)  # positional-only stays positional-only
    finally:
        _providers.restore(previous)
    if configured:
        first, _, third = obskit_capture.spans
        assert "code.arg.c" not in first.attributes  # left at its default: not recorded
        assert dict(third.attributes)["code.arg.c"] == 7
        assert dict(third.attributes)["code.arg.e"] == 6


@pytest.mark.parametrize("ratio_provider", [0.0], indirect=True)
def test_an_unsampled_root_draws_its_ids_only_when_asked(
    ratio_provider: InMemorySpanExporter,
) -> None:
    from opentelemetry import trace as trace_api

    from obskit._trace.sampling import UnsampledRoot

    with obskit.span("root"):
        current = trace_api.get_current_span()
        assert type(current) is UnsampledRoot
        assert type(current._context) is int  # nothing asked yet: no ids drawn
        with obskit.span("child"):
            # A child of an unsampled root is not sampled and shares the root's context,
            # decided without drawing the root's ids.
            assert trace_api.get_current_span() is current
            assert type(current._context) is int
        header = _traceparent()  # inject asks: the ids are drawn now, once
        context = current.get_span_context()
        assert current.get_span_context() is context
    _, trace_id, span_id, flags = header.split("-")
    assert (int(trace_id, 16), int(span_id, 16)) == (context.trace_id, context.span_id)
    assert not int(flags, 16) & 1
    assert context.is_valid
    assert not context.trace_flags.sampled
    assert ratio_provider.get_finished_spans() == ()


@pytest.mark.parametrize("ratio_provider", [0.25], indirect=True)
def test_lazy_roots_are_decided_as_the_sdk_would_decide_their_trace_ids(
    ratio_provider: InMemorySpanExporter,
) -> None:
    bound = TraceIdRatioBased(0.25).bound
    decided = []
    for _ in range(400):
        with obskit.span("root") as handle:
            trace_id = int(_traceparent().split("-")[1], 16)
            decided.append((trace_id & MASK < bound, handle.span.is_recording()))
    assert all(sampled_by_sdk == recording for sampled_by_sdk, recording in decided)
    assert 40 <= sum(recording for _, recording in decided) <= 160  # ~100 of 400


def test_an_unsampled_root_asked_from_many_threads_keeps_one_trace_id() -> None:
    import sys
    import threading

    from obskit._base.context import UnsampledRoot

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen any race
    try:
        _ask_from_threads(UnsampledRoot, threading)
    finally:
        sys.setswitchinterval(interval)


def _ask_from_threads(root_type: type, threading: Any) -> None:
    for _ in range(50):
        root = root_type(12345)
        seen: list[object] = []
        start = threading.Barrier(4)

        def ask(root: Any = root, seen: list[object] = seen, start: Any = start) -> None:
            start.wait()
            seen.append(root.get_span_context())

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(context) for context in seen}) == 1
        assert root.get_span_context() is seen[0]


@pytest.mark.parametrize("ratio_provider", [1.0], indirect=True)
def test_a_root_its_own_sample_ratio_drops_draws_no_ids_until_asked(
    ratio_provider: InMemorySpanExporter,
) -> None:
    from opentelemetry import trace as trace_api

    from obskit._trace.sampling import UnsampledRoot

    @obskit.traced(sample_ratio=0.0)
    def never() -> object:
        return trace_api.get_current_span()

    current = never()
    assert type(current) is UnsampledRoot
    assert type(current._context) is int
    context = current.get_span_context()
    assert context.is_valid
    assert not context.trace_flags.sampled
    assert not context.trace_flags & trace_api.TraceFlags.RANDOM_TRACE_ID
    assert ratio_provider.get_finished_spans() == ()
