"""Per-operation cost of the domain decorators and context managers (issue 12).

Run alone:  python benchmarks/bench_domains.py [--quick]

Every public domain operation (btree get/put/delete/scan, a pipeline step, a Raft client
and server RPC, propose->commit, a query phase inside an open query lifecycle, a whole
query lifecycle with 4 phases and 5 fragments) is timed in one interleaved comparison
(benchmarks/_bench_harness.py): bare (the same work without telemetry), obskit disabled,
obskit unsampled and sampled, and the same shape written with the raw OpenTelemetry SDK
(spans from `start_as_current_span`, metrics from SDK instruments with the same
attributes). Both sides record into one live SDK meter provider with a reader attached
and export spans through the same SpanQueue and no-op exporter; "unsampled" is
ParentBased(TraceIdRatioBased(0)), "sampled" ratio 1. obskit's sampled rows use its own
span recorder (the default); the lifecycle also has a row with SDK spans
(`OBSKIT_SLIM_SPANS=false`). Every obskit case builds its objects (the query lifecycle of
the phase row included) under the providers it names, so each measures the path it says.

The whole-workload row runs the examples' pure-Python B+tree (examples/_minidb) with every
operation decorated and 1% of them traced, against the same tree with its obskit calls
replaced by no-ops.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from obskit import _routing as _providers
from obskit import btree, pipeline, query, raft
from obskit._export import slim as _slim
from obskit._export.queue import SpanQueue

try:
    from benchmarks._bench_harness import Case, Step, compare, run_steps
    from benchmarks.bench_calls import SDK_SPANS, NullExporter
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _bench_harness import Case, Step, compare, run_steps  # type: ignore[no-redef]
    from bench_calls import SDK_SPANS, NullExporter  # type: ignore[no-redef]

__all__ = [
    "CASES",
    "LIFECYCLE",
    "ROWS",
    "WORKLOAD_BARE",
    "WORKLOAD_TRACED",
    "Providers",
    "assemble",
    "row_cases",
    "run",
    "steps",
]

ROOT = Path(__file__).resolve().parents[1]
DATA = {i: i for i in range(1000)}
SORTED = list(range(20))
#: Row name -> the statement each case runs (the namespace supplies `op`).
ROWS = (
    "btree get",
    "btree put",
    "btree delete",
    "btree scan (20 keys)",
    "pipeline step",
    "raft client RPC",
    "raft server RPC",
    "raft propose -> commit",
    "query phase",
    "query lifecycle, 4 phases + 5 fragments",
)
#: The cases of every row, in the order the results table shows them.
CASES = (
    "bare",
    "obskit disabled",
    "obskit unsampled",
    "raw SDK unsampled",
    "obskit sampled",
    "raw SDK sampled",
)
LIFECYCLE = ROWS[-1]
WORKLOAD_BARE = "B+tree workload, obskit calls as no-ops"
WORKLOAD_TRACED = "B+tree workload, every operation decorated, 1% traced"


class Providers:
    """Tracer providers for each configuration, one meter provider with a reader.

    `exporter` makes the span exporter behind every provider's SpanQueue (a no-op one for
    timing; a test passes one that keeps the spans).
    """

    def __init__(self, exporter: Callable[[], Any] = NullExporter) -> None:
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        self.exporter = exporter
        self.unsampled = self._tracer_provider(0.0)
        self.sampled = self._tracer_provider(1.0)
        # SDK spans get their own provider: a recipe reads the switch when it binds, and
        # it binds again only when the provider it sees changes.
        self.sdk_spans = self._tracer_provider(1.0)

    def _tracer_provider(self, ratio: float) -> TracerProvider:
        provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(ratio)), shutdown_on_exit=False
        )
        provider.add_span_processor(
            SpanQueue(self.exporter, max_queue_size=8192, max_batch_size=512, schedule_delay=0.05)
        )
        return provider

    @contextlib.contextmanager
    def routed(self, sampled: bool, recorder: bool = True) -> Iterator[None]:
        """obskit on, unsampled or sampled; sampled spans from obskit's recorder (the
        default, switched on explicitly) or, with `recorder=False`, SDK spans."""
        tracer_provider = self.unsampled
        if sampled:
            tracer_provider = self.sampled if recorder else self.sdk_spans
        switch, _slim.ENABLED = _slim.ENABLED, recorder
        previous = _providers.set_current(tracer_provider, self.meter_provider)
        try:
            yield
        finally:
            _providers.restore(previous)
            _slim.ENABLED = switch

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """obskit off, as `configure(enabled=False)` leaves it."""
        previous = _providers.set_current(None, None, disabled=True)
        try:
            yield
        finally:
            _providers.restore(previous)

    def shutdown(self) -> None:
        for provider in (self.unsampled, self.sampled, self.sdk_spans):
            provider.shutdown()
        self.meter_provider.shutdown()


# --- obskit's side ------------------------------------------------------------------------
class Table:
    """The instrumented object: a dict behind the four btree decorators."""

    def __init__(self) -> None:
        self.data = dict(DATA)

    @btree.get(index="pk", key="key")
    def get(self, key: int) -> Any:
        return self.data.get(key)

    @btree.put(index="pk", key="key")
    def put(self, key: int, value: Any) -> None:
        self.data[key] = value

    @btree.delete(index="pk", key="key", outcome=bool)
    def delete(self, key: int) -> bool:
        return self.data.pop(key, None) is not None

    @btree.scan(index="pk", key="start")
    def scan(self, start: int) -> Iterator[int]:
        yield from SORTED


@pipeline.processor("parse", pipeline="bench")
def parse(line: str) -> str:
    return line


class Open:
    """The query lifecycle the "query phase" row's phases run in: made, and entered, by
    the case's context under the providers the case names (built anywhere else it would
    be the disabled pass-through)."""

    lifecycle: Any = None


def obskit_ops(sampled: bool, open_query: Open) -> dict[str, Callable[[], Any]]:
    table = Table()
    parent = trace_api.set_span_in_context(
        trace_api.NonRecordingSpan(
            trace_api.SpanContext(0x1234, 0x5678, True, trace_api.TraceFlags(1))
        )
    )
    record = pipeline.Record("GET /", parent if sampled else None)
    message: dict[str, str] = {}

    def delete() -> Any:
        table.data[7] = 7
        return table.delete(7)

    def client() -> None:
        with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2",
                              term=3, entries=1) as call:  # fmt: skip
            call.response(success=True)

    def server() -> None:
        with raft.server_call(raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1",
                              term=3) as call:  # fmt: skip
            call.response(success=True)

    def propose() -> None:
        raft.propose("n1", term=3).commit(index=4)

    def phase() -> None:
        with open_query.lifecycle.phase("plan"):
            pass

    def whole_query() -> None:
        with query.lifecycle("SELECT id FROM t WHERE x = 1", system="bench") as q:
            for name in ("parse", "plan", "optimize"):
                with q.phase(name):
                    pass
            with q.phase("execute"):
                carrier = q.fragment_carrier()
                for worker in range(5):
                    with query.fragment(carrier, worker_id=worker, fragment_id=worker) as f:
                        f.rows(10)
            q.rows(50)

    return {
        "btree get": lambda: table.get(5),
        "btree put": lambda: table.put(5, 5),
        "btree delete": delete,
        "btree scan (20 keys)": lambda: sum(table.scan(0)),
        "pipeline step": lambda: parse(record),
        "raft client RPC": client,
        "raft server RPC": server,
        "raft propose -> commit": propose,
        "query phase": phase,
        "query lifecycle, 4 phases + 5 fragments": whole_query,
    }


# --- the same shapes with the raw OTel SDK ------------------------------------------------
def sdk_ops(tracer_provider: TracerProvider, meter_provider: MeterProvider,
            sampled: bool) -> dict[str, Callable[[], Any]]:  # fmt: skip
    tracer = tracer_provider.get_tracer("bench.sdk")
    meter = meter_provider.get_meter("bench.sdk")
    clock = time.perf_counter
    op_duration = meter.create_histogram("sdk.btree.operation.duration", unit="s")
    step_duration = meter.create_histogram("sdk.pipeline.duration", unit="s")
    records = meter.create_counter("sdk.pipeline.records")
    rpc_client = meter.create_histogram("sdk.rpc.client.duration", unit="s")
    rpc_server = meter.create_histogram("sdk.rpc.server.duration", unit="s")
    pending = meter.create_up_down_counter("sdk.raft.pending")
    committed = meter.create_counter("sdk.raft.committed")
    commit_duration = meter.create_histogram("sdk.raft.commit.duration", unit="s")
    phase_duration = meter.create_histogram("sdk.query.phase.duration", unit="s")
    query_duration = meter.create_histogram("sdk.query.duration", unit="s")
    fragment_duration = meter.create_histogram("sdk.query.fragment.duration", unit="s")
    active = meter.create_up_down_counter("sdk.query.active")
    data = dict(DATA)
    base = {"btree.index": "pk"}

    def operation(name: str, work: Callable[[], Any], outcome: Callable[[Any], str]) -> Any:
        started = clock()
        with tracer.start_as_current_span(
            "btree." + name, attributes={**base, "btree.operation.name": name}
        ) as span:
            result = work()
            label = outcome(result)
            if span.is_recording():
                span.set_attribute("btree.outcome", label)
        op_duration.record(
            clock() - started, {**base, "btree.operation.name": name, "btree.outcome": label}
        )
        return result

    def delete() -> Any:
        data[7] = 7
        return operation("delete", lambda: data.pop(7, None), lambda r: "hit")

    def scan() -> int:
        return operation("scan", lambda: sum(SORTED), lambda r: "ok")  # type: ignore[no-any-return]

    step_attrs = {"pipeline.name": "bench", "pipeline.processor.name": "parse"}
    parent = trace_api.set_span_in_context(
        trace_api.NonRecordingSpan(
            trace_api.SpanContext(0x1234, 0x5678, True, trace_api.TraceFlags(1))
        )
    )

    def step() -> str:
        started = clock()
        if sampled:
            with tracer.start_as_current_span("pipeline.process", parent, attributes=step_attrs):
                result = "GET /"
        else:
            result = "GET /"
        step_duration.record(clock() - started, {**step_attrs, "pipeline.outcome": "emit"})
        records.add(1, step_attrs)
        return result

    rpc_attrs = {"raft.node.id": "n1", "raft.peer.id": "n2", "rpc.system": "obskit",
                 "rpc.service": "raft.Raft", "rpc.method": "AppendEntries"}  # fmt: skip

    def client() -> None:
        started = clock()
        message: dict[str, str] = {}
        with tracer.start_as_current_span(
            "raft.Raft/AppendEntries", kind=SpanKind.CLIENT,
            attributes={**rpc_attrs, "raft.term": 3, "raft.batch.entry_count": 1},
        ) as span:  # fmt: skip
            propagate.inject(message)
            if span.is_recording():
                span.set_attribute("raft.response.success", True)
        rpc_client.record(clock() - started, rpc_attrs)

    sent: dict[str, str] = {}
    with tracer.start_as_current_span("sender"):
        propagate.inject(sent)

    def server() -> None:
        started = clock()
        context = propagate.extract(sent)
        with tracer.start_as_current_span(
            "raft.Raft/AppendEntries", context, kind=SpanKind.SERVER,
            attributes={**rpc_attrs, "raft.term": 3},
        ) as span:  # fmt: skip
            if span.is_recording():
                span.set_attribute("raft.response.success", True)
        rpc_server.record(clock() - started, rpc_attrs)

    node = {"raft.node.id": "n1"}

    def propose() -> None:
        started = clock()
        span = tracer.start_span("raft.propose", attributes={**node, "raft.term": 3})
        pending.add(1, node)
        span.set_attribute("raft.log.index", 4)
        span.end()
        pending.add(-1, node)
        committed.add(1, node)
        commit_duration.record(clock() - started, node)

    query_attrs = {"db.system.name": "bench", "db.operation.name": "SELECT"}
    root = tracer.start_span("SELECT t")
    root_context = trace_api.set_span_in_context(root)

    def phase_in(name: str, context: Any = None) -> None:
        started = clock()
        with tracer.start_as_current_span("query." + name, context):
            pass
        phase_duration.record(clock() - started, {**query_attrs, "query.phase": name})

    def whole_query() -> None:
        started = clock()
        active.add(1, query_attrs)
        with tracer.start_as_current_span(
            "SELECT t", attributes={**query_attrs, "db.collection.name": "t"}
        ):
            for name in ("parse", "plan", "optimize"):
                phase_in(name)
            phase_started = clock()
            with tracer.start_as_current_span("query.execute"):
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                for worker in range(5):
                    fragment_started = clock()
                    with tracer.start_as_current_span(
                        "query.fragment", propagate.extract(carrier), kind=SpanKind.SERVER,
                        attributes={"db.system.name": "bench", "query.worker.id": str(worker)},
                    ) as fragment:  # fmt: skip
                        if fragment.is_recording():
                            fragment.set_attribute("query.rows.read", 10)
                    fragment_duration.record(
                        clock() - fragment_started, {"db.system.name": "bench"}
                    )
            phase_duration.record(
                clock() - phase_started, {**query_attrs, "query.phase": "execute"}
            )
        query_duration.record(clock() - started, query_attrs)
        active.add(-1, query_attrs)

    return {
        "btree get": lambda: operation("get", lambda: data.get(5), lambda r: "hit"),
        "btree put": lambda: operation("put", lambda: data.__setitem__(5, 5), lambda r: "ok"),
        "btree delete": delete,
        "btree scan (20 keys)": scan,
        "pipeline step": step,
        "raft client RPC": client,
        "raft server RPC": server,
        "raft propose -> commit": propose,
        "query phase": lambda: phase_in("plan", root_context),
        "query lifecycle, 4 phases + 5 fragments": whole_query,
    }


def bare_ops() -> dict[str, Callable[[], Any]]:
    data = dict(DATA)

    def delete() -> Any:
        data[7] = 7
        return data.pop(7, None)

    def nothing() -> None:
        return None

    return {
        "btree get": lambda: data.get(5),
        "btree put": lambda: data.__setitem__(5, 5),
        "btree delete": delete,
        "btree scan (20 keys)": lambda: sum(iter(SORTED)),
        "pipeline step": lambda: "GET /",
        "raft client RPC": nothing,
        "raft server RPC": nothing,
        "raft propose -> commit": nothing,
        "query phase": nothing,
        "query lifecycle, 4 phases + 5 fragments": nothing,
    }


@contextlib.contextmanager
def _in_query(configured: Callable[[], Any], open_query: Open) -> Iterator[None]:
    """`configured()`, then one query lifecycle made and held open under it."""
    with configured():
        lifecycle = query.lifecycle("SELECT id FROM t", system="bench")
        with lifecycle:
            open_query.lifecycle = lifecycle
            try:
                yield
            finally:
                open_query.lifecycle = None


def row_cases(row: str, providers: Providers) -> dict[str, Case]:
    """The cases of `row` (CASES; the lifecycle also with SDK spans), each in its context."""
    configurations: dict[str, Callable[[], Any]] = {
        "obskit disabled": providers.disabled,
        "obskit unsampled": lambda: providers.routed(False),
        "obskit sampled": lambda: providers.routed(True),
    }
    if row == LIFECYCLE:
        configurations[f"obskit sampled, {SDK_SPANS}"] = lambda: providers.routed(True, False)
    cases = {"bare": Case("op()", {"op": bare_ops()[row]})}
    for name, configured in configurations.items():
        open_query = Open()
        context = configured
        if row == "query phase":
            context = lambda c=configured, o=open_query: _in_query(c, o)  # noqa: E731
        op = obskit_ops(name.startswith("obskit sampled"), open_query)[row]
        cases[name] = Case("op()", {"op": op}, context=context)
        if name in ("obskit unsampled", "obskit sampled"):
            sampled = name == "obskit sampled"
            tracer_provider = providers.sampled if sampled else providers.unsampled
            sdk = sdk_ops(tracer_provider, providers.meter_provider, sampled)
            cases[name.replace("obskit", "raw SDK")] = Case(
                "op()", {"op": sdk[row]}, context=configured
            )
    return {name: cases[name] for name in (*CASES, *configurations) if name in cases}


# --- the whole workload ---------------------------------------------------------------------
class _NoOp:
    def visit(self, pages: int = 1) -> None:
        pass


@contextlib.contextmanager
def _without_obskit() -> Iterator[None]:
    """The tree's obskit calls replaced by no-ops: the undecorated baseline."""
    noop = _NoOp()
    saved = {name: getattr(btree, name) for name in
             ("current_op", "record_page_read", "record_page_write", "record_split",
              "record_merge")}  # fmt: skip
    btree.current_op = lambda: noop  # type: ignore[assignment,return-value]
    for name in saved:
        if name != "current_op":
            setattr(btree, name, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(btree, name, value)


def _trees(ratio: float) -> tuple[type, type]:
    sys.path.insert(0, str(ROOT / "examples"))
    from _minidb.bplustree import BPlusTree

    originals = {name: inspect.unwrap(getattr(BPlusTree, name))
                 for name in ("get", "put", "delete", "scan")}  # fmt: skip

    class Bare(BPlusTree):  # type: ignore[misc,valid-type]
        get = originals["get"]
        put = originals["put"]
        delete = originals["delete"]
        scan = originals["scan"]

    class Traced(BPlusTree):  # type: ignore[misc,valid-type]
        get = btree.get(index_attr="name", sample_ratio=ratio)(originals["get"])
        put = btree.put(index_attr="name", sample_ratio=ratio)(originals["put"])
        delete = btree.delete(index_attr="name", outcome=bool, sample_ratio=ratio)(
            originals["delete"]
        )
        scan = btree.scan(index_attr="name", key="start", sample_ratio=ratio)(originals["scan"])

    return Bare, Traced


def _workload(tree_class: type, keys: int, ops: int) -> None:
    rng = random.Random(7)
    tree = tree_class("bench_pk", order=8)
    for i in range(keys):
        tree.put(f"user:{i * 2:06d}", i)
    for _ in range(ops):  # examples/btree.py's 60/25/15 mix, 2% of it short range scans
        roll = rng.random()
        low = rng.randrange(keys * 2)
        key = f"user:{low:06d}"
        if roll < 0.58:
            tree.get(key)
        elif roll < 0.83:
            tree.put(key, 1)
        elif roll < 0.98:
            tree.delete(key)
        else:
            for _ in tree.scan(key, f"user:{low + 40:06d}"):  # about 20 keys
                pass


def workload_figures(providers: Providers, quick: bool) -> dict[str, float]:
    """Seconds per whole run: the B+tree workload bare vs decorated with 1% traced."""
    bare_tree, traced_tree = _trees(0.01)
    keys, ops = (2_000, 4_000) if quick else (5_000, 20_000)
    bare_ns = {"run": _workload, "tree": bare_tree, "keys": keys, "ops": ops}
    traced_ns = {**bare_ns, "tree": traced_tree}
    cases = {
        WORKLOAD_BARE: Case("run(tree, keys, ops)", bare_ns, context=_without_obskit),
        WORKLOAD_TRACED: Case(
            "run(tree, keys, ops)", traced_ns, context=lambda: providers.routed(True)
        ),
    }
    return compare(cases, number=1, repeat=3 if quick else 7)


def steps(quick: bool = False) -> list[Step]:
    """One comparison per row, then the whole workload."""
    providers = Providers()
    repeat = 5 if quick else 11

    def row_step(row: str) -> Step:
        heavy = row == LIFECYCLE
        number = (200 if quick else 1_000) if heavy else (2_000 if quick else 10_000)
        return Step(
            row, lambda: compare(row_cases(row, providers), number=number, repeat=repeat),
            f"domain row: {row}",
        )  # fmt: skip

    return [
        *(row_step(row) for row in ROWS),
        Step("workload", lambda: workload_figures(providers, quick), "B+tree workload"),
    ]


def assemble(done: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """{"rows": {row: {case: seconds}}, "workload": {...}}"""
    return {"rows": {row: done[row] for row in ROWS if row in done}, "workload": done["workload"]}


def run(quick: bool = False) -> dict[str, Any]:
    """Every domain row (seconds per operation) and the whole-workload figures."""
    return assemble(run_steps(steps(quick)), quick)


def _print(results: dict[str, Any]) -> None:
    for row, figures in results["rows"].items():
        bare = figures["bare"]
        print(f"[{row}]")
        for name, seconds in figures.items():
            print(f"  {name:<22} {seconds * 1e6:9.2f} us  added {(seconds - bare) * 1e6:9.2f} us")
    for name, seconds in results["workload"].items():
        print(f"  {name:<58} {seconds:8.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--row", action="append", help="only these rows (repeatable)")
    os.environ.pop("OTEL_SDK_DISABLED", None)
    arguments = parser.parse_args()
    if arguments.row:
        ROWS = tuple(arguments.row)  # type: ignore[misc]
    _print(run(arguments.quick))
