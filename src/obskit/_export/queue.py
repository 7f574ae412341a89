"""obskit's batch span processor: bounded, never blocking, and accounting for every span.

Why not the SDK's BatchSpanProcessor (docs/reliability.md, R2-R5): it counts drops
only with an opt-in experimental switch, never counts spans discarded at shutdown,
`force_flush(timeout)` ignores its timeout and exports in the caller's thread, and its
`shutdown()` waits 30 s against a dead backend. Here:

* `on_end` is a size estimate, a lock, a length check and an append: it never waits on
  the exporter, nor for itself: a span ended by a GC callback, finalizer or signal handler
  that interrupted `on_end` on the same thread is queued by the interrupted call before
  it returns (the lock is re-entrant; see `_enqueue`);
* every span handed to `on_end` ends up in exactly one of `exported` or `dropped[reason]`
  (or is still queued), with reasons `queue_full`, `export_failed`, `shutdown`,
  `too_large` and `encode_error`;
* bytes are bounded, not only spans (see `obskit._export.budget`): per span, per queue and per
  export batch, so one huge span is dropped alone instead of sinking its batch;
* `force_flush(timeout)` and `shutdown(timeout)` wait at most `timeout` and return whether
  everything was delivered; exports only ever run on the worker thread;
* after `os.fork()` the child gets a fresh queue, worker and exporter (built again by the
  factory, never reusing the parent's gRPC channel, which hangs children); the inherited
  exporter is kept referenced, never closed or collected, since closing it would take
  the same inherited locks.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from obskit._base.log import install_sdk_log_filter, log_once
from obskit._base.processes import flush_at_multiprocessing_exit
from obskit._export.budget import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_SPAN_BYTES,
    NotEncodable,
    span_size,
)
from obskit._export.slim import SlimSpan

__all__ = ["DROP_REASONS", "SpanAccounting", "SpanQueue"]

DROP_REASONS = ("queue_full", "export_failed", "shutdown", "too_large", "encode_error")


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
        max_span_bytes: a span estimated larger is dropped (reason `too_large`).
        max_queue_bytes: estimated bytes queued at most (beyond: `queue_full`).
        max_batch_bytes: an export batch is closed before it would exceed this.

    Examples:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        ...     InMemorySpanExporter)
        >>> exporter = InMemorySpanExporter()
        >>> queue = SpanQueue(lambda: exporter, max_queue_size=100, max_batch_size=10)
        >>> provider = TracerProvider(shutdown_on_exit=False)
        >>> provider.add_span_processor(queue)
        >>> provider.get_tracer("t").start_span("op").end()
        >>> queue.stop(timeout=1.0), queue.accounting.snapshot()["exported"]
        (True, 1)
    """

    def __init__(
        self,
        make_exporter: Callable[[], SpanExporter],
        *,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay: float = 1.0,
        name: str = "spans",
        max_span_bytes: int = DEFAULT_MAX_SPAN_BYTES,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self._make_exporter = make_exporter
        self.max_queue_size = max_queue_size
        self.max_batch_size = min(max_batch_size, max_queue_size)
        self.schedule_delay = schedule_delay
        self.name = name
        self.max_batch_bytes = max_batch_bytes
        self.max_span_bytes = min(max_span_bytes, max_batch_bytes)
        self.max_queue_bytes = max(max_queue_bytes, self.max_span_bytes)
        self.accounting = SpanAccounting()
        self._exporter: SpanExporter = make_exporter()
        self._init_runtime()
        _live.add(self)

    def _init_runtime(self) -> None:
        # Held by the worker while an export is in flight; os.fork() waits (briefly) for
        # it, so a child never inherits a gRPC call half-way (see _before_fork).
        self._export_lock = threading.Lock()
        # Re-entrant: code that interrupts a section on this thread (a GC callback, a
        # finalizer, a signal handler) may end a span or flush; it must never wait for
        # itself. `_enqueue` sets `_admitting` while it changes the counters, and spans
        # ended meanwhile wait in `_reentered` for it to admit them.
        self._lock = threading.RLock()
        self._admitting = False
        self._reentered: collections.deque[tuple[ReadableSpan, int, str | None]] = (
            collections.deque()
        )
        self._wake = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: collections.deque[tuple[ReadableSpan, int]] = collections.deque()
        self._queued_bytes = 0
        # Sequence numbers: a flush asked when `_appended` was n is done once `_finished`
        # (spans taken off the queue and accounted for) reaches n -- new spans arriving
        # meanwhile do not hold it up.
        self._appended = 0
        self._finished = 0
        self._flush_requested = 0
        self._flush_ok = True
        self._exporting = 0  # spans taken off the queue and not yet accounted for
        self._stopping = False
        self._stopped = False
        self._worker: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Spans queued or being exported right now."""
        with self._lock:
            return len(self._queue) + self._exporting

    # --- SpanProcessor --------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        dropped = None
        try:
            size = span_size(span)
        except NotEncodable:
            size, dropped = 0, "encode_error"
        except Exception:  # a foreign span type we cannot measure: treat it as small
            size = 0
        self._enqueue(span, size, dropped)

    def on_slim_end(self, span: SlimSpan, size: int, dropped: str | None) -> None:
        """`on_end` for a span from obskit's own recorder: always sampled, not copied, its
        size estimated once by the span (`_export/_slim.slim_span_size`) for every queue."""
        self._enqueue(span, size, dropped)  # type: ignore[arg-type]

    def _enqueue(self, span: ReadableSpan, size: int, dropped: str | None) -> None:
        with self._lock:
            if self._admitting:
                # This thread is inside the admission below (a GC callback, a finalizer or
                # a signal handler ended a span there): admitted by that call before it
                # returns, in order, so the counters it is changing stay consistent.
                self._reentered.append((span, size, dropped))
                return
            self._admitting = True
            try:  # `_admit`, inlined: the call would cost a fifth of the admission
                self.accounting.ended += 1
                if self._stopping:
                    self.accounting.dropped["shutdown"] += 1
                    dropped = None  # counted, not logged
                elif dropped is not None:
                    self.accounting.dropped[dropped] += 1
                elif size > self.max_span_bytes:
                    dropped = "too_large"
                    self.accounting.dropped[dropped] += 1
                elif (
                    len(self._queue) >= self.max_queue_size
                    or self._queued_bytes + size > self.max_queue_bytes
                ):
                    dropped = "queue_full"
                    self.accounting.dropped[dropped] += 1
                else:
                    self._queue.append((span, size))
                    self._appended += 1
                    self._queued_bytes += size
                    if self._worker is None:
                        self._start_worker()
                    if (
                        len(self._queue) >= self.max_batch_size
                        or self._queued_bytes >= self.max_batch_bytes
                    ):
                        self._wake.notify()
                drops = self._admit_reentered() if self._reentered else None
            finally:
                self._admitting = False
        if dropped is not None:
            self._log_drop(dropped, span, size)
        if drops:
            for reason, late_span, late_size in drops:
                self._log_drop(reason, late_span, late_size)

    def _admit_reentered(self) -> list[tuple[str, ReadableSpan, int]]:
        """Admit the spans ended inside an admission (under `_lock`); their drops."""
        drops = []
        while self._reentered:
            span, size, dropped = self._reentered.popleft()
            reason = self._admit(span, size, dropped)
            if reason is not None:
                drops.append((reason, span, size))
        return drops

    def _admit(self, span: ReadableSpan, size: int, dropped: str | None) -> str | None:
        """Queue or drop one ended span, counting it (under `_lock`); the drop reason."""
        self.accounting.ended += 1
        if self._stopping:
            self.accounting.dropped["shutdown"] += 1
            return None
        if dropped is not None:
            pass
        elif size > self.max_span_bytes:
            dropped = "too_large"
        elif (
            len(self._queue) >= self.max_queue_size
            or self._queued_bytes + size > self.max_queue_bytes
        ):
            dropped = "queue_full"
        else:
            self._queue.append((span, size))
            self._appended += 1
            self._queued_bytes += size
            if self._worker is None:
                self._start_worker()
            if (
                len(self._queue) >= self.max_batch_size
                or self._queued_bytes >= self.max_batch_bytes
            ):
                self._wake.notify()
            return None
        self.accounting.dropped[dropped] += 1
        return dropped

    def _log_drop(self, reason: str, span: ReadableSpan, size: int) -> None:
        if reason == "encode_error":
            log_once(
                f"encode:{self.name}",
                "obskit dropped span %r: it holds text that cannot be encoded as UTF-8 (a lone "
                "surrogate?); counted in obskit.spans.dropped{reason=encode_error}",
                span.name.encode("utf-8", "replace").decode()[:100],
            )
        elif reason == "too_large":
            log_once(
                f"too-large:{self.name}",
                "obskit dropped span %r: about %d bytes, over the %d-byte limit "
                "(OBSKIT_MAX_SPAN_BYTES; counted in obskit.spans.dropped{reason=too_large})",
                span.name[:100],
                size,
                self.max_span_bytes,
            )
        else:
            log_once(
                f"queue-full:{self.name}",
                "obskit %s queue is full (%d spans or %d bytes): dropping spans; the backend "
                "may be down or slow (counted in obskit.spans.dropped{reason=queue_full})",
                self.name,
                self.max_queue_size,
                self.max_queue_bytes,
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
            ticket = self._appended
            self._flush_requested = max(self._flush_requested, ticket)
            self._flush_ok = True
            if self._worker is None:
                self._start_worker()
            self._wake.notify()
            while self._finished < ticket:
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
                self._finished += left
                self._done.notify_all()
                self._queue.clear()
                self._queued_bytes = 0
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
        # SDK loggers created since configure() (exporter modules import lazily) get
        # obskit's rate limit too.
        install_sdk_log_filter()
        while True:
            with self._lock:
                if (
                    not self._stopping
                    and len(self._queue) < self.max_batch_size
                    and self._queued_bytes < self.max_batch_bytes
                    and self._finished >= self._flush_requested  # no flush waiting
                ):
                    self._wake.wait(self.schedule_delay)
                if self._stopping and not self._queue:
                    self._done.notify_all()
                    return
                batch = self._take_batch()
                self._exporting = len(batch)
            with self._export_lock:
                ok = self._export(batch) if batch else True
            with self._lock:
                if self._exporting:  # not already written off by stop()
                    self._exporting = 0
                    self._count_result(len(batch), ok)
                    self._finished += len(batch)
                if not ok:
                    self._flush_ok = False
                self._done.notify_all()

    def _take_batch(self) -> list[ReadableSpan]:
        """Pop up to max_batch_size spans, closing the batch before max_batch_bytes."""
        batch: list[ReadableSpan] = []
        used = 0
        queue = self._queue
        while queue and len(batch) < self.max_batch_size:
            size = queue[0][1]
            if batch and used + size > self.max_batch_bytes:
                break
            batch.append(queue.popleft()[0])
            used += size
        self._queued_bytes -= used
        return batch

    def _count_result(self, count: int, ok: bool) -> None:
        if ok:
            self.accounting.exported += count
        else:
            self.accounting.dropped["export_failed"] += count

    def _export(self, batch: list[ReadableSpan]) -> bool:
        try:
            if not getattr(self._exporter, "_obskit_fast", False):
                # Spans from obskit's recorder reach any other exporter as ReadableSpans.
                spans: list[Any] = batch
                batch = [s.readable() if type(s) is SlimSpan else s for s in spans]
            return self._exporter.export(batch) == SpanExportResult.SUCCESS
        except Exception:
            log_once(f"export:{self.name}", "exporting %d spans failed", len(batch), exc_info=True)
            return False

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by its worker at fork time; its queued
        # spans belong to the parent. Start afresh, with a new exporter: the inherited one
        # may share a gRPC channel whose locks were held by the parent's threads.
        stopped = self._stopped
        self._init_runtime()
        self.accounting = SpanAccounting()
        _inherited.append(self._exporter)
        if stopped:  # left over from an earlier configure(): stays stopped, no exporter
            self._stopping = self._stopped = True
            return
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
# Exporters inherited from the parent at fork: kept referenced so that their __del__
# (which closes a gRPC channel, taking locks the parent's threads may have held at fork
# time) never runs in the child.
_inherited: list[object] = []


#: How long os.fork() waits for an export in flight to finish. gRPC is not fork-safe: a
#: child forked during a call can find the library's locks held (with an idle parent 10/10
#: children were fine, with a busy one 5-8 of 10 hung; docs/reliability.md, R10).
#: Local exports finish in milliseconds; against a dead backend the wait gives up.
FORK_WAIT = 0.25
_held_for_fork: list[threading.Lock] = []


def _before_fork() -> None:
    deadline = time.monotonic() + FORK_WAIT
    for queue in list(_live):
        lock = queue._export_lock
        if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            _held_for_fork.append(lock)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


def _after_fork() -> None:
    _held_for_fork.clear()  # the child builds new locks (_init_runtime)
    queues = list(_live)
    for queue in queues:
        queue._after_fork_in_child()
    if any(not queue._stopped for queue in queues):
        flush_at_multiprocessing_exit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork
    )
