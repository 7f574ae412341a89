"""A host that sets up the OpenTelemetry SDK itself (no obskit.configure()) gets the
domains' hot-instrument metrics, whether it sets its provider before or after importing
the domain modules (each case in a fresh interpreter: the OTel globals can be set once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_SCRIPT = """
import json, sys
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

order = sys.argv[1]
reader = InMemoryMetricReader()

def host_sets_up_the_sdk():
    trace.set_tracer_provider(TracerProvider())
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

if order == "before":
    host_sets_up_the_sdk()
import obskit.btree as btree
import obskit.pipeline as pipeline

class Tree:
    name = "users_pk"

    @btree.get(index_attr="name")
    def get(self, key):
        return None

orders = pipeline.Pipeline("orders", sample_ratio=0.0)

@orders.processor("enrich")
def enrich(order):
    return order

if order == "records-before":  # this thread's cells exist before the host's provider
    Tree().get(1)
    enrich({"id": 1})
if order != "before":
    host_sets_up_the_sdk()
Tree().get(1)
enrich({"id": 2})
data = reader.get_metrics_data()
found = {}
for rm in data.resource_metrics if data else []:
    for sm in rm.scope_metrics:
        for metric in sm.metrics:
            found[metric.name] = sum(
                getattr(p, "count", None) or getattr(p, "value", 0) for p in metric.data.data_points
            )
print(json.dumps(found))
"""


@pytest.mark.parametrize("order", ["before", "after", "records-before"])
def test_domain_metrics_reach_a_provider_the_host_set_itself(order: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, order],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # Only what was recorded under the host's provider counts (as with SDK instruments).
    assert found.get("btree.operation.duration") == 1, found
    assert found.get("pipeline.processing.duration") == 1, found
    # An observable counter of the pipeline's own totals (which count from the start).
    assert found.get("pipeline.records.in", 0) >= 1, found


def test_importing_obskit_leaves_the_global_meter_provider_to_the_host() -> None:
    # With OTEL_PYTHON_METER_PROVIDER set, asking the API for the global provider installs
    # that one; obskit's import must not, or the host's own set_meter_provider is refused.
    script = (
        "import obskit\n"
        "from opentelemetry import metrics\n"
        "from opentelemetry.metrics import _internal\n"
        "print(_internal._METER_PROVIDER is None)\n"
    )
    env = {**os.environ, "OTEL_PYTHON_METER_PROVIDER": "sdk_meter_provider"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True", done.stdout
