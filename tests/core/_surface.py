"""What obskit shows the world, as text: span trees and the Prometheus exposition.

Run in a fresh process by tests/core/test_surface.py (and by hand: `python
tests/core/_surface.py`). It configures obskit the way users do (the `memory` and
`prometheus` exporters, every trace sampled, the default span recorder), runs each domain
through its public API (B+tree, Raft, query, pipeline, `@traced`, `span`, `@timed`) with
fixed inputs, then prints every trace as an indented tree and the scraped `/metrics`.
Whatever depends on time or chance is masked: ids, timestamps, durations, histogram sums
and buckets, process and GC figures. What is left must not change when obskit's insides
are rearranged: a refactor that changes it changes what users see.
"""

from __future__ import annotations

import asyncio
import re
import sys
import urllib.request
from collections import defaultdict
from typing import Any

import obskit
from obskit import btree, pipeline, query, raft

MASKED_ATTRIBUTES = re.compile(
    r"(stacktrace|duration|elapsed|timestamp|instance\.id|thread\.|process\.pid|\.age$|\.lag$)"
)
#: Series whose values depend on time: durations (sum, buckets), creation times, process
#: figures, and the span counters (the export thread's progress at scrape time).
TIMING_SERIES = re.compile(r"(_bucket$|_sum$|_created$|_seconds|^process_|^python_|^obskit_spans_)")


