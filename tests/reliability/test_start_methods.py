"""Children of every multiprocessing start method deliver their spans without shutdown().

A fork child, a forkserver child and every Pool worker end with `os._exit()` (no
`atexit`), and `with Pool` terminates its workers with SIGTERM; obskit flushes them all
(docs/reliability.md, "Processes").
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _harness import child_env

SCRIPT = Path(__file__).with_name("_mp_children.py")
TAGS = [f"process-{i}" for i in range(2)] + [f"pool-{i}" for i in range(4)]
TAGS += [f"with-pool-{i}" for i in range(4)]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_children_deliver_their_spans(obskit_collector, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    env = child_env(**obskit_collector.env)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SCRIPT.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), method], env=env, timeout=180, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    obskit_collector.wait_for("child.work", count=len(TAGS), timeout=30)
    spans = obskit_collector.find("child.work")
    assert Counter(s.attributes["tag"] for s in spans) == Counter(TAGS)
