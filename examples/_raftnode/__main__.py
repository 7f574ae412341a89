"""One Raft node process: `python -m _raftnode --id 1 --cluster 1=127.0.0.1:7001,...`.

Started by examples/raft.py. Exits on SIGTERM (after flushing its telemetry), when its
parent process goes away, or after `--max-seconds`, so no node outlives the example.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

import obskit
from _raftnode.node import RaftNode, serve


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--cluster", required=True, help="id=host:port,... for every node")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--report", action="store_true",
                        help="at exit, print one JSON line: CPU time and writes led")  # fmt: skip
    args = parser.parse_args()
    cluster = {}
    for item in args.cluster.split(","):
        node_id, _, address = item.partition("=")
        host, _, port = address.rpartition(":")
        cluster[node_id] = (host, int(port))
    obskit.configure(service_name=f"raft-node-{args.id}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    node = RaftNode(args.id, {k: v for k, v in cluster.items() if k != args.id})
    server = serve(node, cluster[args.id][1])
    ticker = threading.Thread(target=node.run, name=f"raft-{args.id}-ticker", daemon=True)
    ticker.start()
    parent, started = os.getppid(), time.monotonic()
    print(f"node {args.id} listening on {cluster[args.id][1]}", flush=True)
    while not stop.wait(0.1):
        if os.getppid() != parent or time.monotonic() - started > args.max_seconds:
            break  # orphaned or overdue: leave rather than linger
    node.stopped.set()
    server.shutdown()
    server.server_close()
    ticker.join(timeout=2)
    if not obskit.shutdown(timeout=5):
        print(f"node {args.id}: some telemetry was not delivered", file=sys.stderr)
    if args.report:  # read by examples/raft.py (RAFT_EXAMPLE_REPORT=1)
        first, last = node.write_cpu
        report = {"id": args.id, "leader_writes": node.leader_writes,
                  "write_cpu_seconds": max(0.0, last - first),
                  "cpu_seconds": time.process_time()}  # fmt: skip
        print(json.dumps({"raft_node_report": report}), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: handler threads may still hold sockets to peers.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