class Tree:
    """A small B+tree-like index: enough structure to visit pages and split."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.data: dict[str, str] = {}

    @btree.put(index_attr="name")
    def put(self, key: str, value: str) -> None:
        btree.current_op().visit(2)
        btree.record_page_read(source="cache")
        if len(self.data) % 3 == 2:
            btree.record_split(level=0)
        self.data[key] = value

    @btree.get(index_attr="name")
    def get(self, key: str) -> str | None:
        btree.current_op().visit(1)
        btree.record_page_read(source="disk")
        return self.data.get(key)

    @btree.delete(index_attr="name")
    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    @btree.scan(index_attr="name")
    def scan(self, start: str, end: str) -> list[str]:
        return [k for k in sorted(self.data) if start <= k <= end]

    @btree.get(index_attr="name")
    def broken(self, key: str) -> str:
        raise KeyError(key)


def run_btree() -> None:
    tree = Tree("users_pk")
    for i in range(5):
        tree.put(f"k{i}", str(i))
    tree.get("k1")
    tree.get("missing")
    tree.delete("k2")
    tree.delete("missing")
    list(tree.scan("k0", "k9"))
    try:
        tree.broken("x")
    except KeyError:
        pass


def run_raft() -> None:
    raft.update_state("n1", term=2, role="leader", leader_id="n1", commit_index=0)
    raft.update_state("n2", term=2, role="follower", leader_id="n1")
    with raft.election("n3", term=3, votes_needed=2) as election:
        election.vote_granted("n1")
        election.vote_refused("n2")
        election.won()
    for index in (1, 2):
        with raft.propose("n1", term=2) as proposal:
            entry = {"op": f"set x {index}", "trace": proposal.inject({})}
            message = {"term": 2, "entries": [entry]}
            with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2") as call:
                with raft.server_call(
                    raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1"
                ) as handled:
                    with raft.log_append("n2", term=2, first_index=index, last_index=index):
                        pass
                    with raft.log_sync("n2", last_index=index):
                        pass
                    handled.response(success=True)
                call.response(success=index == 1)
            proposal.commit(index=index)
        with raft.apply("n1", first_index=index, last_index=index, entries=1):
            pass
    with raft.create_snapshot("n1", index=2, term=2, size=100):
        pass
    raft.record_replication("n1", "n2", match_index=1)
    raft.update_state("n1", commit_index=2, applied_index=2, last_index=2)


def run_query() -> None:
    with query.lifecycle("SELECT name FROM users WHERE id = 42", system="minidb") as q:
        with q.phase("parse"):
            pass
        with q.phase("plan"):
            q.cost(estimated=1000.0, optimized=40.0)
        with q.phase("execute"):
            carrier = q.fragment_carrier()
            for worker in ("w1", "w2"):
                with query.fragment(carrier, worker_id=worker, fragment_id=worker) as fragment:
                    fragment.rows(10, read=100)
            q.rows(20, read=200)
    failing = query.lifecycle("SELECT * FROM missing", system="minidb")
    try:
        with failing as q, q.phase("parse"):
            raise ValueError("no table missing")
    except ValueError:
        pass


def run_pipeline() -> None:
    logs = pipeline.Pipeline("logs", sample_ratio=1.0)

    @logs.source("reader")
    def read(lines: list[str]) -> Any:
        yield from lines

    @logs.processor("parse")
    def parse(line: str) -> tuple[str, str]:
        level, _, text = line.partition(" ")
        if level == "BAD":
            raise ValueError("unparsable")
        return (level, text)

    @logs.processor("errors_only")
    def errors_only(entry: tuple[str, str]) -> tuple[str, str] | None:
        return entry if entry[0] == "ERROR" else None

    for record in read(["ERROR disk", "INFO ok", "BAD x", "ERROR net"]):
        try:
            errors_only(parse(record))
        except ValueError:
            pass


def run_core() -> None:
    @obskit.traced(record_args=["a"], metrics=True)
    def add(a: int, b: int = 2) -> int:
        return a + b

    @obskit.traced
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n

    @obskit.timed(attributes={"surface.kind": "timed"})
    def timed_call() -> int:
        return 1

    with obskit.span("outer", attributes={"surface.kind": "core"}) as outer:
        add(1)
        outer.set_attribute("surface.step", 1)
        asyncio.run(fetch(3))
        timed_call()
    try:
        with obskit.span("failing"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass


def _value(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return repr(value)


def _attributes(attributes: Any) -> str:
    shown = []
    for key in sorted(attributes or {}):
        value = "<masked>" if MASKED_ATTRIBUTES.search(key) else _value(attributes[key])
        shown.append(f"{key}={value}")
    return " ".join(shown)


def render_spans(spans: list[Any]) -> list[str]:
    by_parent: dict[Any, list[Any]] = defaultdict(list)
    ids = {span.context.span_id for span in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        by_parent[parent if parent in ids else None].append(span)

    def key(span: Any) -> tuple[Any, ...]:
        return (span.name, _attributes(span.attributes))

    lines: list[str] = []

    def walk(span: Any, depth: int) -> None:
        status = span.status.status_code.name
        kind = span.kind.name
        remote = " remote-parent" if span.parent is not None and span.parent.is_remote else ""
        lines.append(
            f"{'  ' * depth}{span.name} [{kind} {status}{remote}] {_attributes(span.attributes)}"
        )
        for event in span.events:
            lines.append(f"{'  ' * depth}  ! {event.name} {_attributes(event.attributes)}")
        lines.append(f"{'  ' * depth}  links={len(span.links)}")
        for child in sorted(by_parent.get(span.context.span_id, []), key=key):
            walk(child, depth + 1)

    for root in sorted(by_parent[None], key=key):
        walk(root, 0)
    return lines


def render_exposition(text: str) -> list[str]:
    """Families sorted by name, samples sorted within each (the order instruments were
    created in is not something users see), time-dependent values masked."""
    families: dict[str, list[str]] = defaultdict(list)
    family = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split()[2]
        if family == "target_info":
            continue  # the resource: its service.instance.id is new in every process
        if line.startswith("#"):
            families[family].insert(0, line) if "HELP" in line else families[family].append(line)
            continue
        name, _, value = line.rpartition(" ")
        masked = TIMING_SERIES.search(name.split("{")[0])
        families[family].append(f"{name} {'<masked>' if masked else value}")
    lines = []
    for name in sorted(families):
        header = [line for line in families[name] if line.startswith("#")]
        lines += header + sorted(line for line in families[name] if not line.startswith("#"))
    return lines


def main() -> None:
    telemetry = obskit.configure(
        service_name="surface",
        exporters=["memory", "prometheus"],
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        sample_ratio=1.0,
        runtime=False,
    )
    run_btree()
    run_raft()
    run_query()
    run_pipeline()
    run_core()
    obskit.flush()
    spans = list(telemetry.info["memory_spans"].get_finished_spans())
    assert telemetry.prometheus_address is not None
    port = telemetry.prometheus_address[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    out = ["# spans", *render_spans(spans), "# exposition", *render_exposition(exposition)]
    obskit.shutdown()
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
