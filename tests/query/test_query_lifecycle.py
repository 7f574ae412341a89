"""obskit.query: the lifecycle span, phases, facts, fragments and their metrics."""

from __future__ import annotations

import asyncio
import re
import threading
from decimal import Decimal

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import obskit
from obskit import query

SQL = "SELECT name FROM users WHERE id = 42 AND city = 'oslo'"


def run_query(text: str = SQL) -> query.QueryLifecycle:
    with query.lifecycle(text, system="minidb", query_id="q1") as q:
        with q.phase("parse"):
            pass
        with q.phase("plan"):
            q.cost(estimated=1000, optimized=50.0)
        with q.phase("execute"):
            q.rows(2, read=500)
            q.bytes(4096)
        with q.phase("aggregate"):
            pass
        q.cache(True, "plan")
        q.cache(False, "result")
        q.workers(2)
        q.fragments(4)
    return q


def test_root_span_and_phases(obskit_capture) -> None:
    q = run_query()
    obskit_capture.assert_tree(
        """
        SELECT users
          query.parse
          query.plan
          query.execute
          query.aggregate
        """
    )
    root = obskit_capture.one("SELECT users")
    assert q.summary == "SELECT users"
    assert root.kind is SpanKind.INTERNAL
    assert dict(root.attributes) == {
        "db.system.name": "minidb",
        "db.operation.name": "SELECT",
        "db.collection.name": "users",
        "db.query.summary": "SELECT users",
        "db.query.text": "SELECT name FROM users WHERE id = ? AND city = ?",
        "query.id": "q1",
        "db.response.returned_rows": 2,
        query.ROWS_READ: 500,
        query.BYTES_READ: 4096,
        query.COST_ESTIMATED: 1000.0,
        query.COST_OPTIMIZED: 50.0,
        query.COST_REDUCTION: 0.95,
        query.WORKER_COUNT: 2,
        query.FRAGMENT_COUNT: 4,
        query.CACHE_HITS: 1,
        query.CACHE_MISSES: 1,
        query.CACHE_HIT_RATIO: 0.5,
    }


def test_query_metrics(obskit_capture) -> None:
    run_query()
    by_query = {"db.system.name": "minidb", "db.operation.name": "SELECT"}
    assert obskit_capture.metric(query.DURATION, by_query).count == 1
    assert obskit_capture.metric(query.DURATION).attributes["db.collection.name"] == "users"
    for phase in ("parse", "plan", "execute", "aggregate"):
        assert obskit_capture.metric(query.PHASE_DURATION, {query.PHASE: phase}).count == 1
    assert obskit_capture.metric(query.ACTIVE, by_query).value == 0
    assert obskit_capture.metric(query.RETURNED_ROWS, by_query).sum == 2
    assert obskit_capture.metric("query.rows.read", by_query).value == 500
    assert obskit_capture.metric(query.IO, {query.IO_DIRECTION: "read"}).value == 4096
    hit = obskit_capture.metric(query.CACHE_LOOKUPS, {query.CACHE_RESULT: "hit"})
    assert hit.attributes[query.CACHE_NAME] == "plan"
    assert obskit_capture.metric(query.CACHE_LOOKUPS, {query.CACHE_NAME: "result"}).value == 1
    assert obskit_capture.metric("query.cost.reduction").sum == pytest.approx(0.95)
    assert obskit_capture.metrics(query.ERRORS) == []


def test_active_counts_queries_in_progress(obskit_capture) -> None:
    with query.lifecycle("SELECT 1 FROM t", system="minidb"):
        assert obskit_capture.metric(query.ACTIVE).value == 1
    assert obskit_capture.metric(query.ACTIVE).value == 0


