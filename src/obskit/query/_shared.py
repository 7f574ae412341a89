"""What a query lifecycle, its phases and its fragments share: instruments, span recipes and
the rule for phase names.
"""

from __future__ import annotations

import re

from opentelemetry.trace import SpanKind

from obskit._trace.handle import SpanRecipe
from obskit.query import _names as names
from obskit.query._block import by_key

_PHASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_RESERVED_PHASES = frozenset({"fragment", "phase", "duration", "active", "errors", "operator"})
_MAX_CACHED = 1024
_OTHER = "_OTHER"

# Bound hot handles by `cached` key (obskit._domain.operation): ~0.2 us a record, the SDK's 5-10.
_duration = by_key(names.DURATION)
_phase_duration = by_key(names.PHASE_DURATION)
_active = by_key(names.ACTIVE)
_returned_rows = by_key(names.RETURNED_ROWS)
_cache_lookups = by_key(names.CACHE_LOOKUPS)
_errors = by_key(names.ERRORS)
_fragment_duration = by_key(names.FRAGMENT_DURATION)
_cost_reduction = by_key(names.COST_REDUCTION_METRIC)

_ROOT = SpanRecipe("query", scope=names.SCOPE)
_FRAGMENT = SpanRecipe(names.FRAGMENT_SPAN, kind=SpanKind.SERVER, scope=names.SCOPE)
_phase_recipes: dict[str, SpanRecipe] = {}


def check_phase(name: object) -> str:
    """Validate a phase name: a lower-case identifier, not a reserved word.

    Examples:
        >>> check_phase("parse")
        'parse'
    """
    if type(name) is not str or not _PHASE_NAME.match(name) or name in _RESERVED_PHASES:
        raise ValueError(
            f"query phase names are lower-case identifiers (span 'query.<phase>'), e.g. "
            f"{', '.join(names.STANDARD_PHASES)}; got {name!r}"
            + (" (reserved)" if name in _RESERVED_PHASES else "")
        )
    return name
