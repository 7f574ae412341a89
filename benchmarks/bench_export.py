"""Export throughput (target 6) and bytes retained per queued span (target 7).

Run alone:  python benchmarks/bench_export.py [--quick]

Throughput: finished spans (a name and three attributes each) are handed to an obskit
`SpanQueue` feeding an OTLP/HTTP exporter, which posts them to a minimal OTLP receiver
running in a *separate process* (so the exporting process has its core to itself); the
figure is spans delivered per second, queue handoff to last acknowledged batch, with the
drop count. Three configurations, each named by its row: obskit's recorder's spans
through the exporter `configure()` builds (the default), SDK spans
(`OBSKIT_SLIM_SPANS=false`) through the same exporter, and SDK spans through the SDK's own
OTLP/HTTP exporter. The encoders alone (a 512-span batch to bytes, what the export thread
spends per span before any I/O) are timed too.

Memory: tracemalloc's count of bytes still allocated while N spans wait in a queue whose
exporter never runs, per span: obskit's `SpanQueue` holding its recorder's spans (the
default) or SDK spans, and the SDK's BatchSpanProcessor holding SDK spans.
"""

from __future__ import annotations

import argparse
import functools
import gc
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from obskit._export import slim as _slim
from obskit._export import slim as _slim_sink
from obskit._export.encoder import encode_request
from obskit._export.otlp import _fast_http_span_exporter
from obskit._export.queue import SpanQueue

try:
    from benchmarks._bench_harness import Step, run_steps
    from benchmarks.bench_calls import SDK_SPANS
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _bench_harness import Step, run_steps  # type: ignore[no-redef]
    from bench_calls import SDK_SPANS  # type: ignore[no-redef]

__all__ = [
    "BYTES",
    "ENCODE",
    "EXPORT",
    "assemble",
    "encode_rate",
    "export_rate",
    "retained_bytes",
    "run",
    "steps",
]

#: The configuration each row measures, by figure.
RECORDER = "obskit's recorder's spans (default)"
ENCODE = {
    "sdk": "SDK OTLP encoder alone, SDK spans",
    "obskit_sdk_spans": f"obskit OTLP encoder alone, {SDK_SPANS}",
    "obskit": f"obskit OTLP encoder alone, {RECORDER}",
}
EXPORT = {
    "obskit": f"SpanQueue -> obskit's OTLP/HTTP exporter -> receiver process, {RECORDER}",
    "obskit_sdk_spans": (
        f"SpanQueue -> obskit's OTLP/HTTP exporter -> receiver process, {SDK_SPANS}"
    ),
    "sdk_exporter": (
        "SpanQueue -> the SDK's own OTLP/HTTP exporter (SDK encoder) -> receiver process, SDK spans"
    ),
}
BYTES = {
    "obskit": f"obskit SpanQueue, {RECORDER}",
    "obskit_sdk_spans": f"obskit SpanQueue, {SDK_SPANS}",
    "sdk": "OTel SDK BatchSpanProcessor, SDK spans",
}

# A tiny OTLP/HTTP receiver: reads each request body and answers 200 with an empty
# ExportTraceServiceResponse. Counting is done by the exporting side (export results).
_RECEIVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def make_spans(count: int) -> list[ReadableSpan]:
    """`count` finished SDK spans, each with a name and three attributes."""
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("bench")
    spans: list[ReadableSpan] = []
    for i in range(count):
        span = tracer.start_span(
            "btree.get", attributes={"db.system.name": "btree", "btree.index": "main", "n": i}
        )
        span.end()
        spans.append(span)  # type: ignore[arg-type]
    return spans


class _Keep:
    """Collects the spans obskit's recorder ends (stands in for a SpanQueue)."""

    def __init__(self) -> None:
        self.spans: list[Any] = []

    def on_slim_end(self, span: Any, size: int = 0, dropped: Any = None) -> None:
        self.spans.append(span)


def make_slim_spans(count: int) -> list[Any]:
    """`count` finished spans of obskit's own recorder, shaped as `make_spans` makes them."""
    provider = TracerProvider(shutdown_on_exit=False)
    keep = _Keep()
    sink = _slim_sink.SlimSink(provider.get_tracer("bench"), (keep,))
    flags = trace_api.TraceFlags(
        trace_api.TraceFlags.SAMPLED | trace_api.TraceFlags.RANDOM_TRACE_ID
    )
    for i in range(count):
        attributes = {"db.system.name": "btree", "btree.index": "main", "n": i}
        sink.start(
            "btree.get", None, trace_api.SpanKind.INTERNAL, attributes, None,
            random.getrandbits(128), random.getrandbits(64), flags,
        ).end()  # fmt: skip
    return keep.spans


def _sdk_encode(spans: Sequence[ReadableSpan]) -> bytes:
    data: bytes = encode_spans(spans).SerializeToString()
    return data


def encode_rate(
    spans: Sequence[ReadableSpan], batch: int = 512, encode: Any = _sdk_encode
) -> float:
    """Spans per second `encode` (by default the SDK's OTLP encoder) turns into bytes."""
    chunk = list(spans[:batch])
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < 1.0:
        encode(chunk)
        rounds += 1
    return rounds * len(chunk) / (time.perf_counter() - started)