def test_an_escaping_exception_sets_error_type_and_propagates(obskit_capture) -> None:
    boom = TimeoutError("worker 2")
    with (
        pytest.raises(TimeoutError) as caught,
        query.lifecycle("DELETE FROM t", system="minidb") as q,
        q.phase("execute"),
    ):
        raise boom
    assert caught.value is boom
    root = obskit_capture.one("DELETE t")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == "TimeoutError"
    assert obskit_capture.one("query.execute").attributes["error.type"] == "TimeoutError"
    error = {"error.type": "TimeoutError"}
    assert obskit_capture.metric(query.ERRORS, error).value == 1
    assert obskit_capture.metric(query.DURATION, error).count == 1
    assert obskit_capture.metric(query.PHASE_DURATION, error).attributes[query.PHASE] == "execute"
    assert obskit_capture.metric(query.ACTIVE).value == 0


def test_set_error_without_an_exception(obskit_capture) -> None:
    with query.lifecycle("SELECT * FROM t", system="minidb") as q:
        q.set_error("deadline_exceeded", "gave up after 30 s")
    root = obskit_capture.one("SELECT t")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == "deadline_exceeded"
    assert obskit_capture.metric(query.ERRORS).attributes["error.type"] == "deadline_exceeded"


def test_phase_names(obskit_capture) -> None:
    with query.lifecycle("SELECT * FROM t") as q:
        with q.phase("spill_to_disk"):
            pass
        for bad in ("Parse", "query.parse", "", "fragment", "x" * 65, 7):
            with pytest.raises(ValueError, match="lower-case identifiers"):
                q.phase(bad)  # type: ignore[arg-type]
    obskit_capture.assert_tree("SELECT t\n  query.spill_to_disk\n")


def test_async_lifecycle_and_phases(obskit_capture) -> None:
    async def main() -> None:
        async with query.lifecycle("SELECT count(*) FROM orders", system="minidb") as q:  # noqa: SIM117
            async with q.phase("execute"):  # (q is needed to open the phase)
                await asyncio.sleep(0)
                q.rows(1, read=10)

    asyncio.run(main())
    obskit_capture.assert_tree("SELECT orders\n  query.execute\n")
    assert obskit_capture.one("SELECT orders").attributes["db.response.returned_rows"] == 1


def test_fragment_joins_the_query_trace_under_the_current_phase(obskit_capture) -> None:
    with query.lifecycle("SELECT * FROM t", system="minidb") as q, q.phase("execute"):
        carrier = q.fragment_carrier()

        def worker() -> None:  # another thread: no inherited context, only the carrier
            with query.fragment(carrier, worker_id="w1", fragment_id=3, system="minidb") as f:
                f.rows(read=100)
                f.bytes(written=2048)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(timeout=10)
    obskit_capture.assert_tree(
        """
        SELECT t
          query.execute
            query.fragment
        """
    )
    fragment = obskit_capture.one(query.FRAGMENT_SPAN)
    assert fragment.kind is SpanKind.SERVER
    assert fragment.attributes[query.WORKER_ID] == "w1"
    assert fragment.attributes[query.FRAGMENT_ID] == "3"
    assert fragment.attributes[query.ROWS_READ] == 100
    assert fragment.attributes[query.BYTES_WRITTEN] == 2048
    assert obskit_capture.metric(query.FRAGMENT_DURATION).count == 1
    assert obskit_capture.metric(query.IO, {query.IO_DIRECTION: "write"}).value == 2048


def test_fragment_carrier_outside_phases_points_at_the_root(obskit_capture) -> None:
    with query.lifecycle("SELECT * FROM t") as q:
        carrier = query.inject({"sql": "..."})
    with query.fragment(carrier, worker_id="w2"):
        pass
    root = obskit_capture.one("SELECT t")
    fragment = obskit_capture.one(query.FRAGMENT_SPAN)
    assert fragment.parent.span_id == root.context.span_id
    assert carrier["sql"] == "..."
    assert q.trace_id == format(root.context.trace_id, "032x")


def test_a_malformed_carrier_starts_a_new_trace(obskit_capture) -> None:
    with query.fragment({"traceparent": "garbage"}, worker_id="w3") as f:
        f.rows("lots")  # type: ignore[arg-type]
    span = obskit_capture.one(query.FRAGMENT_SPAN)
    assert span.parent is None
    assert query.ROWS_READ not in span.attributes


