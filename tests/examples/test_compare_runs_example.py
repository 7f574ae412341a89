"""examples/compare_runs.py records run files that `obskit report` reads and judges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from obskit import report
from obskit._tools import cli as _cli

ROOT = Path(__file__).resolve().parents[2]


def test_compare_runs_example_writes_runs_the_report_reads(tmp_path: Path, capsys) -> None:
    done = subprocess.run(
        [sys.executable, "examples/compare_runs.py", str(tmp_path), "--runs", "2", "--calls", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for side in ("baseline", "candidate"):
        assert sorted(p.name for p in (tmp_path / side).iterdir()) == ["run-0.json", "run-1.json"]
        for path in (tmp_path / side).iterdir():
            report.load(str(path))  # a valid run file
    code = _cli.main(["report", str(tmp_path / "baseline"), str(tmp_path / "candidate")])
    out = capsys.readouterr().out
    assert code == 0  # no --max-regression: judged, but the exit code stays 0
    assert "job.duration p50" in out
    assert "95% CI" in out
