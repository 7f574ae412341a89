"""obskit_capture: routing, isolation, query helpers and what users see when a test fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.metrics import Observation
from opentelemetry.sdk import trace as sdk_trace

import obskit
from obskit import _routing as _providers
from obskit.testing import Capture, CapturedMetric

INNER_ARGS = ("-p", "no:cacheprovider", "--strict-markers", "-q")


def test_spans_tree_and_metrics_are_queryable(obskit_capture: Capture) -> None:
    with obskit.span("SELECT t", attributes={"db.rows": 3}):
        with obskit.span("query.parse"):
            pass
        with obskit.span("query.execute"):
            with obskit.span("query.fragment", attributes={"fragment": 1}):
                pass
            with obskit.span("query.fragment", attributes={"fragment": 2}):
                pass
    obskit.histogram("query.duration").record(0.003, {"db.system": "toy"})
    obskit.counter("query.rows", unit="{row}").add(3)

    assert [s.name for s in obskit_capture.spans][-1] == "SELECT t"  # end order
    root = obskit_capture.one("SELECT t", {"db.rows": 3})
    assert [c.name for c in obskit_capture.children(root)] == ["query.parse", "query.execute"]
    assert len(obskit_capture.find("query.fragment")) == 2
    assert obskit_capture.one(fragment=lambda n: n > 1).attributes["fragment"] == 2
    assert obskit_capture.parent(obskit_capture.one("query.parse")) is root
    assert len(obskit_capture.trace_ids()) == 1
    obskit_capture.assert_tree(
        """
        SELECT t
          query.parse
          query.execute
            query.fragment
            query.fragment
        """
    )
    assert (
        obskit_capture.tree(attributes=["fragment"]).splitlines()[3]
        == "    query.fragment  fragment=1"
    )

    duration = obskit_capture.metric("query.duration", {"db.system": "toy"})
    assert isinstance(duration, CapturedMetric)
    assert (duration.count, duration.sum) == (1, 0.003)
    assert duration.buckets[0.005] == 1
    assert sum(duration.buckets.values()) == 1
    assert obskit_capture.metric("query.rows").value == 3
    assert [p.name for p in obskit_capture.metrics("query.rows")] == ["query.rows"]


def test_observable_instruments_report_into_the_capture(obskit_capture: Capture) -> None:
    obskit.observable_gauge("cache.size", [lambda options: [Observation(7, {"tier": "l1"})]])
    assert obskit_capture.metric("cache.size", tier="l1").value == 7


def test_clear_forgets_spans_and_metric_values(obskit_capture: Capture) -> None:
    hits = obskit.counter("cache.hits")
    with obskit.span("warm-up"):
        hits.add(5)
    obskit_capture.clear()
    with obskit.span("query"):
        hits.add(1)
    assert obskit_capture.tree() == "query\n"
    assert obskit_capture.metric("cache.hits").value == 1


def test_configure_inside_a_test_keeps_the_capture_and_is_shut_down_after() -> None:
    with Capture() as capture:
        obskit.configure(service_name="inside", exporters=["memory"])
        with obskit.span("after-configure"):
            pass
        assert capture.tree() == "after-configure\n"
        obskit.configure(enabled=False)  # disabled still wins over the capture
        with obskit.span("while-disabled"):
            pass
        assert capture.find("while-disabled") == []
        obskit.configure(service_name="again", exporters=["memory"])
    assert obskit.telemetry() is None
    assert _providers.state.tracer_provider is None
    assert _providers.state.disabled is False


def test_nested_captures_restore_the_outer_one() -> None:
    before = (_providers.state.tracer_provider, _providers.state.meter_provider)
    with Capture() as outer:
        with Capture() as inner, obskit.span("inner-span"):
            pass
        with obskit.span("outer-span"):
            pass
    assert inner.tree() == "inner-span\n"
    assert outer.tree() == "outer-span\n"
    assert (_providers.state.tracer_provider, _providers.state.meter_provider) == before


@pytest.mark.obskit_capture(deterministic=True)
def test_deterministic_ids_and_timestamps(obskit_capture: Capture) -> None:
    with obskit.span("outer") as outer:
        outer.add_event("tick")
        with obskit.span("inner"):
            pass
    inner, outer_span = obskit_capture.spans
    assert (outer_span.context.trace_id, outer_span.context.span_id) == (1, 1)
    assert inner.context.span_id == 2
    assert (outer_span.start_time, outer_span.events[0].timestamp) == (1_000_000_000, 2_000_000_000)
    assert (inner.start_time, inner.end_time, outer_span.end_time) == (
        3_000_000_000,
        4_000_000_000,
        5_000_000_000,
    )


def test_the_fake_clock_is_removed_after_a_deterministic_capture() -> None:
    with Capture(deterministic=True):
        assert sdk_trace.time_ns is not time.time_ns
    assert sdk_trace.time_ns is time.time_ns


def test_module_level_tracers_and_instruments_are_isolated_between_tests(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_isolation="""
        from opentelemetry import metrics, trace
        import obskit

        tracer = trace.get_tracer("app")                       # made at import time
        requests = metrics.get_meter("app").create_counter("app.requests")
        jobs = obskit.counter("app.jobs")

        def work(name):
            with tracer.start_as_current_span(name):
                requests.add(1)
                jobs.add(1)

        def test_first(obskit_capture):
            work("first")
            assert obskit_capture.tree() == "first\\n"
            assert obskit_capture.metric("app.requests").value == 1
            assert obskit_capture.metric("app.jobs").value == 1

        def test_second(obskit_capture):
            work("second")
            assert obskit_capture.tree() == "second\\n"
            assert obskit_capture.metric("app.requests").value == 1
            assert obskit_capture.metric("app.jobs").value == 1

        def test_without_the_fixture_nothing_is_routed():
            from obskit import _routing as _providers
            assert _providers.state.tracer_provider is None
        """
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=3)
    # Reverse order too: isolation must not depend on which test runs first.
    pytester.runpytest(
        *INNER_ARGS, "test_isolation.py::test_second", "test_isolation.py::test_first"
    ).assert_outcomes(passed=2)


def test_isolation_holds_under_xdist(pytester: pytest.Pytester) -> None:
    body = """
        def test_{i}(obskit_capture):
            with obskit.span("job-{i}"):
                jobs.add({i})
            assert obskit_capture.tree() == "job-{i}\\n"
            assert obskit_capture.metric("jobs").value == {i}
    """
    tests = "".join(textwrap.dedent(body).format(i=i) for i in range(1, 9))
    pytester.makepyfile(test_xdist="import obskit\njobs = obskit.counter('jobs')\n" + tests)
    result = pytester.runpytest_subprocess(*INNER_ARGS, "-p", "xdist", "-n", "2", timeout=120)
    result.assert_outcomes(passed=8)


def test_failure_messages_show_the_emitted_tree(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_failures="""
        import obskit

        def emit():
            with obskit.span("SELECT t", attributes={"db.rows": 3}):
                with obskit.span("query.parse"):
                    pass
            obskit.counter("query.rows").add(3, {"db.table": "t"})

        def test_one(obskit_capture):
            emit()
            obskit_capture.one("query.plan")

        def test_assert_tree(obskit_capture):
            emit()
            obskit_capture.assert_tree('''
                SELECT t
                  query.plan
            ''')

        def test_metric(obskit_capture):
            emit()
            obskit_capture.metric("query.rows", {"db.table": "u"})

        def test_plain_assert(obskit_capture):
            emit()
            assert obskit_capture.one("query.parse").attributes.get("x") == 1
        """
    )
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*expected exactly one span 'query.plan', found 0.",
            "*spans emitted:",
            "*  SELECT t  db.rows=3",
            "*    query.parse",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*the span tree differs from the expected one (- expected, + actual):",
            "*--- expected",
            "*+++ actual",
            "*-  query.plan",
            "*+  query.parse",
            "*actual tree:",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*metric 'query.rows' with attributes {'db.table': 'u'}: no point matches.*",
            "*  query.rows {'db.table': 't'}: 3",
        ]
    )
    # A plain assert gets the emitted tree as a report section.
    result.stdout.fnmatch_lines(["*obskit: spans emitted*", "SELECT t  db.rows=3", "  query.parse"])


def test_spans_left_open_and_attached_context_fail_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_leaks="""
        import pytest
        from opentelemetry import context, trace
        import obskit

        tracer = trace.get_tracer("leaky")

        @obskit.traced
        def rows():
            yield 1
            yield 2

        def test_unended_span(obskit_capture):
            tracer.start_span("never.ended")

        def test_abandoned_generator(obskit_capture):
            global keep
            keep = rows()
            next(keep)

        def test_attached_context(obskit_capture):
            span = tracer.start_span("attached")
            context.attach(trace.set_span_in_context(span))
            span.end()

        @pytest.mark.obskit_capture(check_leaks=False)
        def test_opted_out(obskit_capture):
            tracer.start_span("on.purpose")

        def test_after_the_leaks_the_context_is_clean(obskit_capture):
            assert not trace.get_current_span().get_span_context().is_valid
        """
    )
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unended_span*",
            "*1 span(s) started during the test and never ended:",
            "*'never.ended' (span *, started on thread MainThread)",
        ]
    )
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_abandoned_generator*", "*'rows'*"])
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_attached_context*",
            "*a context was left attached: the current span at teardown is 'attached'*",
        ]
    )


def test_a_failing_test_does_not_also_report_its_leaks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fail_and_leak="""
        from opentelemetry import trace

        def test_it(obskit_capture):
            trace.get_tracer("x").start_span("open")
            assert False, "the real problem"
        """
    )
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(failed=1)
    assert "never ended" not in result.stdout.str()


def test_marker_on_a_module_sets_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest
        import obskit

        pytestmark = pytest.mark.obskit_capture(deterministic=True, service_name="svc")

        def test_it(obskit_capture):
            with obskit.span("s"):
                pass
            (span,) = obskit_capture.spans
            assert span.context.span_id == 1
            assert span.resource.attributes["service.name"] == "svc"
        """
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=1)


