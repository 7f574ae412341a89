"""R1-R5: a backend that is down or hung never slows, grows or holds up the host program."""

from __future__ import annotations

import pytest
from _harness import record_figure, run_scenario

from obskit.testing._faults import Blackhole

pytestmark = pytest.mark.reliability

MIB = 1024 * 1024
SPANS = 100_000
# Added to a timeout before a call counts as having ignored it: the SDK's own waits are
# 30-47 s here, so 2.5 s only absorbs a loaded machine's scheduling and interpreter exit.
SLACK = 2.5


def _exact(counts: dict[str, int]) -> bool:
    dropped = sum(v for k, v in counts.items() if k not in ("ended", "exported"))
    return counts["ended"] == counts["exported"] + dropped


def test_backend_down_costs_little_and_every_span_is_accounted_for(
    protocol: str, down_endpoint: str
) -> None:
    # R1 + R2: the same 100k spans against a no-op exporter and a closed port, same run.
    baseline = run_scenario("throughput", {"exporters": ["noop"], "n": SPANS}).result
    down = run_scenario(
        "throughput",
        {"exporters": ["otlp"], "n": SPANS, "endpoint": down_endpoint, "protocol": protocol},
    ).result
    ratio = down["wall"] / baseline["wall"]
    record_figure(
        f"R1 {protocol}",
        f"{ratio:.2f}x no-op ({down['wall']:.2f} s vs {baseline['wall']:.2f} s); "
        f"worst span {down['worst'] * 1000:.1f} ms",
    )
    record_figure(f"R2 {protocol}", f"RSS +{down['rss_growth'] / MIB:.1f} MiB; {down['counts']}")
    # Bounds where a failure would be (figures above): an export on the caller's thread
    # costs a connection attempt per span (100x and more) and blocks a span end for the
    # first backoff (1 s); a loaded 2-core box alone shows 1.3x and ~100 ms pauses.
    assert ratio <= 2.0
    assert down["worst"] <= 0.500
    assert down["rss_growth"] <= 32 * MIB
    counts = down["counts"]
    assert counts["ended"] == SPANS + 200
    assert _exact(counts), counts
    assert counts["queue_full"] > 0
    assert counts["exported"] == 0
    # The same figures are on /metrics, as Prometheus would scrape them.
    exported = sum(down["exported_metric"].values())
    dropped = {
        k.rsplit('reason="', 1)[1].rstrip('"}'): v for k, v in down["dropped_metric"].items()
    }
    assert exported == counts["exported"]
    assert all(dropped[reason] == counts[reason] for reason in dropped)
    assert exported + sum(dropped.values()) == counts["ended"]


@pytest.mark.parametrize("backend", ["down", "blackhole"])
def test_shutdown_returns_within_its_timeout_and_counts_discards(
    protocol: str, backend: str, down_endpoint: str, blackhole: Blackhole
) -> None:
    # R3, plus: threads and file descriptors back to baseline (within 2) afterwards.
    endpoint = down_endpoint if backend == "down" else blackhole.http_endpoint
    result = run_scenario(
        "shutdown_bound",
        {"endpoint": endpoint, "protocol": protocol, "timeout": 5.0, "otlp_timeout": 3.0},
    ).result
    record_figure(f"R3 {protocol} {backend}", f"shutdown(timeout=5) took {result['took']:.2f} s")
    # The SDK's own shutdown takes 30 s here; the margin absorbs a loaded machine.
    assert result["took"] <= 5.0 + SLACK
    assert result["complete"] is False
    counts = result["counts"]
    assert counts["shutdown"] + counts["export_failed"] > 0
    assert _exact(counts), counts
    (threads0, fds0), (threads1, fds1) = result["baseline"], result["after"]
    assert threads1 <= threads0 + 2, (threads0, threads1)
    assert fds1 <= fds0 + 2, (fds0, fds1, result["fds"])


@pytest.mark.parametrize("backend", ["down", "blackhole"])
def test_interpreter_exit_is_bounded_without_shutdown(
    protocol: str, backend: str, down_endpoint: str, blackhole: Blackhole
) -> None:
    # R4: main returns without obskit.shutdown(); traces and OTLP metrics both configured.
    endpoint = down_endpoint if backend == "down" else blackhole.http_endpoint
    outcome = run_scenario("exit_bound", {"endpoint": endpoint, "protocol": protocol}, timeout=60)
    took = outcome.ended_at - outcome.result["main_done"]
    record_figure(f"R4 {protocol} {backend}", f"exit {took:.2f} s after main returned")
    assert outcome.returncode == 0
    assert took <= 5.0 + SLACK  # the SDK's atexit waits 30 s


def test_flush_honours_its_timeout(protocol: str, blackhole: Blackhole) -> None:
    # R5
    result = run_scenario(
        "flush_bound", {"endpoint": blackhole.http_endpoint, "protocol": protocol}
    ).result
    record_figure(f"R5 {protocol}", f"flush(timeout=1) took {result['took']:.2f} s")
    assert result["result"] is False
    assert result["took"] <= 1.0 + SLACK  # the SDK's force_flush ignores it (46.7 s)
