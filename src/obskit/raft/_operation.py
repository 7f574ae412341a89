"""What every Raft operation shares: its instruments, span recipes and the `_Operation` base.

An operation is usable as `with`, `async with`, or started and ended by hand; the concrete
operations (elections, RPCs, proposals, apply, snapshots) are in obskit.raft._ops and obskit.raft._apply.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import propagation
from obskit._base.log import log_once
from obskit._base.names import ERROR_TYPE
from obskit._domain.operation import Outcomes, hot
from obskit._safety.clean import clean_value
from obskit._trace.handle import (
    NOOP_HANDLE,
    SpanHandle,
    SpanRecipe,
    attach_span,
    detach_span,
    error_type,
    is_cancelled,
)
from obskit._trace.recipe import Attributes
from obskit.raft import _names as n
from obskit.raft import _registry as st

_SCOPE = n.CATALOGUE.scope
_MAX_LINKS = n.MAX_LINKS
_perf = time.perf_counter

# Bound hot instruments (obskit._domain.operation): a record is ~0.2 us, an SDK one 5-10 us.
_ELECTIONS = hot(n.CATALOGUE, n.M_ELECTIONS)
_ELECTION_DURATION = hot(n.CATALOGUE, n.M_ELECTION_DURATION)
_COMMITTED = hot(n.CATALOGUE, n.M_COMMITTED)
_FAILED = hot(n.CATALOGUE, n.M_FAILED)
_APPLIED = hot(n.CATALOGUE, n.M_APPLIED)
_PENDING = hot(n.CATALOGUE, n.M_PENDING)
_COMMIT_DURATION = hot(n.CATALOGUE, n.M_COMMIT_DURATION)
_APPLY_DURATION = hot(n.CATALOGUE, n.M_APPLY_DURATION)
_SNAPSHOT_DURATION = hot(n.CATALOGUE, n.M_SNAPSHOT_DURATION)
_SNAPSHOT_SIZE = hot(n.CATALOGUE, n.M_SNAPSHOT_SIZE)
_LOG_APPEND_DURATION = hot(n.CATALOGUE, n.M_LOG_APPEND_DURATION)
_LOG_SYNC_DURATION = hot(n.CATALOGUE, n.M_LOG_SYNC_DURATION)
_RPC_CLIENT = hot(n.CATALOGUE, n.M_RPC_CLIENT_DURATION)
_RPC_SERVER = hot(n.CATALOGUE, n.M_RPC_SERVER_DURATION)
_MAX_KINDS = 64  # error types / outcomes kept bound per node or per RPC peer and method


class _NodeMetrics:
    """A node's bound handles: resolved once per node, then a record is an add."""

    __slots__ = (
        "applied",
        "apply_duration",
        "commit_duration",
        "committed",
        "election_duration",
        "elections",
        "failed",
        "log_append_duration",
        "log_sync_duration",
        "pending",
        "snapshot_duration",
        "snapshot_size",
    )

    def __init__(self, attrs: Mapping[str, AttributeValue]) -> None:
        self.pending = _PENDING.bind(attrs)
        self.committed = _COMMITTED.bind(attrs)
        self.applied = _APPLIED.bind(attrs)
        # Keyed by error type (None: no error), or by outcome / snapshot operation.
        self.commit_duration = Outcomes(_COMMIT_DURATION, attrs, _MAX_KINDS)
        self.failed = Outcomes(_FAILED, attrs, _MAX_KINDS)
        self.apply_duration = Outcomes(_APPLY_DURATION, attrs, _MAX_KINDS)
        self.elections = Outcomes(_ELECTIONS, attrs, _MAX_KINDS)
        self.election_duration = Outcomes(_ELECTION_DURATION, attrs, _MAX_KINDS)
        self.snapshot_duration = Outcomes(_SNAPSHOT_DURATION, attrs, _MAX_KINDS)
        self.snapshot_size = Outcomes(_SNAPSHOT_SIZE, attrs, _MAX_KINDS)
        self.log_append_duration = Outcomes(_LOG_APPEND_DURATION, attrs, _MAX_KINDS)
        self.log_sync_duration = Outcomes(_LOG_SYNC_DURATION, attrs, _MAX_KINDS)


_node_metrics: dict[str, _NodeMetrics] = {}


def _metrics_of(node: Any) -> _NodeMetrics:
    """The bound handles of a node (an `obskit.raft._registry.NodeState`)."""
    found = _node_metrics.get(node.id)
    if found is None:
        if len(_node_metrics) > 4096:  # node ids come from the caller: stay bounded
            _node_metrics.clear()
        found = _node_metrics[node.id] = _NodeMetrics(node.attrs)
    return found


def _error_key(extra: Mapping[str, object], error: str | None) -> dict[str, object]:
    return dict(extra) if error is None else {**extra, ERROR_TYPE: error}


