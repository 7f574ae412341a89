"""The `obskit` command: subcommands, help that reads well, and files from the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from obskit._tools import catalogue as _catalogue
from obskit._tools import cli as _cli
from obskit._tools import collector_tier as _collector_tier
from obskit._tools import shipped as _shipped

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "examples" / "stack"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = _cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_obskit_does_not_import_the_command():
    code = "import sys, obskit, obskit.report; print(sorted(m for m in sys.modules if m in " \
           "('obskit._tools.cli', 'obskit._tools.shipped', 'obskit._tools.plot', 'matplotlib')))"  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"


def test_the_console_script_is_declared():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'obskit = "obskit._tools.cli:main"' in pyproject


def test_top_level_help_lists_every_command_with_examples(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert out.startswith("usage: obskit [-h] [--version] COMMAND ...")
    for name, (summary, _) in _cli.COMMANDS.items():
        assert name in out
        assert summary.split(" ")[0] in out
    assert "examples:" in out
    assert (
        _run(
            capsys,
        )[0]
        == 2
    )  # no command: the help, and a usage error


@pytest.mark.parametrize("name", sorted(_cli.COMMANDS))
def test_each_command_has_a_description_and_examples(name: str, capsys):
    code, out, _ = _run(capsys, name, "--help")
    assert code == 0
    assert out.startswith(f"usage: obskit {name}")
    assert "examples:" in out
    assert f"  obskit {name}" in out  # the examples are written as commands
    assert max(len(line) for line in out.splitlines()) <= 100


def test_a_new_command_is_one_entry(capsys, monkeypatch):
    """The hook another subcommand uses (e.g. `obskit tail-sampling`)."""
    monkeypatch.setitem(_cli.COMMANDS, "hello", ("say hello", "tests.core.test_cli:_hello"))
    code, out, _ = _run(capsys, "hello", "--name", "obskit")
    assert (code, out) == (0, "hello obskit\n")
    assert "say hello" in _run(capsys, "--help")[1]


def _hello(parser):
    parser.add_argument("--name", default="world")
    return lambda arguments: print(f"hello {arguments.name}") or 0


def test_usage_errors_exit_2(capsys):
    assert _run(capsys, "no-such-command")[0] == 2
    assert _run(capsys, "report", "--max-regression", "lots", "a", "b")[0] == 2
    code, _, err = _run(capsys, "report", "only-one.json")
    assert code == 2
    assert "expected BASELINE and CANDIDATE" in err


def test_rules_print_one_valid_rule_file(capsys):
    code, out, _ = _run(capsys, "rules")
    assert code == 0
    groups = yaml.safe_load(out)["groups"]
    shipped = [group for text in _shipped.rule_files().values()
               for group in yaml.safe_load(text)["groups"]]  # fmt: skip
    assert groups == shipped
    assert {"obskit.core", "obskit.query.recording"} <= {group["name"] for group in groups}


def test_rules_and_dashboards_written_to_a_directory_are_the_stack_files(capsys, tmp_path):
    assert _run(capsys, "rules", "-o", str(tmp_path / "rules"))[0] == 0
    for path in (STACK / "prometheus" / "rules").glob("*.yml"):
        assert (tmp_path / "rules" / path.name).read_text() == path.read_text()
    assert _run(capsys, "dashboards", "-o", str(tmp_path / "boards"))[0] == 0
    boards = sorted((STACK / "grafana" / "dashboards").glob("*.json"))
    assert [p.name for p in sorted((tmp_path / "boards").iterdir())] == [p.name for p in boards]
    for path in boards:
        assert (tmp_path / "boards" / path.name).read_text() == path.read_text()


def test_one_dashboard_on_stdout_and_another_datasource(capsys):
    code, out, _ = _run(capsys, "dashboards", "raft", "--datasource", "mine")
    assert code == 0
    board = json.loads(out)
    assert board["uid"] == "obskit-raft"
    uids = {t["datasource"]["uid"] for p in board["panels"] for t in p.get("targets", [])}
    assert uids == {"mine"}
    code, _, err = _run(capsys, "dashboards")
    assert code == 2
    assert "name one dashboard to print (btree, collector-tier, pipeline, query, raft)" in err
    assert _run(capsys, "dashboards", "nope")[0] == 2


def test_the_collector_tier_is_handed_out(capsys):
    """The fleet's collector tier (docs/fleet.md): its dashboard and its alerts."""
    code, out, _ = _run(capsys, "dashboards", "collector-tier")
    assert code == 0
    assert json.loads(out)["title"] == _collector_tier.DASHBOARD_TITLE
    code, out, _ = _run(capsys, "rules")
    alerts = {rule["alert"] for group in yaml.safe_load(out)["groups"] for rule in group["rules"]
              if "alert" in rule}  # fmt: skip
    assert {alert.name for alert in _collector_tier.ALERTS} <= alerts


