"""SpanQueue: flush completes under steady load and accounting stays exact."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from obskit._export.queue import SpanQueue


class SlowExporter(SpanExporter):
    """Takes a few milliseconds per batch, like a backend on the network."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(0.005)  # simulated network time, not synchronisation
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_flush_finishes_while_spans_keep_arriving() -> None:
    exporter = SlowExporter()
    queue = SpanQueue(lambda: exporter, max_batch_size=64, schedule_delay=0.5)
    provider = TracerProvider()
    provider.add_span_processor(queue)
    tracer = provider.get_tracer("test")
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            tracer.start_span("steady").end()

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        for _ in range(20):
            tracer.start_span("before-flush").end()
        # Everything queued when flush was called goes out; new spans must not hold it up.
        assert queue.flush(timeout=10.0) is True
    finally:
        stop.set()
        producer.join()
    assert queue.stop(timeout=10.0) is True
    counts = queue.accounting.snapshot()
    assert counts["exported"] == exporter.exported > 0
    dropped = sum(counts[reason] for reason in ("queue_full", "export_failed", "shutdown"))
    assert counts["ended"] == counts["exported"] + dropped  # the fast producer overfills it