def test_context_is_restored_between_capture_tests(obskit_capture: Capture) -> None:
    # The previous test's fixture put back its setup context; nothing is current here.
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert context_api.get_current() is not None


def test_the_plugin_imports_without_grpc() -> None:
    # pytest loads the plugin in every run; it must not need grpc (only the collector does).
    code = textwrap.dedent(
        """
        import sys

        class NoGrpc:
            def find_spec(self, name, path=None, target=None):
                if name == "grpc" or name.startswith("grpc."):
                    raise ImportError("grpc is not installed here")

        sys.meta_path.insert(0, NoGrpc())
        import obskit.testing._plugin
        from obskit.testing import Capture
        with Capture() as capture:
            pass
        try:
            from obskit.testing import OTLPReceiver
        except ImportError:
            print("receiver needs grpc")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "receiver needs grpc"


def test_public_names_are_exported_and_documented_with_examples() -> None:
    import obskit.testing as testing

    assert set(testing.__all__) == {
        "Blackhole", "Capture", "CapturedMetric", "Collector", "DeterministicIdGenerator",
        "FakeClock", "FaultyOTLPReceiver", "OTLPReceiver", "SpanQueries", "closed_port",
        "frozen_span_clock", "service_of",
    }  # fmt: skip
    undocumented = []
    for name in testing.__all__:
        doc = getattr(testing, name).__doc__ or ""
        if "Example" not in doc and ">>>" not in doc:
            undocumented.append(name)
    assert undocumented == []
