"""Reliability scenarios, each run in its own interpreter: `python _child.py NAME JSON-ARGS`.

A scenario prints one `RESULT {json}` line with what it measured; the test in the parent
asserts on it. Running in a child makes exit, atexit, fork and RSS behaviour real and
keeps obskit's global state out of the pytest process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import psutil
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import obskit
import obskit.exporters
from obskit._export import builtins as _exporters
from obskit._export import queue as _processor

RESULT = "RESULT "
MIB = 1024 * 1024


class NoopExporter(SpanExporter):
    """Accepts everything at once: the baseline the ratios are measured against."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


obskit.exporters.register(
    "noop", lambda settings, signals: obskit.exporters.ExporterParts(span_exporter=NoopExporter)
)
# OTLP for traces only, so request counts at a test backend are span exports alone.
obskit.exporters.register(
    "otlp_traces", lambda settings, signals: _exporters.otlp(settings, frozenset({"traces"}))
)


class LogCounter(logging.Handler):
    """Counts (and keeps) every WARNING+ record from obskit and OpenTelemetry loggers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("obskit", "opentelemetry")):
            self.records.append(f"{record.name}: {record.getMessage()[:300]}")


LOGS = LogCounter()
logging.getLogger().addHandler(LOGS)
logging.getLogger().setLevel(logging.WARNING)

# Every export's duration and thread, recorded around obskit's one export call site.
EXPORTS: list[tuple[float, int, int]] = []  # (seconds, thread id, spans)
_original_export = _processor.SpanQueue._export


EXPORT_THREADS: list[int] = []  # thread of every export, recorded as it starts


def _timed_export(self: _processor.SpanQueue, batch: list[ReadableSpan]) -> bool:
    EXPORT_THREADS.append(threading.get_ident())
    start = time.monotonic()
    try:
        return _original_export(self, batch)
    finally:
        EXPORTS.append((time.monotonic() - start, threading.get_ident(), len(batch)))


_processor.SpanQueue._export = _timed_export  # type: ignore[method-assign]


def emit(**values: Any) -> None:
    print(RESULT + json.dumps(values), flush=True)


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def threads_and_fds() -> tuple[int, int]:
    return threading.active_count(), len(os.listdir("/proc/self/fd"))


def setup(args: dict[str, Any], **extra: Any) -> obskit.Telemetry:
    exporters = args.get("exporters", ["otlp"])
    options: dict[str, Any] = {
        "service_name": args.get("service", "reliability"),
        "exporters": exporters,
        "otlp_timeout": args.get("otlp_timeout", 3.0),
        "shutdown_timeout": args.get("shutdown_timeout", 3.0),
        "prometheus_host": "127.0.0.1",
        "prometheus_port": 0,
    }
    if "endpoint" in args:
        options["otlp_endpoint"] = args["endpoint"]
        options["otlp_protocol"] = args.get("protocol", "http/protobuf")
    options.update(extra)
    return obskit.configure(**options)


def scrape(telemetry: obskit.Telemetry) -> str:
    address = telemetry.prometheus_address
    assert address is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{address[1]}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def metric_values(text: str, prefix: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def end_spans(count: int, attrs: dict[str, Any] | None = None) -> float:
    """End `count` spans through obskit's API; return the worst single span in seconds."""
    worst = 0.0
    attrs = attrs or {"db.rows": 3, "db.namespace": "main"}
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        with obskit.span("work", attributes=attrs):
            pass
        took = clock() - start
        if took > worst:
            worst = took
    return worst


# --- scenarios -----------------------------------------------------------------------


def throughput(args: dict[str, Any]) -> None:
    """R1/R2: N spans from one thread; time, worst span, RSS, exact accounting on /metrics."""
    telemetry = setup(args, exporters=[*args["exporters"], "prometheus"])
    end_spans(200)
    gc.collect()
    before = rss()
    start = time.perf_counter()
    worst = end_spans(args["n"])
    wall = time.perf_counter() - start
    growth = rss() - before
    stopped = [queue.stop(timeout=args.get("stop_timeout", 2.0)) for queue in telemetry.span_queues]
    counts = telemetry.span_counts()
    text = scrape(telemetry)
    complete = obskit.shutdown(timeout=1.0)
    emit(
        wall=wall,
        worst=worst,
        rss_growth=growth,
        counts=counts,
        stopped=stopped,
        complete=complete,
        exported_metric=metric_values(text, "obskit_spans_exported"),
        dropped_metric=metric_values(text, "obskit_spans_dropped"),
        logs=len(LOGS.records),
    )