def test_query_text_is_sanitized_capped_or_kept(obskit_capture) -> None:
    huge = "SELECT * FROM t WHERE name IN (" + ", ".join(f"'n{i}'" for i in range(5000)) + ")"
    with query.lifecycle(huge):
        pass
    with query.lifecycle("SELECT * FROM t WHERE id = $1", sanitize=False):
        pass
    with query.lifecycle(b"UPDATE accounts SET balance = 0 WHERE id = 9"):
        pass
    with query.lifecycle(12345):  # type: ignore[arg-type]
        pass
    first, kept, raw_bytes, not_text = obskit_capture.spans
    text = first.attributes["db.query.text"]
    assert len(text) == query.MAX_QUERY_TEXT_CHARS
    assert text.endswith("...")
    assert "'n" not in text
    assert kept.attributes["db.query.text"] == "SELECT * FROM t WHERE id = $1"
    assert raw_bytes.name == "UPDATE accounts"
    assert raw_bytes.attributes["db.query.text"] == "UPDATE accounts SET balance = ? WHERE id = ?"
    assert not_text.name == "other_sql"
    assert "db.query.text" not in not_text.attributes


def test_bad_facts_are_skipped_never_raised(obskit_capture) -> None:
    class Weird:
        def __float__(self) -> float:
            raise RuntimeError("no")

    with query.lifecycle("SELECT * FROM t") as q:
        q.cost(estimated=Weird(), optimized="cheap")
        q.cost(estimated=Decimal("10.5"))
        q.cost(optimized=float("nan"))
        q.rows(-3, read=True, written=None)  # type: ignore[arg-type]
        q.bytes(object())  # type: ignore[arg-type]
        q.workers("two")  # type: ignore[arg-type]
        q.cache(hit=1, name=None)  # type: ignore[arg-type]
    root = obskit_capture.one("SELECT t")
    assert root.attributes[query.COST_ESTIMATED] == 10.5
    assert query.COST_OPTIMIZED not in root.attributes
    assert query.COST_REDUCTION not in root.attributes
    assert "db.response.returned_rows" not in root.attributes
    assert query.WORKER_COUNT not in root.attributes
    assert obskit_capture.metric(query.CACHE_LOOKUPS).attributes[query.CACHE_NAME] == "_OTHER"


def test_explicit_names_and_kind(obskit_capture) -> None:
    with query.lifecycle(
        "CALL refresh()", system="minidb", operation="REFRESH", collection="mv_sales",
        namespace="analytics", kind=SpanKind.SERVER, attributes={"app.user": "ana"},
    ):  # fmt: skip
        pass
    span = obskit_capture.one("REFRESH mv_sales")
    assert span.kind is SpanKind.SERVER
    assert span.attributes["db.namespace"] == "analytics"
    assert span.attributes["app.user"] == "ana"


def test_off_path_is_a_pass_through() -> None:
    with query.lifecycle(SQL, system="minidb") as q, q.phase("parse"):
        q.rows(1)
    assert q.trace_id == "0" * 32
    assert obskit.current_span().is_recording is False


def test_sanitize_and_shape() -> None:
    assert query.sanitize("SELECT 0x1F, .5, 1e9, a1 FROM t2") == "SELECT ?, ?, ?, a1 FROM t2"
    assert query.sanitize("SELECT 'unterminated") == "SELECT"  # untokenisable: keyword only
    shape = query.shape('INSERT INTO "Orders" SELECT * FROM staging')
    assert (shape.operation, shape.tables, shape.summary) == (
        "INSERT", ("Orders", "staging"), "INSERT Orders staging")  # fmt: skip
    assert shape.collection is None
    # An unknown first keyword is a bounded _OTHER (issue 15), not a missing operation.
    assert query.shape("frobnicate the widgets").summary == "_OTHER"
    assert query.shape("   ").summary is None


