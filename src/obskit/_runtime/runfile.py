"""Run files: a `sample()` block's snapshots and obskit's histograms as one JSON document.

`python -m obskit.report A B` reads two of them and compares the runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from obskit._base.log import log_once

__all__ = ["FORMAT", "histograms", "run_document", "write"]

#: The `format` field of a run file; `obskit.report` refuses other formats.
FORMAT = "obskit.run/1"


def _series_key(name: str, attributes: Any) -> str:
    if not attributes:
        return name
    labels = ",".join(f"{key}={value}" for key, value in sorted(attributes.items()))
    return f"{name}{{{labels}}}"


def _no_reader() -> Any:
    return None


#: The configured `memory` exporter's metric reader, or None. obskit._setup (above this
#: module) installs the real lookup when it is imported: run files read what `configure()`
#: built without this layer importing setup.
memory_metrics: Callable[[], Any] = _no_reader


def histograms() -> dict[str, dict[str, Any]]:
    """Every histogram series the configured `memory` exporter holds, cumulative.

    Keys are `name{attr=value,...}`; values hold count, sum, bucket bounds and counts.
    Empty when obskit is not configured with the memory exporter.
    """
    reader = memory_metrics()
    if reader is None:
        return {}
    found: dict[str, dict[str, Any]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in getattr(data, "resource_metrics", None) or ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = getattr(metric.data, "data_points", ())
                for point in points:
                    bounds = getattr(point, "explicit_bounds", None)
                    if bounds is None:
                        continue  # not a histogram
                    found[_series_key(metric.name, point.attributes)] = {
                        "count": int(point.count),
                        "sum": float(point.sum),
                        "bounds": [float(bound) for bound in bounds],
                        "counts": [int(count) for count in point.bucket_counts],
                    }
    return found


def run_document(series: Any) -> dict[str, Any]:
    """The JSON-ready run file content of a finished `sample()` block (a `Series`; typed
    loosely because `_sample` imports this module)."""
    return {
        "format": FORMAT,
        "summary": series.summary(),
        "baseline": series.baseline,
        "final": series.final,
        "snapshots": series.snapshots,
        "histograms": histograms(),
    }


def write(series: Any, path: str | os.PathLike[str]) -> bool:
    """Write the run file atomically (a temporary file renamed over `path`).

    Returns whether it was written; a failure is logged, never raised, because it
    happens while leaving the user's block.
    """
    target = os.fspath(path)
    temporary: str | None = None
    try:
        document = run_document(series)
        # A temporary name of its own: two processes writing the same path never share it.
        descriptor, temporary = tempfile.mkstemp(
            prefix=os.path.basename(target) + ".", suffix=".tmp",
            dir=os.path.dirname(target) or ".",
        )  # fmt: skip
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        os.replace(temporary, target)
    except Exception as exc:  # report, never break the host's block
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)  # no half-written file left behind
        log_once(f"runtime-run-file:{target}", "could not write the run file %s: %r", path, exc)
        return False
    return True
