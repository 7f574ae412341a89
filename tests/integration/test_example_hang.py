"""An example the harness gives up on names the line each of its processes hung on."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from _backends import BackendTimeout, Jaeger, Prometheus
from _examples import ExampleRun

HUNG_EXAMPLE = textwrap.dedent(
    """
    import os, sys, threading
    from pathlib import Path

    def worker_waiting_on_a_lock_nobody_releases(lock):
        lock.acquire()

    def main_thread_stuck_in_its_loop(ready):
        lock = threading.Lock()
        lock.acquire()
        threading.Thread(target=worker_waiting_on_a_lock_nobody_releases, args=(lock,),
                         name="stuck-worker", daemon=True).start()
        if os.fork() == 0:  # a worker process hangs too
            ready.with_suffix(".child").touch()
            threading.Event().wait()
        ready.touch()
        threading.Event().wait()

    main_thread_stuck_in_its_loop(Path(sys.argv[1]))
    """
)


def test_a_hung_example_shows_every_process_and_thread_stack(
    jaeger: Jaeger, prometheus: Prometheus, tmp_path: Path
) -> None:
    script = tmp_path / "hangs.py"
    script.write_text(HUNG_EXAMPLE)
    ready = tmp_path / "ready"
    with ExampleRun(str(script), jaeger, prometheus, tmp_path, str(ready)) as run:
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.with_suffix(".child").exists()):
            assert time.monotonic() < deadline, run.output
            time.sleep(0.05)  # polled with a deadline: the example starts in ~0.1 s
        with pytest.raises(BackendTimeout) as failure:
            run.wait_exit(timeout=1)

    message = str(failure.value)
    assert "hangs.py still running after 1s" in message
    assert "Python stacks when the harness gave up" in message
    assert message.count("--- process ") == 2  # the example and its forked worker
    assert "in worker_waiting_on_a_lock_nobody_releases" in message
    assert "in main_thread_stuck_in_its_loop" in message
    assert "Current thread" in message  # faulthandler's all-threads dump
