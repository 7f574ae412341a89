"""Run the reliability suite and print the measured figures as a Markdown table.

    python tests/reliability/report.py            # runs pytest tests/reliability
    python tests/reliability/report.py FILE       # formats figures already in FILE

Each test records its figures through `_harness.record_figure`; this script collects
them (via OBSKIT_RELIABILITY_FIGURES) for docs/reliability.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    if len(sys.argv) > 1:
        figures = Path(sys.argv[1])
        code = 0
    else:
        figures = Path(tempfile.mkstemp(suffix=".tsv")[1])
        env = {**os.environ, "OBSKIT_RELIABILITY_FIGURES": str(figures)}
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "pytest",
                str(Path(__file__).parent),
                "-q",
                "-p",
                "no:cacheprovider",
            ],
            env=env,
        )
    print("| promise | obskit, measured |")
    print("|---|---|")
    for line in figures.read_text().splitlines():
        promise, _, figure = line.partition("\t")
        print(f"| {promise} | {figure.replace('|', '/')} |")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
