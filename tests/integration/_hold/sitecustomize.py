"""Keeps the processes of an example alive until the test has read their metrics.

tests/integration/_examples.py puts this directory first on PYTHONPATH and sets
OBSKIT_EXAMPLE_HOLD_DIR, so every Python process the example starts (its node and worker
processes too) imports this module at startup. It then wraps `obskit.configure` and
`obskit.shutdown` in that process:

- configure() writes `<dir>/<pid>.json`: the process' service name and the address of
  its Prometheus endpoint (the examples run with OBSKIT_PROMETHEUS_PORT=0);
- shutdown() (called by the example, or by obskit's exit hook) first exports the queued
  spans, writes `<dir>/<pid>.held`, and waits until `<dir>/release` or
  `<dir>/<pid>.release` exists (at most OBSKIT_EXAMPLE_HOLD_TIMEOUT seconds), so
  /metrics stays up until Prometheus has scraped the final values.

It also makes every such process print the Python stack of each of its threads into
`<dir>/<pid>.stacks` on SIGUSR1 (`faulthandler`, which works even when the process is
deadlocked): the harness sends that signal before it kills an example it gave up on, so
the failure names the line each process hung on.

With OBSKIT_EXAMPLE_OTLP_ENDPOINTS="URL1,URL2,...", configure() also gives each process
an OTLP endpoint of that list in turn (the first process to configure gets URL1, the next
URL2, ...), so the processes of one example export to different collectors; the json
file says which (`otlp`).

Without OBSKIT_EXAMPLE_HOLD_DIR this module does nothing.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

HOLD_DIR = os.environ.get("OBSKIT_EXAMPLE_HOLD_DIR")
ENDPOINTS = [e for e in os.environ.get("OBSKIT_EXAMPLE_OTLP_ENDPOINTS", "").split(",") if e]
HOLD_TIMEOUT = float(os.environ.get("OBSKIT_EXAMPLE_HOLD_TIMEOUT", "120"))
POLL_INTERVAL = 0.05
SPAN_FLUSH_TIMEOUT = 10.0
STACK_SIGNAL = signal.SIGUSR1  # tests/integration/_examples.py sends it before a kill
_stack_files: list[Any] = []  # faulthandler writes to their descriptors: keep them open


def _write(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data))
    partial.replace(path)  # the test never reads half a file


def _describe(telemetry: Any) -> dict[str, Any]:
    address = telemetry.prometheus_address
    return {
        "pid": os.getpid(),
        "service": telemetry.settings.service_name,
        "prometheus": None if address is None else f"127.0.0.1:{address[1]}",
        "argv": sys.argv,
        "otlp": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "time": time.time(),
    }


def _dump_stacks_on_signal(directory: Path) -> None:
    """On STACK_SIGNAL, write every thread's stack to `<dir>/<pid>.stacks` (forks too)."""

    def register() -> None:
        stacks = (directory / f"{os.getpid()}.stacks").open("w")
        _stack_files.append(stacks)
        faulthandler.register(STACK_SIGNAL, file=stacks, all_threads=True)

    register()
    os.register_at_fork(after_in_child=register)  # a forked worker writes its own file


def _take_turn(directory: Path) -> int:
    """This process's place among the example's processes (0, 1, ...), by the order in
    which they first configure: each takes the lowest `turn-<n>` file nobody created."""
    turn = 0
    while True:
        try:
            os.close(os.open(directory / f"turn-{turn}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return turn
        except FileExistsError:
            turn += 1


def _install(directory: Path) -> None:
    import obskit
    from obskit._setup import configure as _setup

    real_configure, real_shutdown = _setup.configure, _setup.shutdown
    turns: dict[int, int] = {}  # pid -> turn (a forked child takes its own)

    def configure(*args: Any, **kwargs: Any) -> Any:
        if ENDPOINTS:  # a process that configures again keeps its turn
            if os.getpid() not in turns:
                turns[os.getpid()] = _take_turn(directory)
            turn = turns[os.getpid()]
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = ENDPOINTS[turn % len(ENDPOINTS)]
        telemetry = real_configure(*args, **kwargs)
        _write(directory / f"{os.getpid()}.json", _describe(telemetry))
        return telemetry

    def shutdown(timeout: float | None = None) -> bool:
        telemetry = _setup.current()
        if telemetry is not None:
            # Spans only: a metric flush would queue a second copy of every series in
            # the Prometheus reader (it collects on flush and again on scrape).
            for queue in telemetry.span_queues:
                queue.flush(SPAN_FLUSH_TIMEOUT)
            _write(directory / f"{os.getpid()}.held", _describe(telemetry))
            deadline = time.monotonic() + HOLD_TIMEOUT
            releases = (directory / "release", directory / f"{os.getpid()}.release")
            while not any(r.exists() for r in releases) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
        return bool(real_shutdown(timeout))

    # obskit's exit hook calls _setup.shutdown, so both spellings are covered.
    _setup.configure = obskit.configure = configure  # type: ignore[assignment]
    _setup.shutdown = obskit.shutdown = shutdown  # type: ignore[assignment]


if HOLD_DIR:
    try:
        _dump_stacks_on_signal(Path(HOLD_DIR))
        _install(Path(HOLD_DIR))
    except Exception as error:  # never break the example; the test will say what is missing
        sys.stderr.write(f"obskit example hold not installed: {error!r}\n")
