"""Running reliability scenarios in child interpreters and collecting their figures.

`run_scenario("throughput", {...})` starts `_child.py` under a hard timeout, kills it by
PID if it overruns, and returns the scenario's `RESULT` line as a dict, plus the exit code
and when the process was seen to end (for exit-time measurements). Figures that the docs
table reports are appended to `FIGURES` (printed by `report.py` / with `pytest -s`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("_child.py")
RESULT = "RESULT "
FIGURES_FILE = os.environ.get("OBSKIT_RELIABILITY_FIGURES")


@dataclass
class Outcome:
    """What a scenario child reported, and how its process ended."""

    result: dict[str, Any]
    returncode: int
    ended_at: float  # time.time() when the parent saw the process gone
    stderr: str
    stdout: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child: ours minus OTEL_/OBSKIT_ settings that could leak in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "OBSKIT_", "GRPC_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_scenario(
    name: str,
    args: dict[str, Any],
    *,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    expect_result: bool = True,
) -> Outcome:
    """Run scenario `name` of `_child.py` with `args`; kill it by PID after `timeout` s."""
    process = subprocess.Popen(
        [sys.executable, str(CHILD), name, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or child_env(),
        start_new_session=True,  # so a hung child's own children can be killed with it
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate(timeout=10)
        raise AssertionError(
            f"scenario {name} did not finish in {timeout} s (killed); stderr tail:\n"
            f"{stderr[-3000:]}"
        ) from None
    ended_at = time.time()
    result: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT) :])
    if expect_result and not result:
        raise AssertionError(
            f"scenario {name} printed no result (exit code {process.returncode}); "
            f"stderr tail:\n{stderr[-3000:]}"
        )
    return Outcome(result, process.returncode, ended_at, stderr, stdout)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def receiver_endpoint(receiver: Any) -> str:
    """The `otlp_endpoint` obskit takes to reach an OTLPReceiver over its protocol."""
    port = receiver.grpc_port if receiver.protocol == "grpc" else receiver.http_port
    return f"http://127.0.0.1:{port}"


def record_figure(promise: str, figure: str) -> None:
    """Remember a measured figure for the docs table (see report.py)."""
    line = f"{promise}\t{figure}"
    print(f"FIGURE {line}")
    if FIGURES_FILE:
        with open(FIGURES_FILE, "a") as out:
            out.write(line + "\n")
