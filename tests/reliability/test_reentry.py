"""Telemetry from code that runs inside obskit's own locked sections, on the same thread.

GC callbacks, finalizers (`__del__`) and signal handlers run at arbitrary points of the
thread they interrupt -- possibly while it is inside one of obskit's locked sections. If
what they run asks for the same lock, the thread waits for itself forever (issue: a GC
during a span's add_event hung every host with the runtime hook on). Each scenario here
runs in a child (`_reentry_child.py`) that re-enters every locked section line by line,
under a hard timeout: a regression fails within the bound instead of hanging the suite.
Nothing may be lost: every span ends up in the memory exporter, with its events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _harness import child_env

CHILD = Path(__file__).with_name("_reentry_child.py")
TIMEOUT = 60.0  # the child takes a few seconds; a deadlock never ends by itself


def _run(mode: str, slim: bool) -> dict[str, object]:
    env = child_env(OBSKIT_SLIM_SPANS="true" if slim else "false")
    try:
        done = subprocess.run(
            [sys.executable, str(CHILD), mode],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as hung:
        stderr = hung.stderr.decode() if isinstance(hung.stderr, bytes) else hung.stderr or ""
        raise AssertionError(
            f"telemetry from a {mode} inside a locked section did not finish in {TIMEOUT} s "
            f"(a deadlock); the last section reached:\n{stderr[-2000:]}"
        ) from None
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    result: dict[str, object] = json.loads(lines[-1][len("RESULT ") :])
    return result


@pytest.mark.parametrize("slim", [True, False], ids=["slim-recorder", "sdk-spans"])
@pytest.mark.parametrize("mode", ["gc", "finalizer", "signal"])
def test_telemetry_from_inside_a_locked_section_finishes_and_loses_nothing(
    mode: str, slim: bool
) -> None:
    result = _run(mode, slim)
    assert result["slim"] is slim
    fired = result["fired"]
    assert isinstance(fired, dict)
    targets = {
        "queue.enqueue", "hot.bind", "hot.new_cell", "hot.new_histogram_cell",
        "hot.instrument", "metrics.instrument", "log_once", "raft.node",
    }  # fmt: skip
    if slim:
        targets |= {"slim.add_event", "slim.set_attribute"}
    # Every locked section was re-entered, at every line run while its lock was held.
    assert {name for name, count in fired.items() if count} == targets
    runs = sum(fired.values())
    assert result["counter_adds"] == runs
    # Nothing lost: each outer step's span, each re-entrant span with its event and
    # its attribute, each annotation of the interrupted span.
    assert result["spans"] == result["expected_spans"] == runs + 3 * len(targets)
    assert result["reentrant"] == result["reentrant_complete"] == runs
    # The interrupted span is annotated, except in queue.enqueue: it has ended there.
    assert result["annotations"] == runs - fired["queue.enqueue"]
    assert result["annotated"] == 3 * (len(targets) - 1)
    assert result["hot_total"] == 3 + 2 * runs  # the hot.bind steps' adds plus two per run
    # Handles making their first record when interrupted by a record into them.
    assert result["cells_total"] == result["cells_count"] == 3 + runs
    if mode == "gc":  # obskit's GC hook marked each interrupted span's pause, too
        assert result["gc_annotated"] == result["annotated"]
