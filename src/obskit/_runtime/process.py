"""Reading the process's CPU, memory, descriptor and thread counts, cheaply and portably.

Linux: `/proc/self/stat` (one read gives RSS, virtual size and OS thread count) and
`/proc/self/fd`. Elsewhere: psutil when it is installed (it is only a dev dependency),
else what the standard library offers (`os.times`, `/dev/fd`, Python's own thread count).
A value that cannot be read is None; reading never raises.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NamedTuple

__all__ = ["ProcessStats", "read"]

_PROC_STAT = "/proc/self/stat"
_PROC_FD = "/proc/self/fd"
_DEV_FD = "/dev/fd"
# Fields of /proc/self/stat after the ")" closing the command name (proc(5) numbers - 3).
_STAT_THREADS, _STAT_VSIZE, _STAT_RSS = 17, 20, 21
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcessStats(NamedTuple):
    """One reading; None where the platform does not tell."""

    cpu_user: float
    cpu_system: float
    rss: int | None
    max_rss: int | None
    vms: int | None
    fds: int | None
    threads: int | None


def _proc_stat() -> tuple[int, int, int] | None:
    try:
        with open(_PROC_STAT, "rb") as stat:
            data = stat.read()
        fields = data[data.rindex(b")") + 2 :].split()
        return (
            int(fields[_STAT_RSS]) * _PAGE_SIZE,
            int(fields[_STAT_VSIZE]),
            int(fields[_STAT_THREADS]),
        )
    except (OSError, ValueError, IndexError):
        return None


def _count_fds() -> int | None:
    for directory in (_PROC_FD, _DEV_FD):
        try:
            # Like psutil and prometheus_client: the listing includes the descriptor
            # listdir itself holds open, so the count is one above the steady state.
            return len(os.listdir(directory))
        except OSError:
            continue
    return None


def _max_rss() -> int | None:
    try:
        import resource
        import sys
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; else KiB


_psutil_process: Any = None
_psutil_tried = False


def _psutil() -> Any:
    global _psutil_process, _psutil_tried
    if not _psutil_tried:
        _psutil_tried = True
        try:
            import psutil

            _psutil_process = psutil.Process()
        except Exception:
            _psutil_process = None
    return _psutil_process


def _from_psutil() -> tuple[int | None, int | None, int | None, int | None]:
    process = _psutil()
    if process is None:
        return None, None, None, None
    try:
        with process.oneshot():
            memory = process.memory_info()
            fds = process.num_fds() if hasattr(process, "num_fds") else None
            return memory.rss, memory.vms, fds, process.num_threads()
    except Exception:
        return None, None, None, None


def read() -> ProcessStats:
    """Read the current values (about 20 us on Linux).

    Examples:
        >>> stats = read()
        >>> stats.cpu_user >= 0.0
        True
    """
    times = os.times()
    try:
        max_rss = _max_rss()
    except Exception:
        max_rss = None
    stat = _proc_stat()
    if stat is not None:
        return ProcessStats(
            times.user, times.system, stat[0], max_rss, stat[1], _count_fds(), stat[2]
        )
    rss, vms, fds, threads = _from_psutil()
    return ProcessStats(
        times.user,
        times.system,
        rss,
        max_rss,
        vms,
        fds if fds is not None else _count_fds(),
        threads if threads is not None else threading.active_count(),
    )
