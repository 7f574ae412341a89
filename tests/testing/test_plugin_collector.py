"""obskit_collector: real child processes export over OTLP; one trace spans them all."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import obskit
from obskit import propagation
from obskit.testing import Capture, Collector

# A worker process: joins the trace whose traceparent it is given, records a metric, and
# shuts down (which flushes both signals to the collector).
CHILD = """
import sys
import obskit
from obskit import propagation

obskit.configure(service_name=sys.argv[1])
with propagation.continue_trace({"traceparent": sys.argv[2]}):
    with obskit.span("worker.job", attributes={"worker": sys.argv[1]}):
        with obskit.span("worker.step"):
            obskit.counter("worker.jobs").add(1, {"worker": sys.argv[1]})
assert obskit.shutdown(timeout=20), "shutdown did not deliver everything"
"""


def run_child(collector: Collector, service: str, traceparent: str) -> None:
    subprocess.run(
        [sys.executable, "-c", CHILD, service, traceparent],
        env={**os.environ, **collector.env},
        timeout=60,
        check=True,
    )


def run_two_nodes(collector: Collector, capture: Capture) -> int:
    """Run node-1 and node-2 as children of an in-process span; return that span's id."""
    with obskit.span("parent.dispatch") as parent:
        traceparent = propagation.inject()["traceparent"]
        for service in ("node-1", "node-2"):
            run_child(collector, service, traceparent)
    assert capture.one("parent.dispatch")
    return int(parent.span_id, 16)


def test_one_trace_spans_the_parent_and_two_child_processes(
    obskit_collector: Collector, obskit_capture: Capture
) -> None:
    parent_id = run_two_nodes(obskit_collector, obskit_capture)

    jobs = obskit_collector.wait_for("worker.job", count=2, timeout=30)
    assert obskit_collector.trace_ids() == obskit_capture.trace_ids()
    assert {job.parent.span_id for job in jobs if job.parent} == {parent_id}
    assert {job.resource.attributes["service.name"] for job in jobs} == {"node-1", "node-2"}
    obskit_collector.wait_for("worker.step", count=2, timeout=30)
    obskit_collector.assert_tree(
        """
        worker.job [node-1]
          worker.step [node-1]
        worker.job [node-2]
          worker.step [node-2]
        """
    )
    point = obskit_collector.wait_for_metric("worker.jobs", {"worker": "node-2"}, timeout=30)
    assert (point.value, point.service) == (1, "node-2")


@pytest.mark.obskit_collector(protocol="grpc")
def test_children_can_export_over_grpc(
    obskit_collector: Collector, obskit_capture: Capture
) -> None:
    assert obskit_collector.env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    with obskit.span("parent") as parent:
        run_child(obskit_collector, "node-g", propagation.inject()["traceparent"])
    (job,) = obskit_collector.wait_for("worker.job", worker="node-g", timeout=30)
    assert format(job.context.trace_id, "032x") == parent.trace_id


def test_env_overrides_inherited_obskit_settings(obskit_collector: Collector) -> None:
    env = obskit_collector.env
    assert env["OBSKIT_EXPORTERS"] == "otlp"
    assert env["OBSKIT_OTLP_ENDPOINT"] == env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert env["OBSKIT_OTLP_ENDPOINT"].startswith("http://127.0.0.1:")


def test_waiting_in_vain_shows_what_arrived(obskit_collector: Collector) -> None:
    with pytest.raises(AssertionError) as failure:
        obskit_collector.wait_for("never.sent", timeout=0.2)
    assert "waited 0.2 s for 1 spans named 'never.sent'; 0 arrived." in str(failure.value)
    assert "(no spans were finished)" in str(failure.value)
    with pytest.raises(AssertionError, match="no point matches"):
        obskit_collector.wait_for_metric("never.recorded", timeout=0.2)


def test_the_collector_fixture_works_from_a_user_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user=f"""
        import os, subprocess, sys

        CHILD = {CHILD!r}

        def test_node(obskit_collector):
            subprocess.run(
                [sys.executable, "-c", CHILD, "node-x", "00-" + "1" * 32 + "-" + "2" * 16 + "-01"],
                env={{**os.environ, **obskit_collector.env}}, timeout=60, check=True,
            )
            obskit_collector.wait_for("worker.step", timeout=30)
            assert obskit_collector.one("worker.job").context.trace_id == int("1" * 32, 16)
            obskit_collector.assert_tree("worker.job [node-x]\\n  worker.nope [node-x]\\n")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*-  worker.nope [[]node-x[]]", "*+  worker.step [[]node-x[]]", "*obskit: spans emitted*"]
    )
