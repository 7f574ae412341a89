"""Health snapshots and the background sampler behind `obskit.runtime.snapshot/sample`."""

from __future__ import annotations

import gc
import os
import threading
import time
from types import TracebackType
from typing import Any, TypedDict

from obskit._runtime import gc as _runtime_gc
from obskit._runtime import process as _runtime_process
from obskit._runtime import runfile as _runfile

__all__ = ["Series", "Snapshot", "sample", "snapshot"]


class Snapshot(TypedDict):
    """What `snapshot()` returns: plain values, lists indexed by GC generation.

    Examples:
        >>> from obskit import runtime
        >>> runtime.snapshot()["threads"] >= 1
        True
    """

    timestamp: float  # time.time()
    monotonic: float  # time.monotonic(), for intervals between snapshots
    cpu_user_seconds: float
    cpu_system_seconds: float
    rss_bytes: int | None
    max_rss_bytes: int | None  # peak RSS of the process so far
    vms_bytes: int | None
    open_fds: int | None
    threads: int | None
    gc_collections: list[int]
    gc_collected: list[int]
    gc_uncollectable: list[int]
    gc_pauses: list[int]  # collections timed by obskit's GC hook
    gc_pause_seconds: list[float]  # their total pause time


def snapshot() -> Snapshot:
    """The process's health right now, as a plain dict.

    GC pause totals count the collections obskit timed: while `enable()` is on or a
    `sample()` block runs. Values a platform does not expose are None.

    Examples:
        >>> from obskit import runtime
        >>> before = runtime.snapshot()
        >>> data = [[i] for i in range(10_000)]
        >>> after = runtime.snapshot()
        >>> after["cpu_user_seconds"] >= before["cpu_user_seconds"]
        True
        >>> len(after["gc_collections"])
        3
    """
    stats = _runtime_process.read()
    gc_stats = gc.get_stats()
    return Snapshot(
        timestamp=time.time(),
        monotonic=time.monotonic(),
        cpu_user_seconds=stats.cpu_user,
        cpu_system_seconds=stats.cpu_system,
        rss_bytes=stats.rss,
        max_rss_bytes=stats.max_rss,
        vms_bytes=stats.vms,
        open_fds=stats.fds,
        threads=stats.threads,
        gc_collections=[generation["collections"] for generation in gc_stats],
        gc_collected=[generation["collected"] for generation in gc_stats],
        gc_uncollectable=[generation["uncollectable"] for generation in gc_stats],
        gc_pauses=list(_runtime_gc.pause_counts),
        gc_pause_seconds=list(_runtime_gc.pause_seconds),
    )


def _delta(last: list[Any], first: list[Any]) -> list[Any]:
    return [b - a for a, b in zip(first, last, strict=True)]


