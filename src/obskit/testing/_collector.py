"""`Collector`: an OTLP receiver plus the query helpers, for tests with child processes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from opentelemetry.sdk.trace import ReadableSpan

from obskit.testing._metrics import CapturedMetric, describe_points, points_from_received
from obskit.testing._query import SpanQueries, matches

if TYPE_CHECKING:
    from obskit.testing._receiver import OTLPReceiver

__all__ = ["CHILD_SETTINGS", "Collector"]

#: Settings added to the receiver's OTEL_EXPORTER_OTLP_* variables so that a child
#: process running `obskit.configure()` exports everything, quickly, to the collector,
#: whatever obskit variables it inherited.
CHILD_SETTINGS: Mapping[str, str] = {
    "OBSKIT_EXPORTERS": "otlp",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OBSKIT_ENABLED": "true",
    "OBSKIT_SAMPLE_RATIO": "1",
    "OTEL_BSP_SCHEDULE_DELAY": "50",  # milliseconds between span batches
    "OBSKIT_METRICS_INTERVAL": "0.2",  # seconds between metric exports
}
_POLL = 0.02  # seconds between looks at the received metrics while waiting


class Collector(SpanQueries):
    """Spans and metrics that child processes sent over OTLP (what `obskit_collector` yields).

    `env` holds the variables a child needs; the query helpers (`find`, `one`, `tree`,
    `assert_tree`, `metric`, ...) read everything received so far. Trees show each span's
    `service.name`, so spans from different processes can be told apart.

    Example::

        def test_one_trace(obskit_collector):
            subprocess.run([sys.executable, "node.py"],
                           env={**os.environ, **obskit_collector.env}, timeout=60, check=True)
            obskit_collector.wait_for("raft.append_entries", count=2)
            assert len(obskit_collector.trace_ids()) == 1
    """

    _show_services = True

    def __init__(self, receiver: OTLPReceiver) -> None:
        #: The underlying `OTLPReceiver` (raw requests, request counts, ports).
        self.receiver = receiver

    @classmethod
    def start(cls, protocol: Literal["grpc", "http/protobuf"] = "http/protobuf") -> Collector:
        """Start a receiver on free 127.0.0.1 ports and wrap it.

        Example::

            with Collector.start() as collector:
                ...
        """
        from obskit.testing._receiver import OTLPReceiver

        receiver = OTLPReceiver(protocol=protocol)
        receiver.start()
        return cls(receiver)

    def stop(self) -> None:
        """Stop the receiver; what was received stays queryable."""
        self.receiver.stop()

    def __enter__(self) -> Collector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """Environment variables for a child process: `{**os.environ, **collector.env}`.

        Example::

            subprocess.run(cmd, env={**os.environ, **obskit_collector.env}, timeout=60)
        """
        env = dict(self.receiver.env)
        env.update(CHILD_SETTINGS)
        # OBSKIT_* beat OTEL_* in obskit's settings: an inherited value must not win.
        env["OBSKIT_OTLP_ENDPOINT"] = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        env["OBSKIT_OTLP_PROTOCOL"] = env["OTEL_EXPORTER_OTLP_PROTOCOL"]
        return env

    def _finished_spans(self) -> list[ReadableSpan]:
        # Arrival order depends on each process's batching; end order is comparable.
        return sorted(self.receiver.spans, key=lambda span: span.end_time or 0)

    def _metric_points(self) -> list[CapturedMetric]:
        return points_from_received(self.receiver.metric_points())

    def clear(self) -> None:
        """Forget everything received so far.

        Example::

            obskit_collector.clear()
        """
        self.receiver.clear()

    def wait_for(
        self,
        name: str | None = None,
        where: Mapping[str, object] | None = None,
        *,
        count: int = 1,
        timeout: float = 10.0,
        **attributes: object,
    ) -> list[ReadableSpan]:
        """Wait until `count` spans matching (as `find`) arrived; return the matching ones.

        Raises AssertionError showing the tree of what did arrive after `timeout` seconds.

        Example::

            (commit,) = obskit_collector.wait_for("raft.commit", count=1, timeout=30)
        """
        __tracebackhide__ = True
        expected = {**(where or {}), **attributes}

        def matching(spans: list[ReadableSpan]) -> list[ReadableSpan]:
            return [
                span
                for span in spans
                if (name is None or span.name == name) and matches(span.attributes, expected)
            ]

        try:
            self.receiver.wait_for_spans(lambda spans: len(matching(spans)) >= count, timeout)
        except TimeoutError:
            what = "spans" if name is None else f"spans named {name!r}"
            condition = f" with {expected!r}" if expected else ""
            raise AssertionError(
                f"waited {timeout} s for {count} {what}{condition}; "
                f"{len(matching(self.receiver.spans))} arrived.\n" + self._emitted(attributes=True)
            ) from None
        return matching(self._finished_spans())

    def wait_for_metric(
        self,
        name: str,
        where: Mapping[str, object] | None = None,
        *,
        timeout: float = 10.0,
        until: object = None,
        **attributes: object,
    ) -> CapturedMetric:
        """Wait for a point of metric `name` with these attributes; return the newest one.

        `until` optionally is a predicate on the point (e.g. `lambda p: p.value >= 3`),
        since cumulative metrics keep arriving as the child process records more.

        Example::

            point = obskit_collector.wait_for_metric("raft.proposals", until=lambda p: p.value >= 3)
        """
        __tracebackhide__ = True
        expected = {**(where or {}), **attributes}
        deadline = time.monotonic() + timeout
        while True:
            found = [p for p in self.metrics(name) if matches(p.attributes, expected)]
            if len(found) == 1 and (until is None or (callable(until) and until(found[0]))):
                return found[0]
            if time.monotonic() >= deadline:
                problem = "no point matches" if not found else f"{len(found)} points match"
                if len(found) == 1:
                    problem = "the point never satisfied `until`"
                raise AssertionError(
                    f"waited {timeout} s for metric {name!r} with {expected!r}: {problem}. "
                    "Metric points received:\n"
                    + describe_points(found or self._metric_points(), services=True)
                )
            time.sleep(_POLL)  # polling with a deadline: metrics arrive on the child's schedule
