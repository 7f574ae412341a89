"""snapshot() and sample(): plain values for a benchmark harness, and the sampler thread."""

from __future__ import annotations

import gc
import json
import sys
import threading
import time

import pytest

from obskit import runtime
from obskit._runtime import gc as _runtime_gc

SAMPLER_THREAD = "obskit-runtime-sampler"


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.005)


def test_snapshot_is_plain_json_ready_values():
    snap = runtime.snapshot()

    json.dumps(snap)  # plain values only
    assert snap["cpu_user_seconds"] > 0
    assert len(snap["gc_collections"]) == len(snap["gc_pauses"]) == 3
    if sys.platform.startswith("linux"):
        assert 0 < snap["rss_bytes"] <= snap["vms_bytes"]
        assert snap["rss_bytes"] <= snap["max_rss_bytes"]
        assert snap["open_fds"] >= 1
        assert snap["threads"] >= 1


def test_snapshot_counts_collections_and_pauses_when_timed():
    before = runtime.snapshot()
    runtime.enable()
    gc.collect(0)
    runtime.disable()
    after = runtime.snapshot()

    assert after["gc_collections"][0] > before["gc_collections"][0]
    assert after["gc_pauses"][0] > before["gc_pauses"][0]
    assert after["gc_pause_seconds"][0] > before["gc_pause_seconds"][0]


def test_sample_records_baseline_samples_and_final_then_stops_its_thread():
    python_threads = threading.active_count()
    with runtime.sample(interval=0.005) as series:
        assert any(t.name == SAMPLER_THREAD for t in threading.enumerate())
        gc.collect(0)
        _wait_for(lambda: series.readings >= 4)

    assert series.snapshots[0] is series.baseline
    assert series.snapshots[-1] is series.final
    assert len(series.snapshots) >= 4
    assert not any(t.name == SAMPLER_THREAD for t in threading.enumerate())
    assert threading.active_count() == python_threads
    if sys.platform.startswith("linux"):  # the OS thread is gone too, shortly after join
        baseline_threads = series.baseline["threads"]
        _wait_for(lambda: runtime.snapshot()["threads"] <= baseline_threads)
    assert not _runtime_gc.installed()  # the block's hook left with it


def test_summary_reports_what_the_block_used():
    with runtime.sample(interval=0.005) as series:
        gc.collect(0)
        ballast = [bytearray(1 << 20) for _ in range(8)]  # 8 MiB, touched
        _wait_for(lambda: series.readings >= 3)
    summary = series.summary()
    del ballast

    assert summary["samples"] == len(series.snapshots)
    assert summary["cpu_seconds"] == pytest.approx(
        summary["cpu_user_seconds"] + summary["cpu_system_seconds"]
    )
    assert summary["wall_seconds"] > 0
    assert summary["gc_collections"][0] >= 1
    assert summary["gc_pause_seconds"][0] > 0
    if sys.platform.startswith("linux"):
        assert summary["max_rss_bytes"] >= series.baseline["rss_bytes"]
        assert summary["max_threads"] >= 2  # the sampler thread itself was running


def test_long_runs_keep_at_most_max_samples():
    with runtime.sample(interval=0.001, max_samples=5) as series:
        _wait_for(lambda: series.readings >= 12)  # several halvings

    assert len(series.snapshots) <= 5
    assert series.snapshots[0] is series.baseline
    assert series.snapshots[-1] is series.final


def test_a_series_records_one_block():
    series = runtime.sample(interval=0.5)
    with series:
        pass
    with pytest.raises(RuntimeError, match="one block"), series:
        pass


@pytest.mark.parametrize(("interval", "max_samples"), [(0, 10), (-1.0, 10), (0.1, 1)])
def test_bad_arguments_are_named(interval, max_samples):
    with pytest.raises(ValueError, match=r"interval|max_samples"):
        runtime.sample(interval=interval, max_samples=max_samples)


def test_summary_needs_a_finished_block():
    with pytest.raises(RuntimeError, match="finished"):
        runtime.sample().summary()
