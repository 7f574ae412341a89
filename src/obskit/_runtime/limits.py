"""The CPU and memory the process may use: its cgroup's limits, else the host's size.

Saturation alerts compare use with these: a container limited to 512 MiB is near its
limit long before the host's RAM is. On Linux the process's cgroup (from
/proc/self/cgroup) and every cgroup above it are read, v2 (`memory.max`, `cpu.max`) or
v1 (`memory.limit_in_bytes`, `cpu.cfs_quota_us` / `cpu.cfs_period_us`), and the lowest
limit wins; without one (or elsewhere) the host's physical memory and the CPUs the
process may run on are the limit. Read at collection time; never raises.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["SOURCE_CGROUP", "SOURCE_HOST", "Limit", "cpu_limit", "memory_limit"]

SOURCE_CGROUP = "cgroup"
SOURCE_HOST = "host"
_CGROUP_ROOT = "/sys/fs/cgroup"
_PROC_CGROUP = "/proc/self/cgroup"
_V1_UNLIMITED = 1 << 62  # v1 reports "no limit" as a huge page-rounded number


class Limit(NamedTuple):
    """A limit and where it comes from: "cgroup" or "host"."""

    value: float
    source: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def _cgroup_dirs(root: Path, proc_cgroup: Path, controller: str) -> list[Path]:
    """The process's cgroup directories for `controller` (v2 and v1), innermost first."""
    text = _read(proc_cgroup) or ""
    found: list[Path] = []
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, relative = rest.partition(":")
        if not hierarchy or not relative.startswith("/"):
            continue
        if controllers == "":  # v2: one unified hierarchy
            base = root
        elif controller in controllers.split(","):  # v1: e.g. "cpu,cpuacct"
            base = root / controllers
            if not base.is_dir():
                base = root / controller
        else:
            continue
        path = base / relative.lstrip("/")
        while True:
            found.append(path)
            if path == base:
                break
            path = path.parent
    if not found:
        found = [root, root / controller]  # no /proc/self/cgroup: the mount's own files
    return found


def _host_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _host_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def memory_limit(
    root: str | os.PathLike[str] = _CGROUP_ROOT,
    proc_cgroup: str | os.PathLike[str] = _PROC_CGROUP,
) -> Limit | None:
    """Bytes the process may use: its cgroup limit, else the host's physical memory."""
    limits: list[int] = []
    for directory in _cgroup_dirs(Path(root), Path(proc_cgroup), "memory"):
        for name in ("memory.max", "memory.limit_in_bytes"):
            text = _read(directory / name)
            if text and text.isdigit() and int(text) < _V1_UNLIMITED:
                limits.append(int(text))
    host = _host_memory()
    if limits and (host is None or min(limits) < host):
        return Limit(float(min(limits)), SOURCE_CGROUP)
    return None if host is None else Limit(float(host), SOURCE_HOST)


def _cpu_quota(directory: Path) -> float | None:
    text = _read(directory / "cpu.max")  # v2: "<quota> <period>" or "max <period>"
    if text:
        quota, _, period = text.partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            return int(quota) / int(period)
        return None
    quota_text = _read(directory / "cpu.cfs_quota_us")  # v1: -1 means no quota
    period_text = _read(directory / "cpu.cfs_period_us")
    if quota_text and period_text and quota_text.isdigit() and period_text.isdigit():
        return int(quota_text) / int(period_text) if int(period_text) > 0 else None
    return None


def cpu_limit(
    root: str | os.PathLike[str] = _CGROUP_ROOT,
    proc_cgroup: str | os.PathLike[str] = _PROC_CGROUP,
) -> Limit:
    """CPUs (cores) the process may use: its cgroup quota, else the CPUs it may run on."""
    host = _host_cpus()
    quotas = [
        quota
        for directory in _cgroup_dirs(Path(root), Path(proc_cgroup), "cpu")
        if (quota := _cpu_quota(directory)) is not None
    ]
    if quotas and min(quotas) < host:
        return Limit(min(quotas), SOURCE_CGROUP)
    return Limit(float(host), SOURCE_HOST)
