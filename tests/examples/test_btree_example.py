"""examples/btree.py runs from the repository root and shows spans, splits and merges."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without exporter settings inherited from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBSKIT_"))}
    env.update(extra)
    return env


def test_btree_example_prints_traces_and_metric_summary() -> None:
    done = subprocess.run(
        [sys.executable, "examples/btree.py"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"tree users_pk: order=8 keys=\d+ depth=\d+ nodes=\d+", out), out[-2000:]
    assert "range.report" in out
    assert out.count("btree.scan") >= 3  # the report's tree: three scans under range.report
    assert re.search(r"btree\.(get|put|delete) .*btree\.outcome=", out)  # sampled operations
    for metric in ("btree.node.splits{", "btree.node.merges{", "btree.depth{",
                   "btree.operation.duration{", "btree.page.reads{"):  # fmt: skip
        assert metric in out, metric
    merges = sum(int(n) for n in re.findall(r"btree\.node\.merges\{[^}]*\}\s+(\d+)", out))
    assert merges > 0  # merges really happen
    assert "Traceback" not in done.stderr
