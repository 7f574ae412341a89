"""Every duration histogram's buckets cover its range without wide gaps.

histogram_quantile interpolates inside a bucket, so a p99 can be off by up to the bucket's
width: with bounds at 1 s and 5 s, fragments that all took 1.05 s read as a p99 of about
4 s. The rule here: no bound more than 2.5x the one before (the 1-2.5-5 ladder of the
OpenTelemetry HTTP/RPC duration buckets), and the top bound at least 10 s, so a
multi-second stall lands in a bucket rather than in +Inf.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from obskit import LATENCY_BUCKETS
from obskit._tools import alerts as _alerts
from obskit._tools.catalogue import all_catalogues
from obskit.btree import _names as btree
from obskit.pipeline import _names as pipeline
from obskit.query import _names as query
from obskit.raft import _names as raft

MAX_STEP = 2.5
MIN_TOP_SECONDS = 10.0


def _durations() -> dict[str, tuple[float, ...]]:
    """domain/metric -> the bounds obskit exports (LATENCY_BUCKETS when none are declared)."""
    found = {}
    for catalogue in all_catalogues():
        for spec in catalogue.instruments:
            if spec.kind == "histogram" and spec.unit == "s":
                found[f"{catalogue.domain}/{spec.name}"] = tuple(spec.buckets or LATENCY_BUCKETS)
    return found


DURATIONS = _durations()


def test_every_domain_has_duration_histograms() -> None:
    domains = {key.split("/")[0] for key in DURATIONS}
    assert {"btree", "query", "raft", "pipeline", "runtime", "core"} <= domains


@pytest.mark.parametrize("name", sorted(DURATIONS))
def test_no_bound_more_than_2_5x_the_last(name: str) -> None:
    bounds = DURATIONS[name]
    assert list(bounds) == sorted(set(bounds)), "bounds must strictly increase"
    gaps = [(low, high) for low, high in pairwise(bounds) if high / low > MAX_STEP + 1e-9]
    assert not gaps, f"{name}: gaps wider than {MAX_STEP}x: {gaps}"


@pytest.mark.parametrize("name", sorted(DURATIONS))
def test_top_bound_at_least_10_seconds(name: str) -> None:
    assert DURATIONS[name][-1] >= MIN_TOP_SECONDS, name


def test_btree_operations_have_microsecond_bounds() -> None:
    assert btree.OPERATION_BUCKETS[0] <= 1e-5  # an in-memory lookup takes 1-50 us


def test_query_buckets_follow_the_opentelemetry_duration_buckets() -> None:
    semconv = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
    assert set(semconv) <= set(query.QUERY_BUCKETS)


@pytest.mark.parametrize(
    ("threshold", "bounds"),
    [
        (_alerts.THRESHOLDS["query_p99_seconds"], query.QUERY_BUCKETS),
        (_alerts.THRESHOLDS["btree_operation_p99_seconds"], btree.OPERATION_BUCKETS),
        (_alerts.THRESHOLDS["raft_commit_p99_seconds"], raft.RAFT_BUCKETS),
        (_alerts.THRESHOLDS["pipeline_step_p99_seconds"], pipeline.PIPELINE_BUCKETS),
        (raft.FAILOVER_ALERT_SECONDS, raft.FAILOVER_BUCKETS),
        (pipeline.RECORD_AGE_ALERT_SECONDS, pipeline.AGE_BUCKETS),
        (query.WORKER_DEGRADED_P99_SECONDS, query.QUERY_BUCKETS),
        (query.WORKER_CRITICAL_P99_SECONDS, query.QUERY_BUCKETS),
    ],
)
def test_alert_thresholds_are_bucket_bounds(threshold: float, bounds: tuple[float, ...]) -> None:
    """A p99 just over a threshold that is a bound reads as over it, never under."""
    assert threshold in bounds
