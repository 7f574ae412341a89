"""Run files from sample(path=...) and `python -m obskit.report A B` comparing two of them."""

from __future__ import annotations

import copy
import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import obskit
from obskit import report, runtime
from obskit.runtime import GC_PAUSE_DURATION


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "obskit.report", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    """A real run file: GC pauses timed into the memory exporter's histogram."""
    path = tmp_path / "a.json"
    obskit.configure(service_name="bench", exporters=["memory"], runtime=True)
    try:
        with runtime.sample(interval=0.01, path=path) as series:
            for _ in range(3):
                gc.collect(0)
    finally:
        obskit.shutdown()
    assert series.final is not None
    return path


def test_sample_with_a_path_writes_snapshots_summary_and_histograms(run_file: Path):
    document = json.loads(run_file.read_text())

    assert document["format"] == "obskit.run/1"
    assert document["baseline"] == document["snapshots"][0]
    assert document["final"] == document["snapshots"][-1]
    assert document["summary"]["samples"] == len(document["snapshots"])
    assert document["summary"]["gc_collections"][0] >= 3
    pauses = document["histograms"][f"{GC_PAUSE_DURATION}{{cpython.gc.generation=0}}"]
    assert pauses["count"] >= 3
    assert len(pauses["counts"]) == len(pauses["bounds"]) + 1
    assert sum(pauses["counts"]) == pauses["count"]


def test_run_file_without_the_memory_exporter_has_no_histograms(tmp_path: Path):
    with runtime.sample(interval=0.05) as series:
        pass
    assert series.write(tmp_path / "run.json")
    assert json.loads((tmp_path / "run.json").read_text())["histograms"] == {}


def test_a_run_file_that_cannot_be_written_is_logged_not_raised(tmp_path: Path, caplog):
    with runtime.sample(interval=0.05, path=tmp_path / "missing-dir" / "run.json"):
        pass
    assert "could not write the run file" in caplog.text


def _slower(document: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same run with every GC pause `factor` times longer (counts moved up buckets)."""
    slower = copy.deepcopy(document)
    slower["summary"]["gc_pause_seconds"] = [
        value * factor for value in slower["summary"]["gc_pause_seconds"]
    ]
    for histogram in slower["histograms"].values():
        histogram["sum"] *= factor
        histogram["counts"] = [
            0,
            *histogram["counts"][:-2],
            histogram["counts"][-2] + histogram["counts"][-1],
        ]
    return slower


def test_report_of_a_run_against_itself_passes(run_file: Path):
    result = _report(str(run_file), str(run_file), "--max-regression", "10%")

    assert result.returncode == 0, result.stderr
    assert "cpu_seconds" in result.stdout
    assert f"{GC_PAUSE_DURATION}{{cpython.gc.generation=0}} p99" in result.stdout
    assert "REGRESSION" not in result.stdout


def test_report_fails_past_the_allowed_regression_and_names_it(run_file: Path, tmp_path: Path):
    slower = tmp_path / "b.json"
    slower.write_text(json.dumps(_slower(json.loads(run_file.read_text()), 3.0)))

    result = _report(str(run_file), str(slower), "--max-regression", "10%",
                     "--check", "*gc*")  # fmt: skip

    assert result.returncode == 1
    flagged = [line for line in result.stdout.splitlines() if line.endswith("REGRESSION")]
    assert any(line.startswith("gc_pause_seconds") for line in flagged)
    assert any(" mean " in line for line in flagged)
    assert not any(line.startswith("cpu_") for line in flagged)  # not in --check
    assert "regressed by more than 10.0%" in result.stderr


def test_report_without_a_limit_only_prints(run_file: Path, tmp_path: Path):
    slower = tmp_path / "b.json"
    slower.write_text(json.dumps(_slower(json.loads(run_file.read_text()), 3.0)))
    assert _report(str(run_file), str(slower)).returncode == 0


def test_report_refuses_files_that_are_not_run_files(run_file: Path, tmp_path: Path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}))

    result = _report(str(run_file), str(other))

    assert result.returncode == 2
    assert "is not an obskit run file" in result.stderr
    assert _report(str(run_file), str(run_file), "--max-regression", "lots").returncode == 2


def test_quantile_interpolates_like_prometheus():
    bounds, counts = [0.1, 0.2, 0.4], [0, 50, 50, 0]
    assert report.quantile(0.5, bounds, counts) == pytest.approx(0.2)
    assert report.quantile(0.99, bounds, counts) == pytest.approx(0.396)
    assert report.quantile(0.99, bounds, [0, 0, 0, 5]) == 0.4  # overflow: highest bound
    assert report.quantile(0.5, bounds, [0, 0, 0, 0]) is None


def test_compare_marks_growth_from_zero_as_infinite():
    rows = report.compare({"summary": {"gc_pause_seconds": [0.0, 0.0, 0.0]}},
                          {"summary": {"gc_pause_seconds": [0.5, 0.0, 0.0]}})  # fmt: skip
    assert rows[0].change == float("inf")
    assert report.regressions(rows, 10.0) == rows


def test_report_says_2_for_a_run_file_of_the_wrong_shape(run_file: Path, tmp_path: Path):
    data = json.loads(run_file.read_text())
    broken = tmp_path / "broken.json"
    for damage in ("histograms", "summary"):
        shaped = dict(data)
        shaped[damage] = ["not", "a", "mapping"]
        broken.write_text(json.dumps(shaped))
        result = _report(str(run_file), str(broken), "--max-regression", "10%")
        assert result.returncode == 2, (damage, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_run_file_that_cannot_be_written_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "taken"
    target.mkdir()  # a directory where the file should go: the final rename fails
    with runtime.sample(interval=0.01) as series:
        pass
    assert series.write(target) is False  # logged, never raised
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