def shutdown_bound(args: dict[str, Any]) -> None:
    """R3: shutdown(timeout) against a down or blackholed backend; leaks after it."""
    # One warm cycle first: gRPC's core keeps process-wide threads and descriptors from
    # its first channel on; a leak is what a configure/shutdown cycle leaves behind.
    setup(args)
    obskit.shutdown(timeout=0.5)
    baseline = threads_and_fds()
    telemetry = setup(args)
    end_spans(args.get("n", 5000))
    start = time.monotonic()
    complete = obskit.shutdown(timeout=args["timeout"])
    took = time.monotonic() - start
    counts = telemetry.span_counts()
    # Threads stuck in an export against a blackhole end when their OTLP timeout passes.
    deadline = time.monotonic() + args.get("otlp_timeout", 3.0) + 3.0
    after = threads_and_fds()
    while time.monotonic() < deadline and (
        after[0] > baseline[0] + 2 or after[1] > baseline[1] + 2
    ):
        time.sleep(0.05)
        after = threads_and_fds()
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass  # the listing's own descriptor, closed by now
    emit(took=took, complete=complete, counts=counts, baseline=baseline, after=after, fds=fds)


def exit_bound(args: dict[str, Any]) -> None:
    """R4: main returns without shutdown(); the parent times the process exit."""
    setup(args)
    end_spans(args.get("n", 5000))
    emit(main_done=time.time())


def flush_bound(args: dict[str, Any]) -> None:
    """R5: flush(timeout=1) against a blackhole with a full queue."""
    setup(args)
    end_spans(2048)
    start = time.monotonic()
    result = obskit.flush(timeout=args.get("timeout", 1.0))
    took = time.monotonic() - start
    emit(took=took, result=result)
    os._exit(0)  # the exit path is R4's business


def recovery(args: dict[str, Any]) -> None:
    """R6: 1k spans/s for `duration` s, each tagged with its end time."""
    telemetry = setup(args)
    end_times = []
    start = time.time()
    tick = 1.0 / args.get("rate", 1000)
    sequence = 0
    while time.time() - start < args["duration"]:
        due = start + sequence * tick
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        now = time.time()
        with obskit.span("tick", attributes={"seq": sequence, "t": now}):
            pass
        end_times.append(now)
        sequence += 1
    complete = obskit.shutdown(timeout=5.0)
    emit(end_times=end_times, complete=complete, counts=telemetry.span_counts())


def errors(args: dict[str, Any]) -> None:
    """R7: one configure() per error case; every export timed; counts per case."""
    results = []
    for case in args["cases"]:
        EXPORTS.clear()
        telemetry = setup({**args, **case}, exporters=["otlp_traces"])
        for i in range(20):
            with obskit.span("refused", attributes={"case": case["name"], "i": i}):
                pass
        start = time.monotonic()
        flushed = obskit.flush(timeout=case.get("flush_timeout", 5.0))
        flush_took = time.monotonic() - start
        obskit.shutdown(timeout=2.0)
        results.append(
            {
                "name": case["name"],
                "flushed": flushed,
                "flush_took": flush_took,
                "exports": [took for took, _, _ in EXPORTS],
                "counts": telemetry.span_counts(),
            }
        )
    emit(results=results)


def membound(args: dict[str, Any]) -> None:
    """R8: N spans each with a 100 KB attribute (half via obskit, half via a raw tracer)."""
    telemetry = setup(args)
    raw = telemetry.tracer_provider.get_tracer("raw")  # type: ignore[union-attr]
    payload = "x" * args.get("bytes", 100_000)
    end_spans(50)
    gc.collect()
    before = rss()
    peak = before
    for i in range(args["n"]):
        if i % 2:
            with obskit.span("big", attributes={"payload": payload, "i": i}):
                pass
        else:
            raw.start_span("big.raw", attributes={"payload": payload, "i": i}).end()
        if i % 500 == 0:
            peak = max(peak, rss())
    peak = max(peak, rss())
    truncation = [r for r in LOGS.records if "trunc" in r.lower() or "length" in r.lower()]
    emit(
        rss_growth=peak - before,
        logs=len(LOGS.records),
        truncation_logs=len(truncation),
        counts=telemetry.span_counts(),
        log_lines=LOGS.records[:20],
    )
    os._exit(0)


def oversized(args: dict[str, Any]) -> None:
    """R9: one ~8 MiB span (128 events x 16 x 4 KiB) among 9 normal ones."""
    telemetry = setup(args, exporters=["otlp_traces"])
    chunk = "y" * 4096
    for i in range(10):
        with obskit.span("member", attributes={"i": i}) as span:
            if i == 4:
                for event in range(128):
                    span.add_event(f"e{event}", {f"k{j}": chunk for j in range(16)})
    flushed = obskit.flush(timeout=10.0)
    complete = obskit.shutdown(timeout=2.0)
    emit(flushed=flushed, complete=complete, counts=telemetry.span_counts(), exports=len(EXPORTS))


