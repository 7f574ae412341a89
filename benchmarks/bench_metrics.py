"""Per-record cost of metrics on hot paths (target 4) and of `@obskit.timed` (target 5).

Run alone:  python benchmarks/bench_metrics.py [--quick]

Each figure is one recorded operation with two attributes, for: the OTel SDK's own
instruments, obskit's proxy instruments (which forward to the SDK), obskit's hot-path
instruments (bound once, per-thread cells read at collection), and prometheus_client
children (labels bound once). All record into a live SDK meter provider with a reader.
A bound histogram record is also timed inside a sampled span (where it keeps the span as
its bucket's exemplar) and inside an unsampled one.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import prometheus_client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

import obskit
from obskit import _routing as _providers
from obskit._metrics import hot as _hot
from obskit._trace.timed import timed

try:
    from benchmarks._bench_harness import Case, Step, compare, run_steps
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _bench_harness import Case, Step, compare, run_steps  # type: ignore[no-redef]

__all__ = ["assemble", "run", "steps"]

ATTRS = {"db.operation.name": "get", "btree.index": "pk"}


def f(x: int) -> int:
    return x + 1


@contextlib.contextmanager
def metered(provider: MeterProvider) -> Iterator[None]:
    previous = _providers.set_current(None, provider)
    try:
        yield
    finally:
        _providers.restore(previous)


@contextlib.contextmanager
def in_span(provider: MeterProvider, sampled: bool) -> Iterator[None]:
    """`metered`, inside a real SDK span that is sampled (recording) or not."""
    ratio = 1.0 if sampled else 0.0
    tracer_provider = TracerProvider(sampler=TraceIdRatioBased(ratio), shutdown_on_exit=False)
    tracer = tracer_provider.get_tracer("bench")
    with metered(provider), tracer.start_as_current_span("request"):
        yield


def _namespace() -> tuple[dict[str, Any], MeterProvider]:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    meter = provider.get_meter("bench")
    registry = prometheus_client.CollectorRegistry()
    prom_counter = prometheus_client.Counter(
        "bench_ops", "ops", ["operation", "index"], registry=registry
    )
    prom_histogram = prometheus_client.Histogram(
        "bench_seconds", "s", ["operation", "index"], registry=registry
    )
    with metered(provider):
        hot_counter = _hot.hot_counter("bench.hot.ops")
        hot_histogram = _hot.hot_histogram("bench.hot.duration")
    prom_timed_histogram = prometheus_client.Histogram(
        "bench_timed_seconds", "s", registry=registry
    )
    sdk_histogram = meter.create_histogram("bench.sdk.timed", unit="s")
    sdk_calls = meter.create_counter("bench.sdk.calls")

    def sdk_timed(x: int) -> int:
        # What "metrics with the raw OTel SDK" means for a decorator: time, record, count.
        started = time.perf_counter()
        result = f(x)
        sdk_histogram.record(time.perf_counter() - started, ATTRS)
        sdk_calls.add(1, ATTRS)
        return result

    namespace = {
        "f": f,
        "attrs": ATTRS,
        "sdk_counter": meter.create_counter("bench.sdk.ops"),
        "sdk_histogram": meter.create_histogram("bench.sdk.duration", unit="s"),
        "proxy_counter": obskit.counter("bench.proxy.ops"),
        "proxy_histogram": obskit.histogram("bench.proxy.duration"),
        "hot_counter": hot_counter,
        "hot_bound": hot_counter.bind(ATTRS),
        "hot_histogram_bound": hot_histogram.bind(ATTRS),
        "prom_child": prom_counter.labels("get", "pk"),
        "prom_histogram_child": prom_histogram.labels("get", "pk"),
        "prom_timed": prom_timed_histogram.time()(f),
        "sdk_timed": sdk_timed,
        "obskit_timed": timed("bench.timed", attributes={"db.operation.name": "get"})(f),
    }
    return namespace, provider


def steps(quick: bool = False) -> list[Step]:
    """Counters, histograms and the metrics-only decorator: one comparison each."""
    ns, provider = _namespace()
    ctx = lambda: metered(provider)  # noqa: E731 - a context factory per case
    repeat = 5 if quick else 15
    number = 50_000 if quick else 200_000
    sdk_number = number // 10  # the SDK paths are 10-20x slower: keep rounds short
    counters = {
        "OTel SDK Counter.add(1, attrs)": Case("sdk_counter.add(1, attrs)", ns, ctx, sdk_number),
        "obskit counter().add(1, attrs) (proxy to the SDK)": Case(
            "proxy_counter.add(1, attrs)", ns, ctx, sdk_number
        ),
        "obskit hot_counter().add(1, attrs) (unbound)": Case("hot_counter.add(1, attrs)", ns, ctx),
        "obskit hot_counter().bind(attrs).add(1)": Case("hot_bound.add(1)", ns, ctx),
        "prometheus_client child .inc()": Case("prom_child.inc()", ns, ctx),
    }
    record = "hot_histogram_bound.record(0.0003)"
    histograms = {
        "OTel SDK Histogram.record(v, attrs)": Case(
            "sdk_histogram.record(0.0003, attrs)", ns, ctx, sdk_number
        ),
        "obskit histogram().record(v, attrs) (proxy to the SDK)": Case(
            "proxy_histogram.record(0.0003, attrs)", ns, ctx, sdk_number
        ),
        "obskit hot_histogram().bind(attrs).record(v)": Case(record, ns, ctx),
        "obskit hot_histogram().bind(attrs).record(v), in an unsampled span": Case(
            record, ns, lambda: in_span(provider, sampled=False)
        ),
        "obskit hot_histogram().bind(attrs).record(v), in a sampled span (exemplar)": Case(
            record, ns, lambda: in_span(provider, sampled=True)
        ),
        "prometheus_client child .observe(v)": Case(
            "prom_histogram_child.observe(0.0003)", ns, ctx
        ),
    }
    decorators = {
        "bare": Case("f(1)", ns, ctx),
        "raw OTel SDK: perf_counter + Histogram.record + Counter.add": Case(
            "sdk_timed(1)", ns, ctx, sdk_number
        ),
        "prometheus_client @Histogram.time()": Case("prom_timed(1)", ns, ctx),
        "obskit @timed (duration histogram + call counter)": Case("obskit_timed(1)", ns, ctx),
    }
    return [
        Step("counters", lambda: compare(counters, number=number, repeat=repeat),
             "counter, one operation"),
        Step("histograms", lambda: compare(histograms, number=number, repeat=repeat),
             "histogram, one value"),
        Step("metrics_decorator", lambda: compare(decorators, number=number, repeat=repeat),
             "metrics-only decorator"),
    ]  # fmt: skip


def assemble(done: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """The tables as `steps` produced them."""
    return done


def run(quick: bool = False) -> dict[str, dict[str, float]]:
    """Seconds per recorded operation (or per decorated call)."""
    return assemble(run_steps(steps(quick)), quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for table, figures in run(parser.parse_args().quick).items():
        print(f"[{table}]")
        for name, seconds in figures.items():
            print(f"  {name:<60} {seconds * 1e9:10.1f} ns")
