"""The query worker health recording rules, evaluated by Prometheus' own rule engine.

`promtool test rules` runs the shipped rule file over synthetic per-worker series: one
worker per case (healthy, degraded or critical by error ratio, by latency, or both).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from obskit._tools import recording as _recording
from obskit.query import _names as names

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / _recording.RECORDING_FILE
METRIC = "query_worker_fragment_duration_seconds"
BOUNDS = (0.5, 1.0, 5.0, 10.0)

#: worker -> (fragments per minute that succeed, that fail, seconds each takes), state.
CASES = {
    "healthy": ((100, 0, 0.1), 0),
    "few_errors": ((995, 5, 0.1), 0),  # 0.5%: under the degraded ratio
    "erroring": ((98, 2, 0.1), 1),  # 2%
    "failing": ((90, 10, 0.1), 2),  # 10%
    "slow": ((100, 0, 3.0), 1),  # p99 between 1 s and 5 s
    "stalled": ((100, 0, 8.0), 2),  # p99 over 5 s
    "slow_and_failing": ((90, 10, 3.0), 2),  # the worse level wins
}


def _series(
    worker: str, per_minute: int, seconds: float, error: str | None
) -> list[dict[str, str]]:
    labels = f'query_worker_id="{worker}"' + (f',error_type="{error}"' if error else "")
    rate = f"0+{per_minute}x15"
    found = [{"series": f"{METRIC}_count{{{labels}}}", "values": rate}]
    for bound in (*BOUNDS, "+Inf"):
        inside = bound == "+Inf" or seconds <= float(bound)
        found.append({"series": f'{METRIC}_bucket{{{labels},le="{bound}"}}',
                      "values": rate if inside else "0x15"})  # fmt: skip
    return found


def test_worker_health_states(promtool: str, tmp_path: Path) -> None:
    inputs = []
    for worker, ((ok, failed, seconds), _) in CASES.items():
        inputs += _series(worker, ok, seconds, None)
        if failed:
            inputs += _series(worker, failed, seconds, "TimeoutError")
    expected = [{"labels": f'{names.WORKER_HEALTH}{{query_worker_id="{worker}"}}', "value": state}
                for worker, (_, state) in CASES.items()]  # fmt: skip
    spec = {
        "rule_files": [str(RECORDING)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": inputs,
            "promql_expr_test": [
                {"expr": names.WORKER_HEALTH, "eval_time": "10m", "exp_samples": expected},
            ],
        }],
    }  # fmt: skip
    test_file = tmp_path / "health-test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