class _Counting(SpanExporter):
    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.delivered = 0
        # As the wrapped exporter: obskit's takes the recorder's spans as they are.
        self._obskit_fast = getattr(inner, "_obskit_fast", False)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.delivered += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


def export_rate(spans: Sequence[ReadableSpan], sdk: bool = False) -> dict[str, float]:
    """Spans per second through SpanQueue -> OTLP/HTTP exporter -> receiver process.

    The exporter is obskit's (the SDK's with obskit's encoder), or with `sdk` the SDK's.
    """
    make = OTLPSpanExporter if sdk else _fast_http_span_exporter()
    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        exporter = _Counting(make(endpoint=f"http://127.0.0.1:{port}/v1/traces"))
        queue = SpanQueue(
            lambda: exporter,
            max_queue_size=len(spans) + 1,
            max_batch_size=512,
            schedule_delay=0.01,
            max_queue_bytes=1 << 31,
        )
        started = time.perf_counter()
        if spans and type(spans[0]) is _slim.SlimSpan:  # as SlimSpan.end() hands them over
            for span in spans:
                queue.on_slim_end(span, _slim.slim_span_size(span), None)  # type: ignore[arg-type]
        else:
            for span in spans:
                queue.on_end(span)
        queue.flush(60.0)
        elapsed = time.perf_counter() - started
        counts = queue.accounting.snapshot()
        queue.stop(5.0)
        dropped = sum(v for k, v in counts.items() if k not in ("ended", "exported"))
        return {
            "spans_per_second": exporter.delivered / elapsed,
            "delivered": float(exporter.delivered),
            "dropped": float(dropped),
        }
    finally:
        receiver.kill()
        receiver.wait(5)


class _Never(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:  # pragma: no cover - never called
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _slim_start(sink: _slim_sink.SlimSink, flags: trace_api.TraceFlags, name: str) -> Any:
    """A root span of obskit's own recorder, started as the recipes start one."""
    return sink.start(
        name, None, trace_api.SpanKind.INTERNAL, None, None,
        random.getrandbits(128), random.getrandbits(64), flags,
    )  # fmt: skip


def retained_bytes(count: int) -> dict[str, float]:
    """Bytes allocated per span while `count` spans sit in each processor's queue."""
    results: dict[str, float] = {}

    def queue() -> SpanQueue:
        return SpanQueue(
            _Never, max_queue_size=count + 1, max_batch_size=count + 1, schedule_delay=3600.0
        )

    makers = {
        BYTES["obskit"]: queue,
        BYTES["obskit_sdk_spans"]: queue,
        BYTES["sdk"]: lambda: BatchSpanProcessor(
            _Never(),
            max_queue_size=count + 10,
            max_export_batch_size=count + 5,
            schedule_delay_millis=3.6e6,
        ),
    }
    for name, make in makers.items():
        provider = TracerProvider(shutdown_on_exit=False)
        processor = make()
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        start: Any = tracer.start_span
        if name == BYTES["obskit"]:
            start = functools.partial(
                _slim_start, _slim_sink.SlimSink(tracer, (processor,)), trace_api.TraceFlags(1)
            )
        start("warm").end()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            start("btree.get").end()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        results[name] = (after - before) / count
        if isinstance(processor, SpanQueue):
            processor.stop(0.0)
        else:
            processor.shutdown()
    return results


def steps(quick: bool = False) -> list[Step]:
    """Encoders alone, the three export configurations, and bytes per queued span."""
    count = 20_000 if quick else 60_000
    made: dict[str, Any] = {}

    def sdk_spans() -> list[ReadableSpan]:
        if "sdk" not in made:
            made["sdk"] = make_spans(count)
        return made["sdk"]  # type: ignore[no-any-return]

    def slim_spans() -> list[Any]:
        if "slim" not in made:
            made["slim"] = make_slim_spans(count)
        return made["slim"]  # type: ignore[no-any-return]

    def encoders() -> dict[str, float]:
        return {
            ENCODE["sdk"]: encode_rate(sdk_spans()),
            ENCODE["obskit_sdk_spans"]: encode_rate(sdk_spans(), encode=encode_request),
            ENCODE["obskit"]: encode_rate(slim_spans(), encode=encode_request),
        }

    return [
        Step("encode", encoders, "encoders alone"),
        Step(EXPORT["obskit"], lambda: export_rate(slim_spans()), "export, recorder's spans"),
        Step(EXPORT["obskit_sdk_spans"], lambda: export_rate(sdk_spans()), "export, SDK spans"),
        Step(
            EXPORT["sdk_exporter"],
            lambda: export_rate(sdk_spans(), sdk=True),
            "export, the SDK's exporter",
        ),
        Step(
            "retained_bytes_per_span",
            lambda: retained_bytes(2_000 if quick else 10_000),
            "bytes per queued span",
        ),
    ]


def assemble(done: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """{"encode": {row: spans/s}, "export": {row: figures}, "retained_bytes_per_span": ...}"""
    return {
        "encode": done["encode"],
        "export": {name: done[name] for name in EXPORT.values()},
        "retained_bytes_per_span": done["retained_bytes_per_span"],
    }


def run(quick: bool = False) -> dict[str, Any]:
    """All export and memory figures."""
    return assemble(run_steps(steps(quick)), quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
