"""obskit.btree on a real B+tree: 10,000 keys loaded, then a mixed read/write/delete workload.

Run it from the repository root::

    python examples/btree.py [--order 8] [--keys 10000] [--ops 20000]

It prints a sample of operation spans (one traced operation in 2,000; every operation
is counted in the metrics), a range report as a span tree, the tree's shape, and at exit
the metric summary (obskit's "console" exporter). Send the same data to Jaeger and
Prometheus with ``OBSKIT_EXPORTERS=otlp,prometheus`` and the usual ``OTEL_*`` variables.
"""

from __future__ import annotations

import argparse
import random
import time

from _minidb.bplustree import BPlusTree

import obskit


def workload(tree: BPlusTree, keys: int, ops: int, rng: random.Random) -> dict[str, int]:
    """Reads (some of missing keys), writes and deletes in a 60/25/15 mix."""
    done = {"get": 0, "put": 0, "delete": 0}
    for _ in range(ops):
        roll = rng.random()
        key = f"user:{rng.randrange(keys * 2):06d}"  # half the key space is absent
        if roll < 0.60:
            tree.get(key)
            done["get"] += 1
        elif roll < 0.85:
            tree.put(key, {"visits": rng.randrange(100)})
            done["put"] += 1
        else:
            tree.delete(key)
            done["delete"] += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", type=int, default=8, help="max children per node")
    parser.add_argument("--keys", type=int, default=10_000, help="keys loaded first")
    parser.add_argument("--ops", type=int, default=20_000, help="mixed operations after")
    args = parser.parse_args()

    obskit.configure(service_name="btree-example")
    rng = random.Random(7)
    tree = BPlusTree("users_pk", order=args.order)
    started = time.perf_counter()
    ids = list(range(args.keys))
    rng.shuffle(ids)
    for i in ids:
        tree.put(f"user:{i * 2:06d}", {"visits": 0})
    done = workload(tree, args.keys, args.ops, rng)
    # Purge a third of the key space: underfull nodes borrow from siblings or merge.
    purge = [key for key, _ in tree.scan("user:", f"user:{args.keys * 2 // 3:06d}")]
    for key in purge:
        tree.delete(key)
    done["delete"] += len(purge)
    with obskit.span("range.report", attributes={"btree.index": tree.name}) as report:
        for fraction in (0.7, 0.8, 0.9):
            low = int(args.keys * 2 * fraction)
            rows = sum(1 for _ in tree.scan(f"user:{low:06d}", f"user:{low + 200:06d}"))
            report.add_event("range", {"range.low": low, "range.rows": rows})
    tree.check()
    elapsed = time.perf_counter() - started
    print(
        f"tree {tree.name}: order={tree.order} keys={len(tree)} depth={tree.depth} "
        f"nodes={tree.nodes}; ran {done['get']} gets, {done['put']} puts, "
        f"{done['delete']} deletes in {elapsed:.2f}s"
    )
    obskit.shutdown()  # prints the metric summary with the console exporter


if __name__ == "__main__":
    main()