def test_everything_emitted_is_in_the_catalogue(obskit_capture) -> None:
    run_query()
    with pytest.raises(ValueError), query.lifecycle("DELETE FROM t") as q, q.phase("custom_step"):
        raise ValueError("x")
    with query.fragment({}, worker_id="w", fragment_id="f") as f:
        f.rows(1, read=2, written=3)
        f.bytes(4, written=5)
        with f.operator("scan", operator_id=1) as scan:
            scan.rows(2)
    cat = query.CATALOGUE
    declared = [re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(s.name)) for s in cat.spans]
    spans = [s for s in obskit_capture.spans if s.instrumentation_scope.name == "obskit.query"]
    assert len(spans) == 9
    for span in spans:
        assert any(re.fullmatch(p, span.name) for p in declared), span.name
        assert set(span.attributes) <= set(cat.attributes_by_key), span.name
    points = [p for p in obskit_capture.metrics() if p.scope == "obskit.query"]
    assert {p.name for p in points} == set(cat.instruments_by_name)
    for point in points:
        spec = cat.instruments_by_name[point.name]
        assert set(point.attributes) <= set(spec.attributes), point.name


def test_panels_use_declared_prometheus_names() -> None:
    known = set()
    for instrument in query.CATALOGUE.instruments:
        known.add(instrument.prometheus_name)
        if instrument.kind == "histogram":
            known |= {f"{instrument.prometheus_name}_{s}" for s in ("bucket", "count", "sum")}
    recorded = {rule["record"] for rule in query.RECORDING_RULES}
    for panel in query.PANELS:
        expr = re.sub(r"by \([^)]*\)|\{[^}]*\}", "", panel["expr"])
        used = set(re.findall(r"\bquery[_:][\w:]+", expr))
        assert used, panel
        assert used <= known | recorded, (panel["title"], used - known - recorded)
    for rule in query.RECORDING_RULES:  # rules read declared names or earlier rules
        expr = re.sub(r"by \([^)]*\)|\{[^}]*\}", "", rule["expr"])
        used = set(re.findall(r"\bquery[_:][\w:]+", expr))
        assert used <= known | recorded, (rule["record"], used - known - recorded)


def test_unsampled_query_makes_no_spans_but_exact_metrics_and_carries_its_trace(
    obskit_capture,
) -> None:
    from opentelemetry import trace as trace_api

    parent = trace_api.NonRecordingSpan(
        trace_api.SpanContext(0xABC, 0xDEF, True, trace_api.TraceFlags(0))
    )
    with trace_api.use_span(parent), query.lifecycle("SELECT id FROM t", system="unsampled") as q:
        for name in ("parse", "plan"):
            with q.phase(name):
                pass
        carrier = q.fragment_carrier()
        seen: list[object] = []

        def elsewhere() -> None:  # another thread, inside a sampled span of its own
            with obskit.span("unrelated"), q.phase("execute") as phase:
                seen.append(phase.span.trace_id)

        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join(timeout=30)
    assert carrier["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-00"
    assert seen == [f"{0xABC:032x}"]  # the phase stayed in the query's trace, unsampled
    assert [s.name for s in obskit_capture.spans] == ["unrelated"]
    durations = obskit_capture.metrics(query.PHASE_DURATION)
    counts = {p.attributes["query.phase"]: p.count for p in durations
              if p.attributes.get("db.system.name") == "unsampled"}  # fmt: skip
    assert counts == {"parse": 1, "plan": 1, "execute": 1}
    assert obskit_capture.metric(query.ACTIVE, {"db.system.name": "unsampled"}).value == 0


def test_a_label_given_to_end_is_the_error_type_of_the_durations(obskit_capture) -> None:
    with query.lifecycle("SELECT 1 FROM t", system="minidb") as q:
        phase = q.phase("execute")
        with phase:
            phase.end("timeout")
        scan = q.operator("scan")
        with scan:
            scan.end("cancelled by planner")
    point = obskit_capture.metric(query.PHASE_DURATION, {query.PHASE: "execute"})
    assert point.attributes["error.type"] == "timeout"
    operator = obskit_capture.metric(query.OPERATOR_DURATION, {"query.operator.name": "scan"})
    assert operator.attributes["error.type"] == "cancelled by planner"
