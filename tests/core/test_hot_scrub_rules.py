"""Scrubbing rules installed after a hot instrument was bound apply to its counter and
histogram series alike (at the next collection, not per record)."""

from __future__ import annotations

import obskit
from obskit.testing import Capture


def test_rules_installed_after_binding_reach_hot_counters_and_histograms_alike(
    obskit_capture: Capture,
) -> None:
    attributes = {"shard.owner": "tenant-acme", "kind": "read"}
    calls = obskit.hot_counter("scrubgen.calls", unit="{call}").bind(attributes)
    latency = obskit.hot_histogram("scrubgen.duration").bind(attributes)
    calls.add()
    latency.record(0.01)
    before = obskit_capture.metric("scrubgen.duration").attributes
    assert before["shard.owner"] == "tenant-acme"  # no rule matches yet

    obskit.configure(
        exporters=["memory"], scrubbing=obskit.ScrubbingOptions(extra_patterns=["owner"])
    )
    calls.add()
    latency.record(0.02)
    counter = obskit_capture.metric("scrubgen.calls")
    histogram = obskit_capture.metric("scrubgen.duration")
    assert dict(histogram.attributes) == dict(counter.attributes)
    assert histogram.attributes["shard.owner"] != "tenant-acme"
    assert histogram.attributes["kind"] == "read"
    assert histogram.count == 2


def test_bound_sets_the_new_rules_make_equal_export_one_histogram_point(
    obskit_capture: Capture,
) -> None:
    latency = obskit.hot_histogram("scrubgen.merged", buckets=[1.0])
    latency.bind({"shard.owner": "a"}).record(0.5)
    latency.bind({"shard.owner": "b"}).record(2.0)
    assert len(obskit_capture.metrics("scrubgen.merged")) == 2
    obskit.configure(
        exporters=["memory"], scrubbing=obskit.ScrubbingOptions(extra_patterns=["owner"])
    )
    (point,) = obskit_capture.metrics("scrubgen.merged")
    assert (point.count, point.sum, point.min, point.max) == (2, 2.5, 0.5, 2.0)
    assert point.bucket_counts == (1, 1)
