"""Query helpers shared by `Capture` (in process) and `Collector` (over OTLP).

A subclass supplies the finished spans and the metric points; everything else -- finding,
the rendered tree, `assert_tree`, metric lookup and the failure messages -- lives here.
Every failure message shows what *was* emitted, rendered as a tree, because that is what
a reader needs to fix the test or the code.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from obskit._export.span_tree import render_tree
from obskit.testing._metrics import SERVICE_NAME, CapturedMetric, describe_points

__all__ = ["SpanQueries", "matches", "service_of"]


def service_of(span: ReadableSpan) -> str | None:
    """The `service.name` of the process that emitted `span`.

    Examples:
        >>> from opentelemetry.sdk.resources import Resource
        >>> service_of(ReadableSpan("x", resource=Resource({"service.name": "node-1"})))
        'node-1'
    """
    value = span.resource.attributes.get(SERVICE_NAME) if span.resource else None
    return None if value is None else str(value)


def _same(expected: object, actual: object) -> bool:
    if callable(expected):
        try:
            return bool(expected(actual))
        except Exception:
            return False
    if isinstance(expected, list):
        expected = tuple(expected)  # the SDK stores sequences as tuples
    return bool(expected == actual)


def matches(
    attributes: Mapping[str, Any] | None, expected: Mapping[str, object], *, missing: bool = False
) -> bool:
    """Whether `attributes` has every expected key with an equal value (or passing predicate).

    Examples:
        >>> matches({"a": 1, "b": (1, 2)}, {"b": [1, 2]})
        True
        >>> matches({"a": 1}, {"a": lambda v: v > 5})
        False
    """
    attributes = attributes or {}
    return all(
        key in attributes and _same(value, attributes[key]) for key, value in expected.items()
    )


def _normalize_tree(text: str) -> list[str]:
    lines = [line.rstrip() for line in textwrap.dedent(text).splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _describe(name: str | None, attributes: Mapping[str, object]) -> str:
    what = "any name" if name is None else repr(name)
    return what if not attributes else f"{what} with {dict(attributes)!r}"


class SpanQueries:
    """Find spans and metric points, render the span tree, and assert on it.

    The shared base of `Capture` and `Collector`; subclasses implement
    `_finished_spans()` and `_metric_points()`.

    Example::

        def check_shape(spans: SpanQueries) -> None:  # works on either fixture
            spans.assert_tree("raft.propose\n  raft.append_entries\n")
    """

    #: Show each span's service.name in trees and messages (spans from many processes).
    _show_services = False

    def _finished_spans(self) -> list[ReadableSpan]:
        raise NotImplementedError

    def _metric_points(self) -> list[CapturedMetric]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self._finished_spans())} finished span(s)>"

    # -- spans -----------------------------------------------------------------------

    @property
    def spans(self) -> list[ReadableSpan]:
        """Every finished span, in the order they ended.

        Example::

            assert [s.name for s in obskit_capture.spans] == ["query.parse", "SELECT t"]
        """
        return self._finished_spans()

    def find(
        self,
        name: str | None = None,
        where: Mapping[str, object] | None = None,
        **attributes: object,
    ) -> list[ReadableSpan]:
        """Finished spans named `name` (any, if None) having the given attribute values.

        Attribute keys with dots go in `where` (or `**{"db.name": ...}`); a value may be a
        predicate, called with the span's value.

        Example::

            obskit_capture.find("btree.get", {"btree.index": "users_pk"})
            obskit_capture.find(rows=lambda n: n > 100)
        """
        expected = {**(where or {}), **attributes}
        return [
            span
            for span in self._finished_spans()
            if (name is None or span.name == name) and matches(span.attributes, expected)
        ]

    def one(
        self,
        name: str | None = None,
        where: Mapping[str, object] | None = None,
        **attributes: object,
    ) -> ReadableSpan:
        """The single finished span matching (see `find`); AssertionError showing the tree otherwise.

        Example::

            span = obskit_capture.one("btree.get")
            assert span.attributes["btree.index"] == "users_pk"
        """
        __tracebackhide__ = True  # pytest shows the caller's line, not ours
        expected = {**(where or {}), **attributes}
        found = self.find(name, expected)
        if len(found) == 1:
            return found[0]
        raise AssertionError(
            f"expected exactly one span {_describe(name, expected)}, found {len(found)}.\n"
            + self._emitted(attributes=True)
        )

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        """The finished direct children of `span`, in start order.

        Example::

            root = obskit_capture.one("SELECT t")
            assert [c.name for c in obskit_capture.children(root)] == ["query.parse", "query.plan"]
        """
        span_id = span.context.span_id if span.context else None
        kids = [s for s in self._finished_spans() if s.parent and s.parent.span_id == span_id]
        return sorted(kids, key=lambda s: (s.start_time or 0, s.end_time or 0))

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        """The finished parent of `span`, or None (a root, or a parent not captured).

        Example::

            assert obskit_capture.parent(obskit_capture.one("query.parse")).name == "SELECT t"
        """
        if span.parent is None:
            return None
        for candidate in self._finished_spans():
            if candidate.context and candidate.context.span_id == span.parent.span_id:
                return candidate
        return None

    def trace_ids(self) -> set[int]:
        """The distinct trace ids among the finished spans.

        Example::

            assert len(obskit_collector.trace_ids()) == 1  # one trace across all processes
        """
        return {span.context.trace_id for span in self._finished_spans() if span.context}

    # -- the tree --------------------------------------------------------------------

    def tree(
        self, attributes: bool | Iterable[str] = False, *, services: bool | None = None
    ) -> str:
        """The finished spans as indented text: 2 spaces per level, siblings in start order.

        Args:
            attributes: False for names only, True for all attributes, or the keys to show.
            services: suffix each name with `[service.name]` (default: on for a collector).

        Example::

            assert obskit_capture.tree() == "SELECT t\\n  query.parse\\n"
            print(obskit_capture.tree(attributes=["db.rows"]))
        """
        spans = self._finished_spans()
        if self._show_services if services is None else services:
            spans = [_with_service(span) for span in spans]
        return render_tree(spans, attributes=attributes)

    def assert_tree(
        self,
        expected: str,
        attributes: bool | Iterable[str] = False,
        *,
        services: bool | None = None,
    ) -> None:
        """Assert the tree equals `expected`, ignoring common indentation and edge blank lines.

        On a mismatch the AssertionError carries a unified diff and the whole actual tree.

        Example::

            obskit_capture.assert_tree('''
                SELECT t
                  query.parse
                  query.execute
            ''')
        """
        __tracebackhide__ = True
        keys = list(attributes) if not isinstance(attributes, bool) else attributes
        actual_text = self.tree(keys, services=services)
        actual = _normalize_tree(actual_text)
        wanted = _normalize_tree(expected)
        if actual == wanted:
            return
        diff = "\n".join(
            difflib.unified_diff(wanted, actual, "expected", "actual", lineterm="", n=3)
        )
        raise AssertionError(
            "the span tree differs from the expected one (- expected, + actual):\n"
            f"{diff}\n\nactual tree:\n{_indent(actual_text)}"
        )

    def _emitted(self, *, attributes: bool = False) -> str:
        text = self.tree(attributes=attributes)
        return "spans emitted:\n" + (
            _indent(text).rstrip("\n") if text else "  (no spans were finished)"
        )

    # -- metrics ---------------------------------------------------------------------

    def metrics(self, name: str | None = None) -> list[CapturedMetric]:
        """Every current metric point (all metrics, or those of metric `name`).

        Example::

            totals = {p.attributes["op"]: p.value for p in obskit_capture.metrics("ops")}
        """
        return [p for p in self._metric_points() if name is None or p.name == name]

    def metric(
        self, name: str, where: Mapping[str, object] | None = None, **attributes: object
    ) -> CapturedMetric:
        """The one point of metric `name` whose attributes include the given ones.

        Raises AssertionError listing the metrics and attribute sets that exist when there
        is no such point, or more than one (then pass more attributes).

        Example::

            assert obskit_capture.metric("query.duration").count == 1
            assert obskit_capture.metric("btree.splits", {"btree.index": "pk"}).value == 2
        """
        __tracebackhide__ = True
        expected = {**(where or {}), **attributes}
        points = self._metric_points()
        found = [p for p in points if p.name == name and matches(p.attributes, expected)]
        if len(found) == 1:
            return found[0]
        what = repr(name) if not expected else f"{name!r} with attributes {expected!r}"
        problem = "no point matches" if not found else f"{len(found)} points match"
        hint = "" if not found else " (pass more attributes to pick one)"
        raise AssertionError(
            f"metric {what}: {problem}{hint}. Metric points recorded:\n"
            + describe_points(found or points, services=self._show_services)
        )


def _indent(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


def _with_service(span: ReadableSpan) -> ReadableSpan:
    service = service_of(span)
    if service is None:
        return span
    return ReadableSpan(
        name=f"{span.name} [{service}]",
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