def _failure_of(exc: BaseException | None, failure: str | None) -> str | None:
    """`error.type` of an ended operation: the exception's, else the label given to `end()`.

    None on success and on an asyncio cancellation, which is its own outcome, not an error.
    """
    if exc is None:
        return failure
    return None if is_cancelled(exc) else error_type(exc)


_recipes: dict[tuple[str, SpanKind], SpanRecipe] = {}
_rpc_recipes: dict[tuple[str, SpanKind], SpanRecipe] = {}
_rpc_attrs: dict[tuple[str, str, str, str], dict[str, AttributeValue]] = {}


def _rpc_recipe(method: str, kind: SpanKind) -> SpanRecipe:
    """The recipe of `raft.Raft/{method}` (cached by method, not by a formatted name)."""
    found = _rpc_recipes.get((method, kind))
    if found is None:
        found = _recipe(f"{n.RPC_SERVICE_NAME}/{method}", kind)
        if len(_rpc_recipes) < 1024:
            _rpc_recipes[(method, kind)] = found
    return found


def _recipe(name: str, kind: SpanKind = SpanKind.INTERNAL) -> SpanRecipe:
    found = _recipes.get((name, kind))
    if found is None:
        found = _recipes[(name, kind)] = SpanRecipe(name, None, kind, scope=_SCOPE)
    return found


def _with(attrs: Mapping[str, AttributeValue], extra: Mapping[str, object]) -> dict[str, Any]:
    """`attrs` plus the non-None, cleaned values of `extra`."""
    merged: dict[str, Any] = dict(attrs)
    for key, value in extra.items():
        if value is not None:
            clean = clean_value(value)
            if clean is not None:
                merged[key] = clean
    return merged


class _Operation:
    """Span bookkeeping shared by every Raft operation."""

    __slots__ = ("_closed", "_ended", "_failure", "_recipe", "_span", "_start", "_token")

    def _begin(
        self,
        recipe: SpanRecipe,
        attributes: Attributes,
        *,
        context: context_api.Context | None = None,
        links: list[Link] | None = None,
        traced: bool = True,
    ) -> None:
        self._recipe = recipe
        self._span: trace_api.Span | None = None
        self._ended: trace_api.Span | None = None  # once ended: its durations' exemplar
        self._token: object = None
        self._closed = False
        self._failure: str | None = None
        self._start = _perf()
        if not traced:
            return
        tracer = recipe.tracer()
        if tracer is None:
            return
        try:
            self._span = recipe.start(tracer, attributes, context, links=links)
        except Exception:
            log_once("raft-span-start", "starting %s failed", recipe.name, exc_info=True)

    @property
    def span(self) -> SpanHandle:
        """A handle on this operation's span (a no-op handle when not traced)."""
        return NOOP_HANDLE if self._span is None else SpanHandle(self._span)

    def _attach(self) -> None:
        if self._span is not None and self._token is None:
            self._token = attach_span(self._span)  # context_api.attach(...), inlined

    def _detach(self) -> None:
        if self._token is not None:
            detach_span(self._token)  # type: ignore[arg-type]
            self._token = None

    def _finish(self, exc: BaseException | None) -> float:
        """End the span (the context stays attached until the block exits); elapsed s."""
        elapsed = _perf() - self._start
        current, self._span = self._span, None
        self._ended = current
        if current is not None:
            try:
                self._recipe.finish(current, exc)
            except Exception:
                log_once("raft-span-end", "ending %s failed", self._recipe.name, exc_info=True)
        return elapsed

    def _set(self, key: str, value: object) -> None:
        span = self._span
        if span is not None and value is not None and span.is_recording():
            SpanHandle(span).set_attribute(key, value)

    def inject(self, carrier: Any = None) -> Any:
        """Write this operation's trace context into `carrier` (a new dict by default).

        A proposal's goes into its log entry (apply and batched RPCs link to it); an
        election's goes where its RequestVote calls can find it (`client_call(parent=...)`).
        """
        if self._span is None:
            return {} if carrier is None else carrier
        return propagation.inject(carrier, context=trace_api.set_span_in_context(self._span))

    def end(self, error: str | BaseException | None = None) -> None:
        """End the operation by hand: what leaving its `with` block does (idempotent).

        For event-loop code, where a reply or the last vote arrives as a later message.
        `error` marks it failed: a short label (`"timeout"`, `"unreachable"`) becomes
        `error.type` on the span and the metrics, an exception is recorded as such.
        """
        if self._closed:
            return
        if error is None or isinstance(error, BaseException):
            self._close(error)
            return
        kind = st.node_key(error)
        self._failure = kind
        if self._span is not None:
            SpanHandle(self._span).set_error(f"{self._recipe.name} failed: {kind}", kind)
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        if not self._closed:
            self._closed = True
            self._end(exc)

    def __enter__(self) -> Any:
        self._attach()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._detach()
        self._close(exc)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._detach()
        self._close(exc)

    def _end(self, exc: BaseException | None) -> None:
        self._finish(exc)
