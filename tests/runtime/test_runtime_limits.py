"""CPU and memory limits: cgroup v2 / v1 files (a cgroup tree laid out in a temporary
directory, read by the real code), the host fallback, and the exported metrics."""

from __future__ import annotations

import os
from pathlib import Path

from obskit._runtime import limits as _limits
from obskit._runtime.names import CPU_LIMIT, LIMIT_SOURCE, MEMORY_LIMIT

GIB = 1 << 30


def _tree(tmp_path: Path, cgroup_lines: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(cgroup_lines)
    return root, proc


def _host_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_cgroup_v2_limits_of_the_process_and_its_parents_lowest_wins(tmp_path: Path):
    root, proc = _tree(tmp_path, "0::/app.slice/worker\n", {
        "app.slice/worker/memory.max": "max\n",
        "app.slice/worker/cpu.max": "max 100000\n",
        "app.slice/memory.max": f"{GIB // 2}\n",
        "app.slice/cpu.max": "50000 100000\n",
        "memory.max": f"{GIB}\n",
    })  # fmt: skip

    assert _limits.memory_limit(root, proc) == (GIB // 2, _limits.SOURCE_CGROUP)
    assert _limits.cpu_limit(root, proc) == (0.5, _limits.SOURCE_CGROUP)


def test_cgroup_v1_limits(tmp_path: Path):
    root, proc = _tree(tmp_path, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", {
        "memory/docker/abc/memory.limit_in_bytes": f"{GIB // 4}\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "25000\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
    })  # fmt: skip

    assert _limits.memory_limit(root, proc) == (GIB // 4, _limits.SOURCE_CGROUP)
    assert _limits.cpu_limit(root, proc) == (0.25, _limits.SOURCE_CGROUP)


def test_no_cgroup_limit_falls_back_to_the_host(tmp_path: Path):
    root, proc = _tree(tmp_path, "0::/\n4:memory:/\n", {
        "memory.max": "max\n",
        "cpu.max": "max 100000\n",
        "memory/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "unlimited"
        "cpu/cpu.cfs_quota_us": "-1\n",
        "cpu/cpu.cfs_period_us": "100000\n",
    })  # fmt: skip

    assert _limits.memory_limit(root, proc) == (_host_memory(), _limits.SOURCE_HOST)
    assert _limits.cpu_limit(root, proc) == (len(os.sched_getaffinity(0)), _limits.SOURCE_HOST)


def test_unreadable_or_garbled_files_mean_no_cgroup_limit(tmp_path: Path):
    root, proc = _tree(tmp_path, "garbage\n0::relative\n", {
        "memory.max": "lots\n",
        "cpu.max": "12 zero\n",
    })  # fmt: skip

    assert _limits.memory_limit(root, proc).source == _limits.SOURCE_HOST
    assert _limits.cpu_limit(root, tmp_path / "missing").source == _limits.SOURCE_HOST


def test_limits_are_exported_with_their_source(obskit_capture, runtime_on):
    memory = obskit_capture.metric(MEMORY_LIMIT)
    cpu = obskit_capture.metric(CPU_LIMIT)

    assert memory.attributes[LIMIT_SOURCE] in (_limits.SOURCE_CGROUP, _limits.SOURCE_HOST)
    assert 0 < memory.value <= _host_memory()
    assert 0 < cpu.value <= (os.cpu_count() or 1)
