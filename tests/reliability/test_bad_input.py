"""R13: bad input never raises, stays cheap, and never costs other spans."""

from __future__ import annotations

from collections import Counter

import pytest
from _harness import receiver_endpoint, record_figure, run_scenario

from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.reliability

CALL_BUDGET = 0.005  # seconds per call (the figure), the fastest of three runs


def test_bad_input_never_raises_and_loses_nothing(receiver: OTLPReceiver) -> None:
    outcome = run_scenario(
        "bad_input",
        {"endpoint": receiver_endpoint(receiver), "protocol": receiver.protocol},
        timeout=120,
    ).result
    results = outcome["results"]
    raised = {case: r["raised"] for case, r in results.items() if r["raised"]}
    slow = {
        case: round(r["took"] * 1000, 2) for case, r in results.items() if r["took"] > CALL_BUDGET
    }
    worst_case = max(results, key=lambda case: results[case]["took"])
    record_figure(
        f"R13 {receiver.protocol}",
        f"{len(results)} cases, {len(raised)} raised, slowest {worst_case} "
        f"{results[worst_case]['took'] * 1000:.2f} ms; counts {outcome['counts']}",
    )
    assert raised == {}
    assert slow == {}
    # 10k single set_attribute calls: a GC pause may land in one; more would be a cost.
    assert outcome["many_calls"]["over_budget"] <= 10
    assert outcome["passthrough"] == [True] * 4
    assert outcome["flushed"] is True
    spans = receiver.wait_for_spans(
        lambda got: sum(1 for s in got if s.name in ("good", "raw.ok")) >= 9 * len(results) + 9,
        timeout=15,
    )
    good = Counter(s.attributes["case"] for s in spans if s.name == "good")
    assert all(good[case] == 9 for case in results), good
    assert sum(1 for s in spans if s.name == "raw.ok") == 9  # batch-mates of the bad name
    assert outcome["counts"]["encode_error"] == 1
    bad_cases = [s for s in spans if s.name == "bad.case"]
    lost_first = [
        s.attributes["case"]
        for s in bad_cases
        if s.attributes.get("first") != "kept" and "case" in s.attributes
    ]
    assert lost_first == []


def test_first_attributes_survive_ten_thousand_set_attribute_calls() -> None:
    import obskit

    telemetry = obskit.configure(service_name="r13", exporters=["memory"])
    try:
        with obskit.span("many", attributes={"first": "kept"}) as handle:
            for i in range(10_000):
                handle.set_attribute(f"extra{i}", i)
        assert obskit.flush(timeout=5.0)
        (span,) = telemetry.info["memory_spans"].get_finished_spans()
    finally:
        obskit.shutdown(timeout=1.0)
    assert span.attributes["first"] == "kept"
    assert "extra0" in span.attributes


def test_exception_status_never_renders_a_huge_argument() -> None:
    import obskit

    telemetry = obskit.configure(service_name="r13", exporters=["memory"])
    try:
        with obskit.span("fails") as handle:
            handle.record_exception(ValueError(b"x" * (10 * 1024 * 1024)))
        assert obskit.flush(timeout=5.0)
        (span,) = telemetry.info["memory_spans"].get_finished_spans()
    finally:
        obskit.shutdown(timeout=1.0)
    assert span.status.description == "ValueError: <10485760 bytes>"
