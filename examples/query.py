"""obskit.query on a tiny distributed SQL engine: one trace per query across processes.

Run it from the repository root::

    python examples/query.py [--workers 3]

The coordinator parses, plans and optimizes each query, sends one fragment per worker
process (multiprocessing, spawn) with the trace context in the request, and merges the
results. Each process prints its spans (obskit's "console" exporter): the workers'
`query.fragment` spans carry the coordinator's trace id. The metric summary of each
process follows at exit. Set ``OBSKIT_EXPORTERS=otlp`` and ``OTEL_EXPORTER_OTLP_ENDPOINT``
to see each query as one trace in Jaeger: the workers inherit the environment.
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import queue
import time
from typing import Any

from _minidb import sql, worker

import obskit
from obskit import query

QUERIES = (
    "SELECT name, city FROM users WHERE age > 85",
    "SELECT city, COUNT(*) FROM users GROUP BY city",
    "SELECT status, SUM(amount) FROM orders WHERE amount >= 250 GROUP BY status",
    "SELECT city, COUNT(*) FROM users GROUP BY city",  # the plan cache hits this time
    "SELECT * FROM payments WHERE id = 7",  # fails: no such table
)
RESPONSE_TIMEOUT = 30.0


class Coordinator:
    """Plans queries and runs their fragments on worker processes."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.responses: Any = context.Queue()
        self.requests = [context.Queue() for _ in range(workers)]
        self.processes = [
            context.Process(target=worker.serve, args=(i, workers, self.requests[i],
                                                       self.responses), daemon=True)
            for i in range(workers)
        ]  # fmt: skip
        for process in self.processes:
            process.start()
        for _ in self.processes:  # wait until every worker has built its partitions
            self.responses.get(timeout=RESPONSE_TIMEOUT)
        self.plans: dict[str, sql.Plan] = {}
        self.next_id = 0

    def execute(self, text: str) -> list[Any]:
        self.next_id += 1
        query_id = f"q{self.next_id}"
        with query.lifecycle(text, system=worker.SYSTEM, query_id=query_id) as q:
            key = query.sanitize(text)
            plan = self.plans.get(key)
            q.cache(plan is not None, "plan")
            if plan is None:
                with q.phase("parse"):
                    parts = sql.parse(text)
                with q.phase("plan"):
                    plan = sql.plan(parts)
                    q.cost(estimated=sql.cost(plan))
                with q.phase("optimize"):
                    plan = sql.optimize(plan)
                    q.cost(optimized=sql.cost(plan))
                self.plans[key] = plan
            with q.phase("execute"):
                partials = self._run_fragments(q, query_id, plan)
            with q.phase("aggregate"), q.operator("merge"):
                result = sql.merge(plan, partials)
            q.rows(len(result))
            q.workers(len(self.processes))
            q.fragments(len(self.processes))
        return result

    def _run_fragments(self, q: query.QueryLifecycle, query_id: str, plan: sql.Plan) -> list[Any]:
        for index, requests in enumerate(self.requests):
            requests.put({"query": query_id, "fragment_id": f"{query_id}.{index}", "plan": plan,
                          "trace": q.fragment_carrier()})  # fmt: skip
        partials = []
        deadline = time.monotonic() + RESPONSE_TIMEOUT
        while len(partials) < len(self.requests):
            try:
                response = self.responses.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{query_id}: workers did not answer in time") from None
            q.bytes(len(response["rows"]))  # bytes received from the workers
            partials.append(pickle.loads(response["rows"]))
        return partials

    def close(self) -> None:
        """Stop the workers: a None request each, then join (killed if stuck)."""
        for requests in self.requests:
            requests.put(None)
        for process in self.processes:
            process.join(timeout=20)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3, help="worker processes (2-3 is plenty)")
    args = parser.parse_args()
    obskit.configure(service_name="minidb-coordinator")
    coordinator = Coordinator(args.workers)
    try:
        for text in QUERIES:
            try:
                result = coordinator.execute(text)
                print(f"{text}\n  -> {len(result)} rows, first: {result[:2]}", flush=True)
            except sql.QueryError as exc:
                print(f"{text}\n  -> error: {exc}", flush=True)
    finally:
        coordinator.close()
    obskit.shutdown()


if __name__ == "__main__":
    main()
