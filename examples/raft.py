"""A real 3-node Raft cluster in 3 processes, traced and measured with obskit.raft.

Run it from the repository root::

    python examples/raft.py

It starts three node processes (examples/_raftnode) on free 127.0.0.1 ports, waits for
a leader, replicates a few hundred writes, stops the leader, waits for the other two to
elect a new one, writes some more, and checks that both survivors applied every write.
Each node calls `obskit.configure(service_name="raft-node-<id>")`, so the exporters come
from the environment: by default every node prints a few sampled traces and its metric
summary (console); with OTLP variables set, e.g.::

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python examples/raft.py

every write is one trace across three services in Jaeger: `raft.propose` on the leader,
its AppendEntries CLIENT spans, and each follower's SERVER span as their child.
The whole run is bounded (about 30 s at most) and every node process is stopped by PID.

Options for benchmarks/bench_raft.py (both off by default): `RAFT_EXAMPLE_FAILOVER=0`
skips the failover (all three nodes must apply every write instead), and
`RAFT_EXAMPLE_REPORT=1` makes each node print its CPU time and the writes it committed as
leader at exit; the example then prints them as one JSON line, `{"raft_example_report":
{...}}`, last.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
NODES = ("1", "2", "3")
WRITES = int(os.environ.get("RAFT_EXAMPLE_WRITES", "300"))
WRITES_AFTER_FAILOVER = 50
FAILOVER = os.environ.get("RAFT_EXAMPLE_FAILOVER", "1") != "0"
REPORT = os.environ.get("RAFT_EXAMPLE_REPORT", "0") == "1"
REPORT_KEY = "raft_node_report"
TIME_BUDGET = 30.0  # seconds for the whole run
# Variables that mean "the user chose exporters or sampling": then the env is left alone.
_CHOICES = ("OBSKIT_EXPORTERS", "OTEL_TRACES_EXPORTER", "OBSKIT_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OBSKIT_SAMPLE_RATIO", "OTEL_TRACES_SAMPLER")  # fmt: skip


class Deadline:
    """The run's time budget; every wait takes what is left of it, never more."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float = 5.0) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the example ran out of its time budget")
        return min(remaining, cap)


def free_ports(count: int) -> list[int]:
    """Free ports below the kernel's ephemeral range.

    The nodes bind them only after this returns; a port picked with bind(0) could be
    handed to another program's bind(0) in between. Below 32768 (the usual start of
    ip_local_port_range) the kernel never hands out ports on its own.
    """
    found: list[int] = []
    for port in random.sample(range(20_000, 32_000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("no free ports between 20000 and 32000")


def ask(port: int, message: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """One request to a node; None when it is down or slow."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(json.dumps(message).encode() + b"\n")
            line = conn.makefile("rb").readline()
            return dict(json.loads(line)) if line else None
    except (OSError, ValueError):
        return None


class Client:
    """A persistent connection to the leader for writes."""

    def __init__(self, port: int) -> None:
        self.conn = socket.create_connection(("127.0.0.1", port), 5)
        self.conn.settimeout(5)
        self.reader = self.conn.makefile("rb")

    def write(self, cmd: str) -> dict[str, Any]:
        self.conn.sendall(json.dumps({"type": "propose", "cmd": cmd}).encode() + b"\n")
        return dict(json.loads(self.reader.readline()))

    def close(self) -> None:
        self.conn.close()


def relay(name: str, stream: IO[str], reports: dict[str, Any]) -> None:
    for line in stream:
        if REPORT and line.startswith(f'{{"{REPORT_KEY}"'):
            report = json.loads(line)[REPORT_KEY]
            reports[report["id"]] = report
            continue
        sys.stdout.write(f"[{name}] {line}")
    sys.stdout.flush()


def wait_for_leader(ports: dict[str, int], deadline: Deadline, not_id: str | None = None) -> str:
    while True:
        for node_id, port in ports.items():
            status = ask(port, {"type": "status"}, deadline.left(0.5))
            if status and status["role"] == "leader" and node_id != not_id:
                return node_id
        time.sleep(0.05)  # polling a live cluster; bounded by the deadline


def replicate(port: int, first: int, count: int, deadline: Deadline) -> list[float]:
    client = Client(port)
    latencies = []
    try:
        for i in range(first, first + count):
            deadline.left()
            started = time.perf_counter()
            reply = client.write(f"key{i}=value{i}")
            if not reply.get("ok"):
                raise RuntimeError(f"write {i} failed: {reply}")
            latencies.append(time.perf_counter() - started)
    finally:
        client.close()
    return latencies


def stop(process: subprocess.Popen[str], grace: float = 8.0) -> None:
    """SIGTERM (the node flushes its telemetry), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def main() -> int:
    deadline = Deadline(TIME_BUDGET)
    ports = dict(zip(NODES, free_ports(len(NODES)), strict=True))
    cluster = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    if not any(os.environ.get(name) for name in _CHOICES):
        env["OBSKIT_SAMPLE_RATIO"] = "0.01"  # console: print a handful of traces, not 300
    processes: dict[str, subprocess.Popen[str]] = {}
    relays = []
    reports: dict[str, Any] = {}
    leader = None
    try:
        for node_id in NODES:
            processes[node_id] = subprocess.Popen(
                [sys.executable, "-m", "_raftnode", "--id", node_id, "--cluster", cluster,
                 "--max-seconds", str(TIME_BUDGET + 10), *(["--report"] if REPORT else [])],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            print(f"started node {node_id}: pid {processes[node_id].pid}, "
                  f"port {ports[node_id]}", flush=True)  # fmt: skip
            out = processes[node_id].stdout
            assert out is not None
            relays.append(
                threading.Thread(target=relay, args=(f"raft-node-{node_id}", out, reports))
            )
            relays[-1].start()
        leader = wait_for_leader(ports, deadline)
        print(f"leader elected: node {leader}", flush=True)
        latencies = replicate(ports[leader], 0, WRITES, deadline)
        print(f"{WRITES} writes committed through node {leader}", flush=True)
        survivors, total = dict(ports), WRITES
        if FAILOVER:
            print(f"stopping the leader, node {leader} (pid {processes[leader].pid})", flush=True)
            stop(processes[leader])
            survivors = {i: p for i, p in ports.items() if i != leader}
            new_leader = wait_for_leader(survivors, deadline, not_id=leader)
            print(f"new leader elected: node {new_leader}", flush=True)
            latencies += replicate(ports[new_leader], WRITES, WRITES_AFTER_FAILOVER, deadline)
            total = WRITES + WRITES_AFTER_FAILOVER
        while True:  # followers learn the last commit index with the next heartbeat
            states = [ask(p, {"type": "status"}, deadline.left(0.5)) for p in survivors.values()]
            if all(s and s["applied_index"] >= total and s["keys"] == total for s in states):
                break
            time.sleep(0.05)
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"{'both survivors' if FAILOVER else 'all three nodes'} applied all {total} "
              f"writes; write latency p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms",
              flush=True)  # fmt: skip
        return 0
    finally:
        for process in processes.values():
            stop(process)
        for thread in relays:
            thread.join(timeout=5)
        if REPORT:
            summary = {"first_leader": leader, "writes": WRITES, "nodes": reports}
            print(json.dumps({"raft_example_report": summary}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
