"""`nothing_to_record()`: the pass-through test of the domains' context managers.

`obskit._prepared._off()` is true when obskit has nowhere to send spans
(`configure(enabled=False)`, `OBSKIT_ENABLED=false`, `OTEL_SDK_DISABLED`, or no
`configure()` and no SDK tracer provider installed by anyone). The domains' operations
record metrics as well as spans, and a host may install only an SDK meter provider, so
they pass through when neither can reach anything: `_off()` first (a flag and two
identity compares), then the meter provider only when that is true. With obskit on,
this costs one `_off()` call.
"""

from __future__ import annotations

from obskit import _providers
from obskit._prepared import _off

__all__ = ["nothing_to_record"]

_meter_provider = _providers.current_meter_provider


def nothing_to_record() -> bool:
    """True when neither spans nor metrics recorded now could reach a reader or exporter."""
    return _off() and _meter_provider() is None
