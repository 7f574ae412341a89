"""Every Python version obskit claims is tested, and every one tested is claimed.

pyproject's classifiers and `requires-python`, the nox `tests` session, the CI script
that runs the unit suite on the versions besides the main one, and the README must
name the same versions; and the interpreter running this suite must be one of them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = "3.11"  # what ./dev test (and so .ci/run's main step) runs on


def claimed() -> list[str]:
    pyproject = (ROOT / "pyproject.toml").read_text()
    return re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)


def test_classifiers_nox_ci_and_readme_name_the_same_versions() -> None:
    versions = claimed()
    assert versions, "no Python version classifiers"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={versions[0]}"' in pyproject
    nox_line = re.search(r"^SUPPORTED_PYTHONS = \[(.*)\]", (ROOT / "noxfile.py").read_text(), re.M)
    assert nox_line is not None
    assert re.findall(r'"(3\.\d+)"', nox_line.group(1)) == versions
    script = (ROOT / ".ci" / "python-versions.sh").read_text()
    default = re.search(r"VERSIONS=\(([\d. ]+)\)", script)
    assert default is not None
    assert sorted([*default.group(1).split(), MAIN]) == sorted(versions)
    assert "bash .ci/python-versions.sh" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    listed = ", ".join(versions[:-1]) + f" and {versions[-1]}"
    assert f"Needs Python ≥ {versions[0]} (tested on {listed}" in readme


def test_this_interpreter_is_a_claimed_version() -> None:
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in claimed()
