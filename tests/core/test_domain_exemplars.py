"""Domain duration histograms carry their sampled spans as exemplars (issue 16, part 1)."""

from obskit import btree, pipeline, query, raft


def test_domain_duration_histograms_carry_their_spans(obskit_capture):
    class Index:
        name = "pk"

        @btree.get(index_attr="name")
        def get(self, key: int) -> int:
            return key

    Index().get(1)
    with query.lifecycle("SELECT 1 FROM t", system="minidb"):
        pass
    raft.update_state("n1", term=2, role="leader", leader_id="n1")
    with raft.propose("n1", term=2) as proposal:
        proposal.commit(index=1)
    flow = pipeline.Pipeline("exemplars", sample_ratio=1.0)

    @flow.processor("double")
    def double(value: int) -> int:
        return 2 * value

    for record in flow.records([3]):
        double(record)
    trace_ids = obskit_capture.trace_ids()
    problems = []
    collected = obskit_capture.metrics()  # one collection: the SDK reports an exemplar once
    for name in (
        "btree.operation.duration",
        "query.duration",
        "raft.commit.duration",
        "pipeline.processing.duration",
    ):
        points = [point for point in collected if point.name == name]
        exemplars = {trace for point in points for _, trace, _ in point.exemplars}
        if not points or not exemplars or not exemplars <= trace_ids:
            problems.append(f"{name}: {len(points)} point(s), exemplar traces {exemplars}")
    assert not problems, problems


def test_operator_and_worker_durations_point_at_their_own_span(obskit_capture):
    from obskit.query import _names as names

    with query.lifecycle("SELECT 1 FROM t", system="minidb") as q, q.operator("scan") as op:
        op.rows(3)
    with query.fragment(q.fragment_carrier(), worker_id="w1", system="minidb"):
        pass
    spans = {s.name: s for s in obskit_capture.spans}
    collected = obskit_capture.metrics()
    for name, span_name in (
        (names.OPERATOR_DURATION, "query.operator.scan"),
        (names.WORKER_FRAGMENT_DURATION, "query.fragment"),
    ):
        (point,) = [p for p in collected if p.name == name]
        span_ids = {span_id for _, _, span_id in point.exemplars}
        assert span_ids == {spans[span_name].context.span_id}, (name, span_ids)