def _child_work(tag: str, count: int, done_file: str | None) -> None:
    for i in range(count):
        with obskit.span("child.work", attributes={"child": tag, "i": i}):
            pass
    if done_file:
        with open(done_file, "a") as out:
            out.write(f"{tag} {time.time()}\n")


def _mp_target(tag: str, count: int, done_file: str) -> None:
    _child_work(tag, count, done_file)  # no flush: obskit's multiprocessing hook must do it


def fork(args: dict[str, Any]) -> None:
    """R10: a busy parent forks children (os.fork and multiprocessing) with exports in flight."""
    import multiprocessing

    budget = float(args.get("budget", 5.0))  # each child's exit/flush budget, seconds
    setup(args, shutdown_timeout=budget)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            with obskit.span("parent.busy"):
                pass
            time.sleep(0.0002)

    threading.Thread(target=busy, daemon=True).start()
    time.sleep(0.3)
    done_file = args["done_file"]
    children: dict[int, str] = {}  # os.fork children not reaped yet
    processes: dict[str, Any] = {}  # multiprocessing children not reaped yet
    reaped: dict[str, tuple[float, int]] = {}
    lock = threading.Lock()
    all_started = threading.Event()

    def reaper() -> None:
        # Reaps while the parent is still forking, so exit times are not inflated.
        deadline = time.monotonic() + args.get("wait", 30.0)
        while time.monotonic() < deadline:
            with lock:
                for pid in list(children):
                    done_pid, status = os.waitpid(pid, os.WNOHANG)
                    if done_pid:
                        reaped[children.pop(pid)] = (time.time(), os.waitstatus_to_exitcode(status))
                for tag, process in list(processes.items()):
                    if process.exitcode is not None:  # multiprocessing reaps its own
                        reaped[tag] = (time.time(), process.exitcode)
                        del processes[tag]
                if all_started.is_set() and not children and not processes:
                    return
            time.sleep(0.005)

    reaping = threading.Thread(target=reaper)
    reaping.start()
    for i in range(args["forks"]):
        tag = f"fork{i}"
        with lock:
            pid = os.fork()
            if pid == 0:
                try:
                    _child_work(tag, args["spans"], done_file)
                    if i % 2:
                        sys.exit(0)  # through atexit: obskit's bounded exit hook
                    started = time.monotonic()
                    ok = obskit.flush(timeout=budget)
                    if not ok:
                        telemetry = obskit.telemetry()
                        counts = telemetry.span_counts() if telemetry else {}
                        with open(done_file + ".diag", "a") as diag:
                            diag.write(f"{tag} {time.monotonic() - started:.2f}s {counts}\n")
                    os._exit(0 if ok else 3)
                except SystemExit:
                    raise
                except BaseException:
                    os._exit(4)
            children[pid] = tag
        time.sleep(0.02)
    context = multiprocessing.get_context("fork")
    for i in range(args["mp"]):
        process = context.Process(
            target=_mp_target, args=(f"mp{i}", args["spans"], done_file), daemon=False
        )
        with lock:
            process.start()
            processes[f"mp{i}"] = process
        time.sleep(0.02)
    all_started.set()
    reaping.join(args.get("wait", 30.0) + 5)
    pending = dict(children)
    for tag, process in processes.items():
        pending[process.pid] = tag
    for pid in pending:  # hung: kill by PID
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    stop.set()
    done: dict[str, float] = {}
    with open(done_file) as lines:
        for line in lines:
            tag, at = line.split()
            done[tag] = float(at)
    exit_times = {tag: reaped[tag][0] - done[tag] for tag in reaped if tag in done}
    obskit.shutdown(timeout=3.0)
    emit(
        hung=sorted(pending.values()),
        codes={tag: code for tag, (_, code) in reaped.items()},
        exit_times=exit_times,
    )


