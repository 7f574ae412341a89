"""The domains' shared recording path (obskit._domain.operation): catalogue metrics as hot handles."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from obskit import _routing as _providers
from obskit import btree, raft
from obskit._domain import operation as _operation
from obskit.btree import _names as btree_names
from obskit.raft import _names as raft_names
from obskit.testing._metrics import points_from_sdk


def test_hot_instrument_keeps_the_catalogue_name_unit_and_buckets(obskit_capture) -> None:
    duration = _operation.hot(btree_names.CATALOGUE, btree_names.OPERATION_DURATION)
    assert duration is _operation.hot(btree_names.CATALOGUE, btree_names.OPERATION_DURATION)
    spec = btree_names.CATALOGUE.instruments_by_name[btree_names.OPERATION_DURATION]
    duration.bind({btree_names.INDEX: "hot_test"}).record(0.0003)
    point = obskit_capture.metric(btree_names.OPERATION_DURATION, {btree_names.INDEX: "hot_test"})
    assert (point.unit, point.bounds, point.count) == (spec.unit, tuple(spec.buckets), 1)
    assert point.scope == btree_names.CATALOGUE.scope
    with pytest.raises(KeyError, match=r"btree\.depth"):
        _operation.hot(btree_names.CATALOGUE, btree_names.DEPTH)  # a gauge: not hot


def test_domain_counter_series_appear_only_once_recorded_under_a_provider(obskit_capture) -> None:
    btree.record_page_read(1, source="disk", index="sparse_a")
    assert obskit_capture.metric(btree_names.PAGE_READS, {btree_names.INDEX: "sparse_a"}).value == 1
    obskit_capture.clear()  # a fresh meter provider, as each test gets
    btree.record_page_read(2, source="cache", index="sparse_b")
    points = obskit_capture.metrics(btree_names.PAGE_READS)
    # The SDK's own counter would show only what this provider saw: so must the hot one.
    assert [(p.attributes[btree_names.INDEX], p.value) for p in points] == [("sparse_b", 1)]


def test_up_down_counter_that_went_back_to_zero_is_still_reported(obskit_capture) -> None:
    raft.propose("sparse-node").commit(index=1)
    pending = obskit_capture.metric(raft_names.M_PENDING, {raft_names.NODE_ID: "sparse-node"})
    assert pending.value == 0


def test_outcomes_bind_once_per_key_and_stay_bounded(obskit_capture) -> None:
    committed = _operation.hot(raft_names.CATALOGUE, raft_names.M_FAILED)
    by_kind = _operation.Outcomes(committed, {raft_names.NODE_ID: "bounded"}, limit=2)
    first = by_kind.get("timeout", {"error.type": "timeout"})
    assert by_kind.get("timeout") is first
    for kind in ("a", "b", "c"):
        by_kind.get(kind, {"error.type": kind}).add()
    assert len(by_kind.found) == 2  # past the limit: bound on use, not kept
    totals = {p.attributes["error.type"]: p.value for p in obskit_capture.metrics(raft_names.M_FAILED)
              if p.attributes.get(raft_names.NODE_ID) == "bounded"}  # fmt: skip
    assert totals == {"a": 1, "b": 1, "c": 1}


def test_totals_reach_the_final_collection_of_a_provider_switched_off() -> None:
    # obskit.shutdown() routes to nothing first, then shuts the old provider down, whose
    # final collection (the last OTLP export, the console summary) must still carry them.
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    previous = _providers.set_current(None, provider)
    try:
        btree.record_page_write(3, index="final_export")
        duration = _operation.hot(raft_names.CATALOGUE, raft_names.M_COMMIT_DURATION)
        duration.bind({raft_names.NODE_ID: "final_export"}).record(0.2)
        _providers.set_current(None, None)
        points = points_from_sdk(reader.get_metrics_data())
    finally:
        _providers.restore(previous)
        provider.shutdown()
    writes = [p for p in points if p.name == btree_names.PAGE_WRITES]
    commits = [p for p in points if p.name == raft_names.M_COMMIT_DURATION]
    assert [p.value for p in writes] == [1]
    assert [p.count for p in commits] == [1]


def test_histogram_bounds_stay_as_declared_like_the_sdk_keeps_them(obskit_capture) -> None:
    from obskit import query

    with query.lifecycle("SELECT id FROM t", system="bounds") as q:
        q.rows(3)
    point = obskit_capture.metric(query.RETURNED_ROWS, {"db.system.name": "bounds"})
    # ROWS_BUCKETS are ints: the Prometheus exporter prints le="5", not le="5.0".
    assert [type(bound) for bound in point.bounds] == [int] * len(point.bounds)
    assert point.count == 1


def test_an_ended_sampled_operation_is_its_durations_exemplar(obskit_capture) -> None:
    from obskit._domain.operation import Operation
    from obskit._trace.recipe import SpanRecipe

    op = Operation()
    op._open(SpanRecipe("demo.exemplar", None))
    with op:
        assert op.exemplar() is not None
    assert op.closed
    assert op.exemplar() is not None  # ended, still sampled: the record made now keeps it
    assert op.exemplar().get_span_context().trace_flags.sampled
