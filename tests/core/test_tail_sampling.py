"""`obskit tail-sampling`: the gateways' policy, generated from the catalogues and THRESHOLDS.

What the collector does with the policy is checked against a real collector tier in
tests/integration/test_fleet.py; here, the policy's content and the spans it relies on.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import obskit
from obskit import query, raft
from obskit._tools import tail_sampling as _tail_sampling
from obskit._tools.alerts import THRESHOLDS
from obskit._tools.catalogue import all_catalogues
from obskit.query import _names as query_names
from obskit.raft import _names as raft_names
from obskit.testing import Capture


def _policies(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {policy["name"]: policy for policy in config["policies"]}


def test_the_yaml_it_writes_is_the_config_it_builds() -> None:
    config = _tail_sampling.tail_sampling_config(0.3, thresholds={"query_p99_seconds": 0.25})
    parsed = yaml.safe_load(_tail_sampling.render(config))
    assert parsed == {"processors": {"tail_sampling": config}}


def test_policies_keep_errors_elections_slow_operations_and_a_ratio() -> None:
    policies = _policies(_tail_sampling.tail_sampling_config(0.2))
    assert list(policies) == [
        "errors", "raft-elections-and-failover",
        "slow-raft", "slow-query", "slow-btree", "slow-pipeline", "healthy-ratio",
    ]  # fmt: skip
    assert policies["errors"]["status_code"] == {"status_codes": ["ERROR"]}
    assert policies["raft-elections-and-failover"]["ottl_condition"]["span"] == [
        'name == "raft.election"', 'name == "raft.state.change"',
    ]  # fmt: skip
    ratio = policies["healthy-ratio"]["probabilistic"]
    assert ratio == {"hash_salt": "obskit", "sampling_percentage": 20.0}


@pytest.mark.parametrize("domain", list(_tail_sampling.SLOW_OPERATIONS))
def test_each_slow_policy_uses_its_alert_threshold(domain: str) -> None:
    key = _tail_sampling.SLOW_OPERATIONS[domain].threshold
    default = _tail_sampling.slow_condition(domain)
    assert default.endswith(f"> {round(THRESHOLDS[key] * 1e9)}")
    changed = _tail_sampling.slow_condition(domain, {**THRESHOLDS, key: 0.123})
    assert changed.endswith("> 123000000")


def test_slow_operations_and_membership_spans_come_from_the_catalogues() -> None:
    spans = {spec.name for catalogue in all_catalogues() for spec in catalogue.spans}
    for operation in _tail_sampling.SLOW_OPERATIONS.values():
        assert set(operation.spans) <= {spec.name for spec in operation.catalogue.spans}
    assert set(_tail_sampling.MEMBERSHIP_SPANS) <= spans


def test_btree_condition_matches_every_btree_span_name_and_nothing_else() -> None:
    condition = _tail_sampling.slow_condition("btree")
    (pattern,) = re.findall(r'IsMatch\(name, "(.*?)"\)', condition)
    regex = re.compile(pattern.replace("\\\\", "\\"))
    for name in ("btree.get", "btree.put", "btree.delete", "btree.scan", "btree.bulk_load"):
        assert regex.fullmatch(name), name
    assert not regex.fullmatch("raft.propose")
    assert 'instrumentation_scope.name == "obskit.btree"' in condition


def test_the_spans_the_policies_read_carry_what_they_need(obskit_capture: Capture) -> None:
    """Status and duration are intrinsic; the query root carries its summary and scope
    from its start, and the Raft spans are named by the catalogue."""
    with (
        query.lifecycle("SELECT name FROM users WHERE id = 1", system="minidb") as q,
        q.phase("parse"),
    ):
        pass
    with raft.propose("1", term=2):
        pass
    with raft.election("1", 3, votes_needed=2):
        pass
    obskit.flush(timeout=2)
    by_name = {span.name: span for span in obskit_capture.spans}
    root = by_name["SELECT users"]
    assert root.parent is None
    assert root.attributes[query_names.DB_QUERY_SUMMARY] == "SELECT users"
    assert root.instrumentation_scope.name == query_names.SCOPE
    assert {raft_names.SPAN_PROPOSE, raft_names.SPAN_ELECTION} <= set(by_name)


def test_bad_values_are_refused_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"0\.0 to 1\.0"):
        _tail_sampling.tail_sampling_config(1.5)
    with pytest.raises(ValueError, match="raft_commit_p99_seconds"):
        _tail_sampling.tail_sampling_config(thresholds={"raft_p99": 1.0})


def test_main_writes_the_file_and_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tail-sampling.yaml"
    argv = ["--ratio", "0.05", "--threshold", "raft_commit_p99_seconds=0.2",
            "--decision-wait", "30s", "--num-traces", "1000", "--output", str(out)]  # fmt: skip
    assert _tail_sampling.main(argv) == 0
    written = yaml.safe_load(out.read_text())["processors"]["tail_sampling"]
    assert (written["decision_wait"], written["num_traces"]) == ("30s", 1000)
    assert written["decision_cache"]["sampled_cache_size"] == 10_000
    policies = _policies(written)
    assert policies["slow-raft"]["ottl_condition"]["span"][0].endswith("> 200000000")
    assert policies["healthy-ratio"]["probabilistic"]["sampling_percentage"] == 5.0
    assert _tail_sampling.main(["--threshold", "nope"]) == 2
    assert "KEY=SECONDS" in capsys.readouterr().err
    assert _tail_sampling.main(["--help"]) == 0
    assert "obskit tail-sampling" in capsys.readouterr().out


def test_import_obskit_does_not_load_the_generator() -> None:
    code = "import sys, obskit; print('obskit._tools.tail_sampling' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
