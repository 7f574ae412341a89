"""Everything obskit.pipeline emits is declared in its catalogue; panels use declared metrics."""

from __future__ import annotations

import queue
import re

import pytest

from obskit import pipeline
from obskit._tools import catalogue as _catalogue


def _workload() -> queue.Queue[int]:
    demo = pipeline.Pipeline("catalogue-demo", sample_ratio=1.0, on_error="skip")

    @demo.processor("split", fan_out=True)
    def split(line):
        return line.split()

    @demo.processor("check")
    def check(word):
        if word == "bad":
            raise ValueError(word)
        return word if word != "drop" else None

    @demo.processor("write", batch=True, sink=True)
    def write(words):
        return None

    words = [w for r in demo.records(["ok bad drop fine"]) for w in split(r)]
    write([r for r in (check(w) for w in words) if r is not None])
    q: queue.Queue[int] = queue.Queue(maxsize=4)
    q.put(1)
    demo.watch_queue(q, processor="check")
    return q


def test_every_emitted_name_is_declared(obskit_capture) -> None:
    q = _workload()
    cat = pipeline.CATALOGUE
    spec = cat.spans[0]
    assert obskit_capture.spans
    for span in obskit_capture.spans:
        assert span.name == spec.name
        assert set(span.attributes) <= set(spec.attributes), span.attributes
    points = [p for p in obskit_capture.metrics() if p.scope == cat.scope]
    assert {p.name for p in points} == set(cat.instruments_by_name)
    for point in points:
        instrument = cat.instruments_by_name[point.name]
        assert set(point.attributes) <= set(instrument.attributes), point
        assert point.unit == instrument.unit
    assert q.qsize() == 1


def test_panels_and_alerts_use_declared_prometheus_names() -> None:
    names = {i.prometheus_name for i in pipeline.CATALOGUE.instruments}
    names |= {f"{i.prometheus_name}_{s}" for i in pipeline.CATALOGUE.instruments
              if i.kind == "histogram" for s in ("bucket", "sum", "count")}  # fmt: skip
    labels = {k.replace(".", "_") for k in pipeline.CATALOGUE.attributes_by_key}
    for entry in [*pipeline.PANELS, *pipeline.ALERTS]:
        for token in re.findall(r"\bpipeline_[a-z_]+\b", entry["expr"]):
            assert token in names or token in labels, (token, entry["expr"])


@pytest.mark.parametrize("name", ["pipeline.records.in", "pipeline.processing.duration"])
def test_markdown_renders_the_domain(name: str) -> None:
    assert f"`{name}`" in _catalogue.render_markdown([pipeline.CATALOGUE])
