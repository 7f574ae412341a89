"""The recording path the four domains share: catalogue metrics as bound hot instruments.

A domain operation (a B+tree get, a Raft RPC, a query phase, a pipeline step) ends by
recording a duration and a count or two with an attribute set that is one of a few per
decorated function / registered object / outcome. Through the SDK instrument path each
record costs 5-10 us (attribute hashing, a Measurement object, exemplar filtering, a lock:
docs/performance.md has the profile); through a handle bound once (`obskit._metrics.hot`) it is a
bisect and a few adds into this thread's cells, ~0.2-0.3 us. So the domains:

* create their catalogue's counters, up-down counters and histograms with `hot()` instead
  of `Catalogue.instrument()` -- same name, unit, description, buckets and scope; exported
  as the same Prometheus series (counters through an observable counter, histograms
  through each metric reader's collect), and *sparse* like the SDK's own instruments: an
  attribute set appears once recorded under the current meter provider;
* keep one `Outcomes` per prepared object (an index operation, a node, a processor, a
  phase name), mapping a small key (an outcome, an error type) to its bound handle, so a
  record is a dict lookup and an add; the attribute dict is built once per key.

Sampling is decided before any span work by `SpanRecipe.start`, which takes the span's
attributes as a callable and calls it only for a span that will record.

Examples:
    >>> from obskit.btree import _names as names
    >>> duration = hot(names.CATALOGUE, names.OPERATION_DURATION)
    >>> by_outcome = Outcomes(duration, {names.INDEX: "pk", names.OPERATION: "get"})
    >>> by_outcome.get(names.HIT, {names.OUTCOME: names.HIT}).record(0.0002)
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import Any

from obskit._domain.catalogue import Catalogue
from obskit._metrics import hot as _hot
from obskit._metrics import proxy as _metrics

__all__ = ["Outcomes", "hot"]

_HOT_KINDS = ("counter", "up_down_counter", "histogram")


def hot(catalogue: Catalogue, name: str) -> Any:
    """The hot-path instrument for catalogue entry `name` (a counter, up-down counter or
    histogram): same name, unit, description, buckets and scope as `catalogue.instrument`.

    Use one or the other for a given name, never both (a name has one instrument kind).

    Examples:
        >>> from obskit.raft import _names as n
        >>> hot(n.CATALOGUE, n.M_COMMITTED).bind({n.NODE_ID: "n1"}).add()
    """
    spec = catalogue.instruments_by_name.get(name)
    if spec is None or spec.kind not in _HOT_KINDS:
        raise KeyError(
            f"{name!r} is not a counter or histogram of the {catalogue.domain} catalogue"
        )
    scope = catalogue.scope
    key = (spec.kind, scope, name)
    if spec.kind == "histogram":
        buckets = spec.buckets
        if buckets is None:
            buckets = _metrics.LATENCY_BUCKETS  # the catalogue's only unbucketed unit is "s"
        return _hot._cached(key, lambda: _histogram(name, spec.unit, spec.description, scope,
                                                    tuple(buckets)))  # fmt: skip
    monotonic = spec.kind == "counter"
    return _hot._cached(
        key,
        lambda: _hot.HotCounter(name, spec.unit, spec.description, scope, monotonic, sparse=True),
    )


def _histogram(
    name: str, unit: str, description: str, scope: str, buckets: tuple[float, ...]
) -> _hot.HotHistogram:
    histogram = _hot.HotHistogram(name, unit, description, scope, buckets)
    # The bounds exactly as declared, as the SDK keeps them: Prometheus shows an int bound
    # 5 as le="5" and a float 5.0 as le="5.0", two different series.
    histogram.bounds = buckets
    return histogram


class Outcomes:
    """Bound handles of one hot instrument for one base attribute set, by a small key.

    `get(key, extra)` binds ``{**base, **extra}`` the first time `key` is seen and returns
    the same handle after that. At most `limit` keys are kept: past it a key is bound on
    each use (the instrument's own binding table is bounded too), so callers keep their
    labels low-cardinality as before. The fast path is `found.get(key)`.

    Examples:
        >>> from obskit.pipeline import _names as n
        >>> by_outcome = Outcomes(hot(n.CATALOGUE, n.M_DURATION), {n.PIPELINE: "logs"})
        >>> by_outcome.get("emit", {n.OUTCOME: "emit"}) is by_outcome.found["emit"]
        True
    """

    __slots__ = ("_lock", "base", "found", "instrument", "limit")

    def __init__(
        self, instrument: Any, base: Mapping[str, object] | None = None, limit: int = 64
    ) -> None:
        self.instrument = instrument
        self.base = dict(base or {})
        self.limit = limit
        #: key -> bound handle; read it directly on hot paths (`found.get(key)`).
        self.found: dict[Hashable, Any] = {}
        self._lock = threading.RLock()  # re-entrant: see docs/architecture.md

    def get(self, key: Hashable, extra: Mapping[str, object] | None = None) -> Any:
        """The bound handle for `key`, binding ``base`` plus `extra` on first use."""
        handle = self.found.get(key)
        if handle is not None:
            return handle
        handle = self.instrument.bind({**self.base, **extra} if extra else self.base)
        with self._lock:
            if len(self.found) < self.limit:
                self.found[key] = handle
        return handle
