"""obskit's batch span processor: bounded, never blocking, and accounting for every span.

Why not the SDK's BatchSpanProcessor (research/reliability.md §1.1, §2): it counts drops
only with an opt-in experimental switch, never counts spans discarded at shutdown,
`force_flush(timeout)` ignores its timeout and exports in the caller's thread, and its
`shutdown()` waits 30 s against a dead backend. Here:

* `on_end` is a lock, a length check and an append: it never waits on the exporter;
* every span handed to `on_end` ends up in exactly one of `exported` or `dropped[reason]`
  (or is still `queued`), with reasons `queue_full`, `export_failed`, `shutdown`;
* `force_flush(timeout)` and `shutdown(timeout)` wait at most `timeout` and return whether
  everything was delivered; exports only ever run on the worker thread;
* after `os.fork()` the child gets a fresh queue, worker and exporter (built again by the
  factory, never reusing the parent's gRPC channel, which hangs children).
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from obskit._log import log_once

__all__ = ["DROP_REASONS", "SpanAccounting", "SpanQueue"]

DROP_REASONS = ("queue_full", "export_failed", "shutdown", "too_large")


class SpanAccounting:
    """Plain integer counters, read by observable instruments at collection time."""

    __slots__ = ("dropped", "ended", "exported")

    def __init__(self) -> None:
        self.ended = 0
        self.exported = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    def snapshot(self) -> dict[str, int]:
        return {"ended": self.ended, "exported": self.exported, **self.dropped}


class SpanQueue(SpanProcessor):
    """A bounded span queue drained by one worker thread into one exporter.

    Args:
        make_exporter: builds the exporter (called again in a forked child).
        max_queue_size: spans held at most; beyond it new spans are dropped and counted.
        max_batch_size: spans per export call.
        schedule_delay: seconds between exports when the queue is not full.
        name: shown in log lines and the worker thread's name.
    """

    def __init__(
        self,
        make_exporter: Callable[[], SpanExporter],
        *,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay: float = 1.0,
        name: str = "spans",
    ) -> None:
        self._make_exporter = make_exporter
        self.max_queue_size = max_queue_size
        self.max_batch_size = min(max_batch_size, max_queue_size)
        self.schedule_delay = schedule_delay
        self.name = name
        self.accounting = SpanAccounting()
        self._exporter: SpanExporter = make_exporter()
        self._init_runtime()
        _live.add(self)

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._flush_requested = 0  # sequence numbers: flush n is done when _flushed >= n
        self._flushed = 0
        self._flush_ok = True
        self._exporting = 0  # spans taken off the queue and not yet accounted for
        self._stopping = False
        self._stopped = False
        self._worker: threading.Thread | None = None

    # --- SpanProcessor --------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        with self._lock:
            self.accounting.ended += 1
            if self._stopping:
                self.accounting.dropped["shutdown"] += 1
                return
            if len(self._queue) >= self.max_queue_size:
                self.accounting.dropped["queue_full"] += 1
                dropped = True
            else:
                self._queue.append(span)
                dropped = False
                if self._worker is None:
                    self._start_worker()
                if len(self._queue) >= self.max_batch_size:
                    self._wake.notify()
        if dropped:
            log_once(
                f"queue-full:{self.name}",
                "obskit %s queue is full (%d spans): dropping spans; the backend may be "
                "down or slow (counted in obskit.spans.dropped{reason=queue_full})",
                self.name,
                self.max_queue_size,
            )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.flush(timeout_millis / 1000.0)

    def shutdown(self) -> None:
        self.stop(timeout=5.0)

    # --- bounded flush and stop ----------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Ask the worker to export everything queued now; wait at most `timeout` seconds.

        Returns True only if all of it was exported successfully in time.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            if not self._queue and not self._exporting:
                return True
            self._flush_requested += 1
            ticket = self._flush_requested
            self._flush_ok = True
            if self._worker is None:
                self._start_worker()
            self._wake.notify()
            while self._flushed < ticket:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._done.wait(remaining):
                    return False
            return self._flush_ok

    def stop(self, timeout: float) -> bool:
        """Export what is queued within `timeout` seconds, then stop for good.

        Spans still queued after the budget are dropped and counted with reason
        `shutdown`. Returns True when everything queued was exported.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        complete = self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._wake.notify()
            worker = self._worker
        if worker is not None:
            worker.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._stopped = True
            left = len(self._queue) + self._exporting
            if left:
                complete = False
                self.accounting.dropped["shutdown"] += left
                self._queue.clear()
                self._exporting = 0
        _shutdown_exporter(self._exporter, max(0.05, deadline - time.monotonic()))
        return complete

    # --- worker --------------------------------------------------------------------

    def _start_worker(self) -> None:
        self._worker = threading.Thread(
            target=self._run, name=f"obskit-{self.name}-export", daemon=True
        )
        self._worker.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if (
                    not self._stopping
                    and len(self._queue) < self.max_batch_size
                    and (self._flushed >= self._flush_requested)
                ):
                    self._wake.wait(self.schedule_delay)
                if self._stopping and not self._queue:
                    self._flushed = self._flush_requested
                    self._done.notify_all()
                    return
                ticket = self._flush_requested
                count = min(len(self._queue), self.max_batch_size)
                batch = [self._queue.popleft() for _ in range(count)]
                self._exporting = count
            ok = self._export(batch) if batch else True
            with self._lock:
                if self._exporting:  # not already written off by stop()
                    self._exporting = 0
                    if ok:
                        self.accounting.exported += count
                    else:
                        self.accounting.dropped["export_failed"] += count
                if not ok:
                    self._flush_ok = False
                if not self._queue and self._flushed < ticket:
                    self._flushed = ticket
                    self._done.notify_all()

    def _export(self, batch: Sequence[ReadableSpan]) -> bool:
        try:
            return self._exporter.export(batch) == SpanExportResult.SUCCESS
        except Exception:
            log_once(f"export:{self.name}", "exporting %d spans failed", len(batch), exc_info=True)
            return False

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by its worker at fork time; its queued
        # spans belong to the parent. Start afresh, with a new exporter: the inherited one
        # may share a gRPC channel whose locks were held by the parent's threads.
        self._init_runtime()
        self.accounting = SpanAccounting()
        try:
            self._exporter = self._make_exporter()
        except Exception:
            log_once("fork-exporter", "rebuilding the exporter after fork failed", exc_info=True)


def _shutdown_exporter(exporter: SpanExporter, timeout: float) -> None:
    """Shut an exporter down on a helper thread, waiting at most `timeout` seconds.

    The SDK's OTLP exporters can block in shutdown (a gRPC channel close against a
    blackhole); the host's exit must not wait for that.
    """

    def run() -> None:
        try:
            exporter.shutdown()
        except Exception:
            log_once("exporter-shutdown", "shutting down an exporter failed", exc_info=True)

    helper = threading.Thread(target=run, name="obskit-exporter-shutdown", daemon=True)
    helper.start()
    helper.join(timeout)


_live: weakref.WeakSet[SpanQueue] = weakref.WeakSet()


def _after_fork() -> None:
    for queue in list(_live):
        queue._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
