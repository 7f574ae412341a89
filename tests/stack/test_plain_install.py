"""What a plain `pip install obskit` gets: the wheel built from this tree, installed into a
fresh virtual environment with no dev dependencies, runs every public command.

Slow (a wheel build and an install from the package index, about a minute); it is the
proof that the rules and dashboards ship as package data and that no command needs a
development dependency (yaml, matplotlib, the generators' libraries).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _stack import REPO, STACK

pytestmark = pytest.mark.slow


def _run(
    *argv: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv holding only obskit's wheel and its dependencies."""
    root = tmp_path_factory.mktemp("plain")
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist",
                 REPO, timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("obskit-*.whl")
    made = _run(sys.executable, "-m", "venv", root / "venv")
    assert made.returncode == 0, made.stderr
    bin_ = root / "venv" / "bin"
    installed = _run(bin_ / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
                     wheel, timeout=600)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return bin_


def test_no_development_dependency_is_installed(plain: Path):
    for module in ("yaml", "matplotlib", "pytest", "pyperf", "scipy"):
        found = _run(plain / "python", "-c", f"import {module}")
        assert found.returncode == 1, f"{module} is importable: not a plain install"


def test_rules_from_the_installed_package(plain: Path, tmp_path: Path, promtool: str):
    printed = _run(plain / "obskit", "rules")
    assert printed.returncode == 0, printed.stderr
    combined = tmp_path / "obskit-rules.yml"
    combined.write_text(printed.stdout)
    checked = _run(promtool, "check", "rules", combined)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout

    written = _run(plain / "obskit", "rules", "-o", tmp_path / "rules")
    assert written.returncode == 0, written.stderr
    for path in (STACK / "prometheus" / "rules").glob("*.yml"):
        assert (tmp_path / "rules" / path.name).read_text() == path.read_text()


def test_dashboards_from_the_installed_package(plain: Path, tmp_path: Path):
    written = _run(plain / "obskit", "dashboards", "-o", tmp_path)
    assert written.returncode == 0, written.stderr
    shipped = sorted((STACK / "grafana" / "dashboards").glob("obskit-*.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in shipped]
    for path in shipped:
        assert (tmp_path / path.name).read_text() == path.read_text()
    printed = _run(plain / "obskit", "dashboards", "raft")
    assert json.loads(printed.stdout)["uid"] == "obskit-raft"
    printed = _run(plain / "obskit", "dashboards", "collector-tier")
    assert json.loads(printed.stdout)["uid"] == "obskit-collector-tier"


def test_catalogue_from_the_installed_package(plain: Path):
    printed = _run(plain / "obskit", "catalogue")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == (REPO / "docs" / "catalogue.md").read_text()


def test_tail_sampling_from_the_installed_package(plain: Path, tmp_path: Path):
    shipped = (STACK / "collector" / "tail-sampling.yaml").read_text()
    printed = _run(plain / "obskit", "tail-sampling")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == shipped
    written = _run(
        plain / "python", "-m", "obskit._tools.tail_sampling", "-o", tmp_path / "ts.yaml"
    )
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "ts.yaml").read_text() == shipped
    helped = _run(plain / "obskit", "tail-sampling", "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: obskit tail-sampling")
    refused = _run(plain / "obskit", "tail-sampling", "--ratio", "2")
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr


_RECORD = """
import sys
import obskit
from obskit import runtime
obskit.configure(service_name="plain", exporters=["memory"], runtime=True)
with runtime.sample(interval=0.01, path=sys.argv[1]):
    sum(i * i for i in range(200_000))
obskit.shutdown()
"""


def test_report_from_the_installed_package(plain: Path, tmp_path: Path):
    for name in ("a.json", "b.json"):
        recorded = _run(plain / "python", "-c", _RECORD, tmp_path / name)
        assert recorded.returncode == 0, recorded.stderr
    for command in ([plain / "obskit", "report"], [plain / "python", "-m", "obskit.report"]):
        compared = _run(*command, tmp_path / "a.json", tmp_path / "b.json")
        assert compared.returncode == 0, compared.stderr
        assert "cpu_seconds" in compared.stdout
        assert "no significance can be computed" in compared.stderr

    # --plot without the plot extra: one line naming it, exit 2.
    plotted = _run(plain / "obskit", "report", tmp_path / "a.json", tmp_path / "b.json",
                   "--plot", tmp_path / "c.png")  # fmt: skip
    assert plotted.returncode == 2
    assert plotted.stderr == ("obskit report: --plot needs matplotlib, which is not installed: "
                              "pip install 'obskit[plot]'\n")  # fmt: skip

    # A bad file: one line naming it, exit 2, no traceback.
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "obskit.run/1", "histograms": {"h": {"count": 1e999}}}')
    refused = _run(plain / "obskit", "report", tmp_path / "a.json", bad)
    assert refused.returncode == 2
    assert refused.stderr == f"obskit report: {bad}: the number 1e999 is out of range\n"


def test_the_maintainers_generator_names_the_extra_it_needs(plain: Path):
    result = _run(plain / "python", "-m", "obskit._tools.dashboards", "--check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pip install 'obskit[tools]'" in result.stderr