def threads(args: dict[str, Any]) -> None:
    """R11: 8 threads end spans while others flush and one shuts down."""
    telemetry = setup(args)
    errors_seen: list[str] = []
    per_thread = args["per_thread"]
    started = threading.Barrier(args["threads"] + 1)

    def worker() -> None:
        try:
            started.wait()
            end_spans(per_thread)
        except Exception as exc:
            errors_seen.append(repr(exc))

    def flusher(stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                obskit.flush(timeout=0.05)
        except Exception as exc:
            errors_seen.append(repr(exc))

    workers = [threading.Thread(target=worker) for _ in range(args["threads"])]
    for thread in workers:
        thread.start()
    stop = threading.Event()
    flushers = [threading.Thread(target=flusher, args=(stop,)) for _ in range(2)]
    for thread in flushers:
        thread.start()
    started.wait()
    time.sleep(args.get("shutdown_after", 0.5))
    results: list[bool] = []
    closer = threading.Thread(target=lambda: results.append(obskit.shutdown(timeout=2.0)))
    closer.start()
    deadline = time.monotonic() + 60
    for thread in [*workers, closer]:
        thread.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    for thread in flushers:
        thread.join(5)
    alive = [t.name for t in [*workers, closer, *flushers] if t.is_alive()]
    emit(errors=errors_seen, alive=alive, counts=telemetry.span_counts(), shutdown=results)


def asyncio_lag(args: dict[str, Any]) -> None:
    """R12: an event loop ends N spans while a 10 ms ticker measures its lag."""
    setup(args)

    async def main() -> dict[str, Any]:
        loop_thread = threading.get_ident()
        lags: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                start = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - start - 0.01)

        async def producer() -> None:
            for _chunk in range(args["n"] // 50):
                for _ in range(50):
                    async with obskit.span("async.work", attributes={"db.rows": 1}):
                        pass
                await asyncio.sleep(0)
            done.set()

        await asyncio.gather(ticker(), producer())
        return {
            "max_lag": max(lags),
            "late": sum(1 for lag in lags if lag > 0.020),
            "worst_lags": sorted(lags)[-5:],
            "first_lags": lags[:3],
            "ticks": len(lags),
            "exports_on_loop": sum(1 for thread in EXPORT_THREADS if thread == loop_thread),
            "exports": len(EXPORT_THREADS),
        }

    result = asyncio.run(main())
    emit(**result)
    os._exit(0)


def metrics_scrape(args: dict[str, Any]) -> None:
    """R15: 200k counter/histogram records without and with a scraper at 100 req/s."""
    import subprocess

    telemetry = setup(args, exporters=["prometheus"])
    counter = obskit.counter("reliability.records", unit="{record}")
    histogram = obskit.histogram("reliability.latency", unit="s")
    attribute_sets = [{"shard": str(i)} for i in range(10)]

    def record(count: int) -> float:
        start = time.perf_counter()
        for i in range(count):
            attrs = attribute_sets[i % 10]
            counter.add(1, attrs)
            histogram.record(0.001 * (i % 100), attrs)
        return time.perf_counter() - start

    half = args["n"] // 2
    record(5000)
    quiet = [record(half)]
    address = telemetry.prometheus_address
    assert address is not None
    out = args["scrape_file"]
    scraper = subprocess.Popen(
        [sys.executable, __file__, "_scraper", json.dumps({"port": address[1], "out": out})]
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            os.path.exists(out) and os.path.getsize(out) > 0
        ):
            time.sleep(0.01)
        scraped = [record(half)]
        quiet.append(record(half))
        scraped.append(record(half))
    finally:
        scraper.kill()
        scraper.wait(5)
    with open(out) as lines:
        latencies = sorted(float(line) for line in lines if line.strip())
    obskit.shutdown(timeout=2.0)
    emit(
        quiet=min(quiet) * 2,
        scraped=min(scraped) * 2,
        scrapes=len(latencies),
        p99=latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
    )


def _scraper(args: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{args['port']}/metrics"
    with open(args["out"], "a", buffering=1) as out:
        while True:
            start = time.perf_counter()
            with urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()
            took = time.perf_counter() - start
            out.write(f"{took}\n")
            time.sleep(max(0.0, 0.01 - took))


def misconfig(args: dict[str, Any]) -> None:
    """R14: configure under a bad environment; the program runs on, one warning per problem."""
    telemetry = setup(
        args, exporters=args.get("exporters", ["otlp"]), prometheus_port=args.get("port", 0)
    )
    with obskit.span("still.works"):
        pass
    flushed = obskit.flush(timeout=5.0)
    counts = telemetry.span_counts()
    obskit.shutdown(timeout=2.0)
    emit(warnings=LOGS.records, flushed=flushed, counts=counts)


class Unprintable:
    """Raises from every way of turning it into text."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def _bad_values() -> dict[str, Any]:
    cyclic_list: list[Any] = [1]
    cyclic_list.append(cyclic_list)
    cyclic_dict: dict[str, Any] = {}
    cyclic_dict["self"] = cyclic_dict
    deep: list[Any] = []
    level = deep
    for _ in range(10_000):
        level.append([])
        level = level[0]
    return {
        "cyclic_list": cyclic_list,
        "cyclic_dict": cyclic_dict,
        "unprintable": Unprintable(),
        "bytes_10mb": b"x" * (10 * MIB),
        "generator": (i for i in range(10)),
        "none": None,
        "deep": deep,
        "surrogate": "bad\ud800value",
        "huge_int": 2**70,
        "set": {1, 2},
    }


def bad_input(args: dict[str, Any]) -> None:
    """R13: bad values as attributes, events, names, captured arguments and exceptions."""
    telemetry = setup(args, exporters=["otlp_traces"])
    raw = telemetry.tracer_provider.get_tracer("raw")  # type: ignore[union-attr]
    values = _bad_values()

    @obskit.traced(record_args=["value"])
    def captured(value: object) -> None:
        pass

    @obskit.traced
    def raising() -> None:
        raise UnprintableError()

    cases: dict[str, Callable[[Any], Any]] = {}
    for name, value in values.items():
        cases[f"set_attribute:{name}"] = lambda s, v=value: s.set_attribute("bad", v)
        cases[f"set_attributes:{name}"] = lambda s, v=value: s.set_attributes({"bad": v, "ok": 1})
        cases[f"add_event:{name}"] = lambda s, v=value: s.add_event("evt", {"bad": v})
        cases[f"record_args:{name}"] = lambda s, v=value: captured(v)
        cases[f"exception_arg:{name}"] = lambda s, v=value: s.record_exception(ValueError(v))
    for key_name, key in (("int", 1), ("none", None), ("tuple", ("t",)), ("object", Unprintable())):
        cases[f"set_attribute_key:{key_name}"] = lambda s, k=key: s.set_attribute(k, "v")
        cases[f"set_attributes_key:{key_name}"] = lambda s, k=key: s.set_attributes({k: "v"})
    many = {f"extra{i}": i for i in range(10_000)}
    cases["set_attributes:10k"] = lambda s: s.set_attributes(many)
    cases["span_name:surrogate"] = lambda s: obskit.span("name\ud800").__enter__().span.end()
    cases["event_name:surrogate"] = lambda s: s.add_event("evt\ud800")
    cases["exception:unprintable"] = lambda s: s.record_exception(UnprintableError())
    results: dict[str, dict[str, Any]] = {}
    for case, call in cases.items():
        took = []
        raised = []
        for _ in range(3):  # the fastest of three: one slow run is noise, three are not
            with obskit.span("bad.case", attributes={"case": case, "first": "kept"}) as handle:
                start = time.perf_counter()
                try:
                    call(handle)
                except Exception as exc:
                    raised.append(repr(exc)[:200])
                took.append(time.perf_counter() - start)
        results[case] = {"took": min(took), "raised": raised}
        for i in range(9):
            with obskit.span("good", attributes={"case": case, "i": i}):
                pass
    # One at a time, 10k attributes: each call bounded, and the first attribute kept.
    over_budget = 0
    with obskit.span("bad.case", attributes={"case": "set_attribute:10k", "first": "kept"}) as h:
        for i in range(10_000):
            start = time.perf_counter()
            h.set_attribute(f"extra{i}", i)
            over_budget += time.perf_counter() - start > 0.005
    many_calls = {"over_budget": over_budget, "calls": 10_000}
    # The user's own exceptions pass through untouched, even unprintable ones.
    passthrough = []
    for _ in range(2):
        error = UnprintableError()
        try:
            with obskit.span("raises"):
                raise error
        except UnprintableError as caught:
            passthrough.append(caught is error)
        try:
            raising()
        except UnprintableError:
            passthrough.append(True)
    # A plain OTel span whose name cannot be encoded must not sink its batch-mates.
    for i in range(10):
        raw.start_span("raw\ud800" if i == 5 else "raw.ok", attributes={"i": i}).end()
    flushed = obskit.flush(timeout=10.0)
    counts = telemetry.span_counts()
    obskit.shutdown(timeout=2.0)
    emit(
        results=results,
        many_calls=many_calls,
        passthrough=passthrough,
        flushed=flushed,
        counts=counts,
    )


SCENARIOS: dict[str, Callable[[dict[str, Any]], None]] = {
    fn.__name__: fn
    for fn in (
        throughput,
        shutdown_bound,
        exit_bound,
        flush_bound,
        recovery,
        errors,
        membound,
        oversized,
        fork,
        threads,
        asyncio_lag,
        metrics_scrape,
        _scraper,
        misconfig,
        bad_input,
    )
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](json.loads(sys.argv[2]))
