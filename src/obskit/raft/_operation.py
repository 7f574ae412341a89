"""What every Raft operation shares: its instruments, span recipes and the `_Operation` base.

An operation is usable as `with`, `async with`, or started and ended by hand; the concrete
operations (elections, RPCs, proposals, apply, snapshots) are in obskit.raft._ops.
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

from obskit._log import log_once
from obskit._names import ERROR_TYPE
from obskit._sanitize import clean_value
from obskit._spans import NOOP_HANDLE, SpanHandle, SpanRecipe
from obskit.raft import _names as n

_SCOPE = n.CATALOGUE.scope
_MAX_LINKS = 128
_perf = time.perf_counter

_ELECTIONS = n.CATALOGUE.instrument(n.M_ELECTIONS)
_ELECTION_DURATION = n.CATALOGUE.instrument(n.M_ELECTION_DURATION)
_COMMITTED = n.CATALOGUE.instrument(n.M_COMMITTED)
_FAILED = n.CATALOGUE.instrument(n.M_FAILED)
_APPLIED = n.CATALOGUE.instrument(n.M_APPLIED)
_PENDING = n.CATALOGUE.instrument(n.M_PENDING)
_COMMIT_DURATION = n.CATALOGUE.instrument(n.M_COMMIT_DURATION)
_APPLY_DURATION = n.CATALOGUE.instrument(n.M_APPLY_DURATION)
_SNAPSHOT_DURATION = n.CATALOGUE.instrument(n.M_SNAPSHOT_DURATION)
_SNAPSHOT_SIZE = n.CATALOGUE.instrument(n.M_SNAPSHOT_SIZE)
_RPC_CLIENT = n.CATALOGUE.instrument(n.M_RPC_CLIENT_DURATION)
_RPC_SERVER = n.CATALOGUE.instrument(n.M_RPC_SERVER_DURATION)

_recipes: dict[tuple[str, SpanKind], SpanRecipe] = {}
_rpc_attrs: dict[tuple[str, str, str, str], dict[str, AttributeValue]] = {}


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


def _failed(attrs: Mapping[str, AttributeValue], kind: str) -> dict[str, AttributeValue]:
    return {**attrs, ERROR_TYPE: kind}


class _Operation:
    """Span bookkeeping shared by every Raft operation."""

    __slots__ = ("_recipe", "_span", "_start", "_token")

    def _begin(
        self,
        recipe: SpanRecipe,
        attributes: Mapping[str, AttributeValue],
        *,
        context: context_api.Context | None = None,
        links: list[Link] | None = None,
        traced: bool = True,
    ) -> None:
        self._recipe = recipe
        self._span: trace_api.Span | None = None
        self._token: object = None
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
            self._token = context_api.attach(trace_api.set_span_in_context(self._span))

    def _detach(self) -> None:
        if self._token is not None:
            try:
                context_api.detach(self._token)  # type: ignore[arg-type]
            except Exception:
                log_once("raft-detach", "detaching the Raft span context failed")
            self._token = None

    def _finish(self, exc: BaseException | None) -> float:
        """End the span (the context stays attached until the block exits); elapsed s."""
        elapsed = _perf() - self._start
        current, self._span = self._span, None
        if current is not None:
            try:
                self._recipe.finish(current, exc)
            except Exception:
                log_once("raft-span-end", "ending %s failed", self._recipe.name, exc_info=True)
        return elapsed

    def _set(self, key: str, value: object) -> None:
        if self._span is not None and value is not None:
            SpanHandle(self._span).set_attribute(key, value)

    def __enter__(self) -> Any:
        self._attach()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._detach()
        self._end(exc)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._detach()
        self._end(exc)

    def _end(self, exc: BaseException | None) -> None:
        self._finish(exc)