class Series:
    """Snapshots of a block: a baseline, samples every `interval` seconds, a final one.

    Use it through `obskit.runtime.sample()`. Sampling runs on a daemon thread that stops
    when the block exits. At most `max_samples` snapshots are kept: when the series is
    full, every other sample is dropped and the sampling interval doubles, so a long
    run is still covered end to end (the peak RSS is tracked over every reading).
    With `path`, the block's run file (baseline, samples, final snapshot, summary and
    obskit's histograms) is written there as JSON when the block exits; see `write()`.

    Examples:
        >>> from obskit import runtime
        >>> with runtime.sample(interval=0.01) as series:
        ...     total = sum(range(100_000))
        >>> series.snapshots[0] is series.baseline and series.snapshots[-1] is series.final
        True
        >>> series.summary()["cpu_seconds"] >= 0.0
        True
    """

    def __init__(
        self,
        interval: float = 0.1,
        *,
        max_samples: int = 10_000,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        if max_samples < 2:
            raise ValueError(f"max_samples must be at least 2, not {max_samples!r}")
        self.interval = float(interval)
        self.max_samples = max_samples
        self.path = path
        self.snapshots: list[Snapshot] = []
        self.baseline: Snapshot | None = None
        self.final: Snapshot | None = None
        #: Snapshots taken, including those dropped to keep within `max_samples`.
        self.readings = 0
        self._max_rss: int | None = None
        self._max_threads: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hook: int | None = None

    def __enter__(self) -> Series:
        if self._thread is not None:
            raise RuntimeError("a Series records one block; make a new one with sample()")
        self._hook = _runtime_gc.acquire(record=False)  # time pauses during the block
        self.baseline = self._take()
        self._thread = threading.Thread(
            target=self._run, name="obskit-runtime-sampler", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(1.0, 10 * self.interval))
        self.final = self._take()
        if self._hook is not None:
            _runtime_gc.release(self._hook)
            self._hook = None
        if self.path is not None:
            _runfile.write(self, self.path)

    def write(self, path: str | os.PathLike[str]) -> bool:
        """Write this finished block's run file: JSON with `format`, `summary`,
        `baseline`, `final`, `snapshots` and `histograms`. Returns whether it was written
        (a failure is logged, not raised).

        `histograms` holds every histogram series (count, sum, bucket bounds and counts)
        of obskit's `memory` exporter when `obskit.configure()` enabled it, else `{}`.
        `python -m obskit.report A.json B.json` compares two run files.

        Examples:
            >>> import json, os, tempfile
            >>> from obskit import runtime
            >>> with runtime.sample(interval=0.05) as series:
            ...     total = sum(range(10_000))
            >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
            >>> series.write(path)
            True
            >>> with open(path) as handle:
            ...     json.load(handle)["format"]
            'obskit.run/1'
        """
        if self.final is None:
            raise RuntimeError("write() needs a finished `with sample():` block")
        return _runfile.write(self, path)

    def _take(self) -> Snapshot:
        current = snapshot()
        self.readings += 1
        rss, threads = current["rss_bytes"], current["threads"]
        if rss is not None and (self._max_rss is None or rss > self._max_rss):
            self._max_rss = rss
        if threads is not None and (self._max_threads is None or threads > self._max_threads):
            self._max_threads = threads
        self.snapshots.append(current)
        return current

    def _run(self) -> None:
        stride = 1
        while not self._stop.wait(self.interval * stride):
            try:
                if len(self.snapshots) >= self.max_samples - 1:  # keep room for the final
                    del self.snapshots[1::2]
                    stride *= 2
                self._take()
            except Exception:  # pragma: no cover - snapshot() does not raise
                continue

    def summary(self) -> dict[str, Any]:
        """What the block used: CPU seconds, peak RSS, GC collections and pause time.

        Examples:
            >>> from obskit import runtime
            >>> with runtime.sample(interval=0.05) as series:
            ...     pass
            >>> sorted(series.summary())[:3]
            ['cpu_seconds', 'cpu_system_seconds', 'cpu_user_seconds']
        """
        if not self.snapshots:
            raise RuntimeError("summary() needs a finished `with sample():` block")
        first, last = self.snapshots[0], self.snapshots[-1]
        wall = last["monotonic"] - first["monotonic"]
        user = last["cpu_user_seconds"] - first["cpu_user_seconds"]
        system = last["cpu_system_seconds"] - first["cpu_system_seconds"]
        rss_first, rss_last = first["rss_bytes"], last["rss_bytes"]
        return {
            "samples": len(self.snapshots),
            "readings": self.readings,
            "wall_seconds": wall,
            "cpu_user_seconds": user,
            "cpu_system_seconds": system,
            "cpu_seconds": user + system,
            "cpu_utilization": (user + system) / wall if wall > 0 else 0.0,
            "max_rss_bytes": self._max_rss,
            "rss_growth_bytes": (
                None if rss_first is None or rss_last is None else rss_last - rss_first
            ),
            "max_threads": self._max_threads,
            "gc_collections": _delta(last["gc_collections"], first["gc_collections"]),
            "gc_pause_seconds": _delta(last["gc_pause_seconds"], first["gc_pause_seconds"]),
        }


def sample(
    interval: float = 0.1,
    *,
    max_samples: int = 10_000,
    path: str | os.PathLike[str] | None = None,
) -> Series:
    """Record the process's health around a block, sampling on a background thread.

    With `path`, the run file is written there when the block exits (`Series.write`).

    Examples:
        >>> from obskit import runtime
        >>> with runtime.sample(interval=0.05) as series:
        ...     blob = bytearray(1 << 20)
        >>> summary = series.summary()
        >>> summary["max_rss_bytes"] is None or summary["max_rss_bytes"] > 0
        True
    """
    return Series(interval, max_samples=max_samples, path=path)
