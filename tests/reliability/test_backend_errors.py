"""R6, R7, R9: recovery after an outage, error answers, and one oversized span."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import grpc
import pytest
from _harness import CHILD, child_env, receiver_endpoint, record_figure, run_scenario

from obskit.testing._faults import FaultyOTLPReceiver, closed_port
from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.reliability

OUTAGE = 4.0  # the issue says 10 s; what is proven (reconnect, then 100 %) does not change
AFTER = 8.0  # seconds the child keeps going after the backend is up
SETTLE = 5.0  # spans ended this long after recovery must all arrive (the issue: 10 s)


def test_export_recovers_after_an_outage(protocol: str) -> None:
    # R6: the backend's port is dead for OUTAGE s, then a receiver starts on it.
    port = closed_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = {"endpoint": endpoint, "protocol": protocol, "duration": OUTAGE + AFTER}
    process = subprocess.Popen(
        [sys.executable, str(CHILD), "recovery", json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        time.sleep(OUTAGE)  # the outage itself is the scenario, not a synchronisation stand-in
        ports = {"grpc_port": port} if protocol == "grpc" else {"http_port": port}
        with OTLPReceiver(protocol=protocol, **ports) as receiver:  # type: ignore[arg-type]
            up = time.time()
            receiver.wait_for_spans(1, timeout=8.0)
            first = time.time() - up
            stdout, _ = process.communicate(timeout=60)
            spans = receiver.spans
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    result = json.loads(
        next(line[7:] for line in stdout.splitlines() if line.startswith("RESULT "))
    )
    received = {int(span.attributes["seq"]) for span in spans}  # type: ignore[index, arg-type]
    settled = [seq for seq, at in enumerate(result["end_times"]) if at >= up + SETTLE]
    delivered = sum(1 for seq in settled if seq in received) / len(settled)
    record_figure(
        f"R6 {protocol}",
        f"first span {first:.2f} s after up; {delivered:.1%} of spans ended {SETTLE:g} s after "
        f"recovery delivered; outage drops {result['counts']}",
    )
    assert first <= 10.0  # 0.9-3.8 s typical; an exporter that never reconnects never does
    assert delivered == 1.0
    assert result["counts"]["queue_full"] + result["counts"]["export_failed"] > 0


HTTP_CASES = [
    ("http-503-retry-after", {"http_status": 503, "retry_after": 0.2}, False),
    ("http-429", {"http_status": 429}, False),
    ("http-400", {"http_status": 400}, True),
    ("http-413", {"http_status": 413}, True),
    ("http-slow", {"http_status": None, "delay": 2.5}, False),
]
GRPC_CASES = [
    ("grpc-unavailable", {"grpc_status": grpc.StatusCode.UNAVAILABLE}, False),
    ("grpc-resource-exhausted", {"grpc_status": grpc.StatusCode.RESOURCE_EXHAUSTED}, False),
    ("grpc-slow", {"grpc_status": None, "delay": 2.5}, False),
]
TIMEOUT = 1.0


def test_error_answers_are_bounded_counted_and_not_retried_when_final() -> None:
    # R7: every export ends within timeout + 1 s; 400/413 reach the backend once.
    receivers = []
    cases = []
    try:
        for name, options, final in HTTP_CASES + GRPC_CASES:
            protocol = "grpc" if name.startswith("grpc") else "http/protobuf"
            faulty = FaultyOTLPReceiver(protocol=protocol, **options)  # type: ignore[arg-type]
            faulty.start()
            receivers.append((name, faulty, final))
            cases.append(
                {"name": name, "endpoint": receiver_endpoint(faulty), "protocol": protocol}
            )
        outcome = run_scenario(
            "errors", {"cases": cases, "otlp_timeout": TIMEOUT}, timeout=120
        ).result
    finally:
        for _, faulty, _ in receivers:
            faulty.stop()
    for (name, faulty, final), result in zip(receivers, outcome["results"], strict=True):
        counts = result["counts"]
        worst = max(result["exports"], default=0.0)
        transport = "grpc" if name.startswith("grpc") else "http"
        record_figure(
            f"R7 {name}",
            f"worst export {worst:.2f} s (timeout {TIMEOUT:g} s); "
            f"{faulty.requests[transport]} request(s); lost {counts['export_failed']}",
        )
        assert worst <= TIMEOUT + 1.0, (name, result["exports"])
        assert result["flushed"] is False, name
        assert counts["ended"] == 20, (name, counts)
        assert counts["export_failed"] + counts["shutdown"] == 20, (name, counts)
        if final:
            assert faulty.requests[transport] == 1, (name, faulty.requests)


def test_an_oversized_span_is_dropped_alone() -> None:
    # R9: a ~8 MiB span among 9 normal ones, against gRPC's default 4 MiB receive limit.
    with OTLPReceiver(protocol="grpc") as receiver:
        result = run_scenario(
            "oversized", {"endpoint": receiver_endpoint(receiver), "protocol": "grpc"}
        ).result
        spans = receiver.wait_for_spans(9, timeout=10)
        requests = receiver.requests["grpc"]
    record_figure(
        "R9",
        f"{len(spans)}/9 normal spans delivered; too_large={result['counts']['too_large']}; "
        f"{requests} export request(s)",
    )
    assert sorted(int(s.attributes["i"]) for s in spans) == [0, 1, 2, 3, 5, 6, 7, 8, 9]  # type: ignore[arg-type]
    assert result["counts"]["too_large"] == 1
    assert result["counts"]["export_failed"] == 0
    assert requests == result["exports"]  # one request per export: no retry storm
    assert result["flushed"] is True
