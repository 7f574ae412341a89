"""Tree-shape gauges held weakly, bad input, and the catalogue matching what is emitted."""

from __future__ import annotations

import gc
import re

import pytest

from obskit import btree
from obskit._tools.promql import as_promql, metric_names


class Shape:
    def __init__(self) -> None:
        self.depth, self.nodes, self.keys = 3, 40, 100


def test_gauges_report_registered_trees(obskit_capture) -> None:
    tree = Shape()
    registration = btree.register_index(
        tree, name="gauge_pk", depth=lambda t: t.depth, nodes=lambda t: t.nodes,
        keys=lambda t: t.keys,
    )  # fmt: skip
    tree.keys = 101
    index = {btree.INDEX: "gauge_pk"}
    assert obskit_capture.metric(btree.DEPTH, index).value == 3
    assert obskit_capture.metric(btree.NODE_COUNT, index).value == 40
    assert obskit_capture.metric(btree.KEY_COUNT, index).value == 101
    registration.unregister()
    assert not registration.alive


def test_a_collected_tree_stops_reporting(obskit_capture) -> None:
    tree = Shape()
    registration = btree.register_index(tree, name="weak_pk", depth=lambda t: t.depth)
    assert obskit_capture.metric(btree.DEPTH, {btree.INDEX: "weak_pk"}).value == 3
    del tree
    gc.collect()
    assert not registration.alive
    assert [
        p for p in obskit_capture.metrics(btree.DEPTH) if p.attributes[btree.INDEX] == "weak_pk"
    ] == []


def test_a_failing_reader_skips_only_its_series(obskit_capture, caplog) -> None:
    good, bad = Shape(), Shape()
    btree.register_index(good, name="good_pk", depth=lambda t: t.depth)
    btree.register_index(bad, name="bad_pk", depth=lambda t: 1 / 0, keys=lambda t: "many")
    assert obskit_capture.metric(btree.DEPTH, {btree.INDEX: "good_pk"}).value == 3
    names = {p.attributes[btree.INDEX] for p in obskit_capture.metrics(btree.DEPTH)}
    assert "bad_pk" not in names
    assert not any(
        p.attributes.get(btree.INDEX) == "bad_pk" for p in obskit_capture.metrics(btree.KEY_COUNT)
    )


def test_register_index_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="owner= must support weak references"):
        btree.register_index(Shape(), name="s_pk", depth=lambda t: 1, owner=[])
    with pytest.raises(TypeError, match="name"):
        btree.register_index(Shape(), name=3, depth=lambda t: 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        btree.register_index(Shape(), name="x", depth=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        btree.register_index(Shape(), name="x")


def test_decorating_a_non_callable_fails_at_decoration_time() -> None:
    with pytest.raises(TypeError, match=r"btree\.get decorates a function"):
        btree.get(index="x")(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"btree\.put decorates"):
        btree.put("users_pk")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="lower-case identifier"):
        btree.operation("Get Things")
    with pytest.raises(TypeError, match="not both"):
        btree.get(index="a", index_attr="name")
    with pytest.raises(TypeError, match="miss_on"):
        btree.get(miss_on=KeyError)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_ratio"):
        btree.get(sample_ratio=2.0)


def test_telemetry_problems_never_reach_the_operation(obskit_capture) -> None:
    class NoName:
        @btree.get(index_attr="name", outcome=lambda r: 1 / 0)
        def get(self, key: object) -> str:
            btree.current_op().visit("three")  # type: ignore[arg-type]
            btree.record_split(level="top", node_type=7)  # type: ignore[arg-type]
            btree.record_page_read(object(), source=None)  # type: ignore[arg-type]
            return "value"

    assert NoName().get({"unhashable": ["key"]}) == "value"
    span = obskit_capture.one("btree.get")
    assert span.attributes[btree.INDEX] == "_OTHER"  # the attribute was missing
    assert span.attributes[btree.OUTCOME] == "ok"  # the classifier raised
    assert btree.PAGES_VISITED not in span.attributes
    assert span.events[0].attributes[btree.NODE_TYPE] == "_OTHER"


def _declared(name: str, patterns: list[str]) -> bool:
    return any(re.fullmatch(re.sub(r"\\\{[^}]*\\\}", "[a-z0-9_]+", re.escape(p)), name)
               for p in patterns)  # fmt: skip


def test_everything_emitted_is_in_the_catalogue(obskit_capture) -> None:
    cat = btree.CATALOGUE

    class Full:
        name = "cat_pk"

        @btree.put(index_attr="name", record_key=True)
        def put(self, key: str) -> None:
            btree.current_op().visit(2)
            btree.record_split(level=0)
            btree.record_merge(level=1)
            btree.record_page_read(1, source="disk")
            btree.record_page_write(2)

        @btree.scan(index_attr="name")
        def scan(self, key: str):  # type: ignore[no-untyped-def]
            yield key

        @btree.get(index_attr="name")
        def get(self, key: str) -> None:
            raise KeyError(key)

        @btree.operation("compact", index_attr="name")
        def compact(self) -> None:
            pass

    full = Full()
    full.put("k")
    list(full.scan("k"))
    full.compact()
    with pytest.raises(KeyError):
        full.get("k")
    btree.register_index(
        full, name="cat_pk", depth=lambda t: 1, nodes=lambda t: 1, keys=lambda t: 1
    )
    spans = [s for s in obskit_capture.spans if s.instrumentation_scope.name == btree.SCOPE]
    assert len(spans) == 4
    events = {e.name: e for e in cat.events}
    for span in spans:
        assert _declared(span.name, [s.name for s in cat.spans]), span.name
        assert set(span.attributes) <= set(cat.attributes_by_key), span.name
        for event in span.events:
            if event.name == "exception":
                continue
            assert set(event.attributes) <= set(events[event.name].attributes), event.name
    points = [p for p in obskit_capture.metrics() if p.scope == btree.SCOPE]
    assert {p.name for p in points} == set(cat.instruments_by_name)
    for point in points:
        spec = cat.instruments_by_name[point.name]
        assert set(point.attributes) <= set(spec.attributes), point.name
        assert point.unit == spec.unit


def test_panels_use_declared_prometheus_names() -> None:
    known = {i.prometheus_name for i in btree.CATALOGUE.instruments}
    known |= {
        f"{i.prometheus_name}_{suffix}"
        for i in btree.CATALOGUE.instruments
        if i.kind == "histogram"
        for suffix in ("bucket", "count", "sum")
    }
    for panel in btree.PANELS:
        used = metric_names(as_promql(panel["expr"]))
        assert used, panel
        assert used <= known, (panel["title"], used - known)
