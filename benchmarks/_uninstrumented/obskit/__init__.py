"""A stand-in for obskit with no telemetry at all: the uninstrumented Raft baseline.

benchmarks/bench_workloads.py puts `benchmarks/_uninstrumented` first on the node
processes' PYTHONPATH, so `import obskit` in examples/_raftnode finds this package instead
of the real one: every call the example makes is a plain pass-through defined here, and
no obskit code runs (no providers, no export thread, no context objects). Not the same as
`OBSKIT_ENABLED=false`, which still runs obskit's disabled path on every call.

Only the names the example uses exist; a new call in the example fails loudly here (an
AttributeError in the node) instead of being measured by the real obskit.
"""

from __future__ import annotations

from typing import Any

UNINSTRUMENTED = True


def configure(*args: Any, **kwargs: Any) -> None:
    """Nothing to set up."""


def shutdown(*args: Any, **kwargs: Any) -> bool:
    """Nothing to deliver: everything was delivered."""
    return True