def test_writing_where_it_cannot_is_one_line(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = _run(capsys, "rules", "-o", str(tmp_path / "file"))
    assert code == 2
    assert err.count("\n") == 1
    assert str(tmp_path / "file") in err


def test_catalogue_is_the_documentation_page(capsys):
    code, out, _ = _run(capsys, "catalogue")
    assert code == 0
    assert out == (REPO / "docs" / "catalogue.md").read_text()
    code, out, _ = _run(capsys, "catalogue", "--format", "json", "raft")
    assert code == 0
    (raft,) = json.loads(out)
    names = {metric["prometheus"] for metric in raft["metrics"]}
    raft_catalogue = next(c for c in _catalogue.all_catalogues() if c.domain == "raft")
    assert names == {i.prometheus_name for i in raft_catalogue.instruments}
    assert _run(capsys, "catalogue", "nope")[0] == 2


def test_python_m_obskit_report_keeps_working(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"format": "obskit.run/1", "summary": {"cpu_seconds": 1.0}}))
    for command in (
        [sys.executable, "-m", "obskit.report"],
        [sys.executable, "-m", "obskit._tools.cli", "report"],
    ):
        result = subprocess.run([*command, str(run), str(run)], capture_output=True, text=True,
                                timeout=60, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "cpu_seconds" in result.stdout


def test_tail_sampling_prints_the_policy_the_stack_ships(capsys, tmp_path):
    code, out, _ = _run(capsys, "tail-sampling")
    assert code == 0
    assert out == (STACK / "collector" / "tail-sampling.yaml").read_text()
    code, _, err = _run(capsys, "tail-sampling", "--ratio", "1.5")
    assert code == 2
    assert err.endswith("obskit tail-sampling: error: argument --ratio: takes a number from "
                        "0.0 to 1.0, got '1.5'\n")  # fmt: skip
    code, _, err = _run(capsys, "tail-sampling", "--threshold", "raft_p99=1")
    assert (code, err.count("\n")) == (2, 1)
    assert "raft_commit_p99_seconds" in err  # the keys it knows
    for command in ([sys.executable, "-m", "obskit._tools.tail_sampling"],
                    [sys.executable, "-m", "obskit._tools.cli", "tail-sampling"]):  # fmt: skip
        output = tmp_path / "policy.yaml"
        result = subprocess.run([*command, "--ratio", "0.5", "-o", str(output)],
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        policy = yaml.safe_load(output.read_text())["processors"]["tail_sampling"]
        assert policy["policies"][-1]["probabilistic"]["sampling_percentage"] == 50.0


def test_plot_draws_png_and_svg(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    runs = []
    for side, scale in (("a", 1.0), ("b", 1.3)):
        for index, noise in enumerate((0.98, 1.0, 1.03)):
            path = tmp_path / f"{side}{index}.json"
            path.write_text(json.dumps({"format": "obskit.run/1", "summary": {
                "cpu_seconds": scale * noise, "wall_seconds": 2 * noise}}))  # fmt: skip
            runs.append(str(path))
    for name in ("c.png", "c.svg"):
        code, _, err = _run(capsys, "report", "--baseline", *runs[:3], "--candidate", *runs[3:],
                            "--max-regression", "10%", "--plot", str(tmp_path / name))  # fmt: skip
        assert code == 1
        assert f"drew {tmp_path / name}" in err
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    svg = (tmp_path / "c.svg").read_text()
    assert "<svg" in svg
    assert "cpu_seconds" in svg
    code, _, err = _run(capsys, "report", runs[0], runs[3], "--plot", str(tmp_path / "c.pdf"))
    assert code == 2
    assert "expected a .png or .svg file name" in err
