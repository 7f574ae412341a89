"""A query worker process: owns one partition of every table, runs fragments on request.

Each worker calls `obskit.configure()` itself (exporter settings come from the inherited
environment) and `obskit.shutdown()` before it exits, so its spans are delivered:
multiprocessing children end with os._exit and skip atexit hooks.
"""

from __future__ import annotations

import pickle
from multiprocessing import Queue
from typing import Any

import obskit
from _minidb import sql
from obskit import query

SYSTEM = "minidb"


def serve(worker_index: int, workers: int, requests: Queue, responses: Queue) -> None:
    """Answer fragment requests until a None request arrives."""
    obskit.configure(service_name="minidb-worker", resource={"worker.index": worker_index})
    worker_id = f"worker-{worker_index}"
    partitions = {
        table: [row for row in sql.table_rows(table) if row["id"] % workers == worker_index]
        for table in sql.COLUMNS
    }
    responses.put({"ready": worker_id})
    try:
        while True:
            request = requests.get()
            if request is None:
                break
            responses.put(_run(request, worker_id, partitions))
    finally:
        obskit.shutdown(timeout=5)


def _run(request: dict[str, Any], worker_id: str, partitions: dict[str, Any]) -> dict[str, Any]:
    plan: sql.Plan = request["plan"]
    with query.fragment(request["trace"], worker_id=worker_id,
                        fragment_id=request["fragment_id"], system=SYSTEM) as fragment:  # fmt: skip
        with fragment.operator("scan") as scan:  # in-process: a child span, no carrier
            rows, scanned = sql.run_fragment(plan, partitions[plan.table])
            scan.rows(len(rows))
        payload = pickle.dumps(rows)
        fragment.rows(len(rows), read=scanned)
        fragment.bytes(written=len(payload))
    return {"query": request["query"], "worker": worker_id, "rows": payload, "scanned": scanned}
