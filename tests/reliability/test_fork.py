"""R10: forking with exports in flight never hangs a child and loses none of its spans."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from _harness import receiver_endpoint, record_figure, run_scenario

from obskit._export.queue import FORK_WAIT
from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.reliability

FORKS = 50
MP = 10
SPANS = 100
# The child's budget: _child.fork configures shutdown_timeout=CHILD_BUDGET and flushes
# with that timeout, so a child that respects its budget is done exporting within it
# plus the fork wait; what remains is process teardown and waiting for a CPU. A child
# exit typically takes 1-3 s (docs/reliability.md R10; record_figure reports the worst
# and the load average), but took 5.4 s and 9.8 s with the 2 cores shared by several
# test suites (load average 13). A hang -- what R10 guards against -- is forever. So the
# hard bound sits where a hang would be, not at the typical value: budget + fork wait +
# three budgets of margin (20.25 s), still well under the 40 s after which a child
# counts as hung.
CHILD_BUDGET = 5.0
EXIT_BOUND = 4 * CHILD_BUDGET + FORK_WAIT


def test_forked_children_never_hang_and_deliver_everything(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    result = run_scenario(
        "fork",
        {
            "endpoint": receiver_endpoint(receiver),
            "protocol": receiver.protocol,
            "forks": FORKS,
            "mp": MP,
            "spans": SPANS,
            "done_file": str(tmp_path / "done.txt"),
            "wait": 40.0,
            "budget": CHILD_BUDGET,
        },
        timeout=120,
    ).result
    tags = [f"fork{i}" for i in range(FORKS)] + [f"mp{i}" for i in range(MP)]
    assert result["hung"] == []
    failed = {tag: code for tag, code in result["codes"].items() if code != 0}
    diag = tmp_path / "done.txt.diag"
    assert failed == {}, (failed, diag.read_text() if diag.exists() else "")  # 3: flush failed
    spans = receiver.wait_for_spans(
        lambda got: sum(1 for s in got if s.name == "child.work") >= len(tags) * SPANS,
        timeout=60,  # a deadline, not a wait: returns as soon as every child span is in
    )
    per_child = Counter(s.attributes["child"] for s in spans if s.name == "child.work")
    worst_exit = max(result["exit_times"].values())
    record_figure(
        f"R10 {receiver.protocol}",
        f"{len(result['hung'])} hung of {len(tags)}; worst child exit {worst_exit:.2f} s; "
        f"{sum(per_child.values())}/{len(tags) * SPANS} child spans delivered "
        f"(bound {EXIT_BOUND:.2f} s = 4 x budget {CHILD_BUDGET:g} s + fork wait; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
    )
    assert worst_exit <= EXIT_BOUND, result["exit_times"]
    assert {tag: per_child[tag] for tag in tags} == dict.fromkeys(tags, SPANS)
