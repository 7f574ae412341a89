"""A host that installs only an SDK meter provider (no tracer provider, no configure())
still gets the Raft and query metrics: the domains pass through only when neither spans
nor metrics can reach anything (a fresh interpreter: the OTel globals can be set once).
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from obskit import query, raft

proposal = raft.propose("n1")
proposal.commit(index=1)
with raft.log_append("n1", first_index=1, last_index=1):
    pass
with query.lifecycle("SELECT a FROM t", system="x") as q, q.phase("execute"):
    pass
data = reader.get_metrics_data()
print(json.dumps(sorted({m.name for rm in data.resource_metrics
                         for sm in rm.scope_metrics for m in sm.metrics})))
"""


def test_meter_only_host_keeps_raft_and_query_metrics() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    names = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {"raft.commit.duration", "raft.log.append.duration", "query.phase.duration"} <= names
