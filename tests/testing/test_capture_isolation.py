"""Settings a test makes through configure() end with its capture (the next test starts
from what was in force before)."""

from __future__ import annotations

import obskit
from obskit._metrics import cardinality as _cardinality
from obskit.testing import Capture


def test_a_cardinality_limit_set_in_one_capture_does_not_reach_the_next() -> None:
    with Capture():
        obskit.configure(exporters=["memory"], cardinality_limit=5)
        limited = obskit.hot_counter("isolation.limited", unit="{event}")
        for key in range(8):
            limited.add(1, {"key": key})
    with Capture() as capture:
        hot = obskit.hot_counter("isolation.after", unit="{event}")
        for key in range(8):
            hot.add(1, {"key": key})
        points = capture.metrics("isolation.after")
    assert len(points) == 8  # before the fix: 4 series and the overflow one
    assert not [p for p in points if _cardinality.OVERFLOW_ATTRIBUTE in p.attributes]
