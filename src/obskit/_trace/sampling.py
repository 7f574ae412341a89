"""Sampling decisions made without entering the SDK (the parts `SpanRecipe` binds to a tracer)."""

from __future__ import annotations

import random
import threading
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import sampling

from obskit._base.context import UnsampledRoot as UnsampledRoot

# --- sampling without the SDK --------------------------------------------------------
# obskit's own provider samples with ParentBased(TraceIdRatioBased(r)). For it, the
# "not sampled" decisions are made here without entering the SDK, which costs ~5 us even
# when it ends up creating nothing: a child of an unsampled parent gets no span at all
# (the parent stays current, so propagation carries sampled=0) and an unsampled root gets
# a NonRecordingSpan with flags 0. Same decisions the SDK would make: the root's trace id
# comes from the provider's id generator and is checked against the same bound.
_TRACE_ID_MASK = sampling.TraceIdRatioBased.TRACE_ID_LIMIT
_UNKNOWN_SAMPLER = -1  # not obskit's sampler shape: every decision goes through the SDK
_NO_STATE = trace_api.DEFAULT_TRACE_STATE
getrandbits = random.getrandbits
NonRecordingSpan = trace_api.NonRecordingSpan
SpanContext = trace_api.SpanContext


def _root_bound(provider: object) -> int:
    """The TraceIdRatioBased bound of a ParentBased root sampler, or _UNKNOWN_SAMPLER."""
    sampler = getattr(provider, "sampler", None)
    if type(sampler) is not sampling.ParentBased:
        return _UNKNOWN_SAMPLER
    follows_parent = (
        getattr(sampler, "_local_parent_not_sampled", None) is sampling.ALWAYS_OFF
        and getattr(sampler, "_remote_parent_not_sampled", None) is sampling.ALWAYS_OFF
        and getattr(sampler, "_local_parent_sampled", None) is sampling.ALWAYS_ON
        and getattr(sampler, "_remote_parent_sampled", None) is sampling.ALWAYS_ON
    )
    root = getattr(sampler, "_root", None)
    if not follows_parent:
        return _UNKNOWN_SAMPLER
    if type(root) is sampling.TraceIdRatioBased:
        return root.bound
    if root is sampling.ALWAYS_ON:
        return _TRACE_ID_MASK + 1
    if root is sampling.ALWAYS_OFF:
        return 0
    return _UNKNOWN_SAMPLER


class _Preset(threading.local):
    # >0: the root trace id start() drew and checked; -1: a child start() already knows
    # is sampled (sampled parent, empty trace state); 0: nothing decided, ask the sampler.
    trace_id = 0


_preset = _Preset()


class _Sampled:
    """What the SDK reads of a SamplingResult, without its MappingProxy copy (~0.3 us)."""

    __slots__ = ("attributes",)
    decision = sampling.Decision.RECORD_AND_SAMPLE
    trace_state = None  # root, or a parent with an empty trace state: nothing to carry

    def __init__(self, attributes: Any) -> None:
        self.attributes = attributes  # the SDK copies them into the span's own mapping


class _PresetTraceIds:
    """An id generator handing out the root trace id obskit already drew and checked."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.random = bool(getattr(inner, "is_trace_id_random", lambda: False)())

    def generate_trace_id(self) -> int:
        trace_id = _preset.trace_id
        return trace_id if trace_id > 0 else int(self.inner.generate_trace_id())

    def generate_span_id(self) -> int:
        return int(self.inner.generate_span_id())

    def is_trace_id_random(self) -> bool:
        return self.random


class _DecidedSampler(sampling.Sampler):
    """The provider's sampler, skipped when start() already made the same decision.

    Saves the ParentBased -> TraceIdRatioBased round trip (~0.8 us of a ~15 us sampled
    span, target 3); any other use of the tracer still asks the real sampler.
    """

    def __init__(self, inner: sampling.Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> sampling.SamplingResult:
        if _preset.trace_id:
            return _Sampled(attributes)  # type: ignore[return-value]
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return self.inner.get_description()
