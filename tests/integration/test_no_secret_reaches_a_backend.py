"""A secret planted everywhere a user might leak one never reaches Jaeger or Prometheus.

The secret goes into a query literal (quoted back by the engine's errors), an exception
message, an argument captured with `record_args`, a span attribute and a metric
attribute; the test then reads back everything the real backends hold for this service
(Jaeger's HTTP query API, Prometheus's query API after it scraped obskit's endpoint, and
the endpoint's own exposition) and checks the secret appears nowhere, while the spans
and series themselves did arrive.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from _backends import Jaeger, Prometheus, Trace, find_span, span_tags

import obskit
from obskit import query

SECRET = "hunter2-" + uuid.uuid4().hex[:8]
# A MySQL-style double-quoted secret: sanitised with the default (ANSI) dialect, it is
# still a literal, since it stands in a value position.
TOKEN = "dq-" + uuid.uuid4().hex[:10]
SQL = (
    f"SELECT id FROM users WHERE password = '{SECRET}' AND token = \"{TOKEN}\" "
    f"AND CAST('{SECRET}' AS INT) > 0"
)


class ParseError(Exception):
    pass


@obskit.traced("auth.check_login", record_args=["user", "password", "note"])
def check_login(user: str, password: str, note: str) -> None:
    obskit.set_attribute("login.detail", f"api_key={password}")
    raise PermissionError(f"login refused for {user}: password={password}")


def run_engine() -> None:
    """An embedded engine that quotes the offending SQL in its errors."""
    with query.lifecycle(SQL, system="minidb") as q:
        with q.phase("parse"):
            pass
        carrier = q.fragment_carrier()
        with query.fragment(carrier, worker_id="w1", fragment_id=0, text=SQL) as f:
            try:
                int(SECRET)  # ValueError: invalid literal for int() with base 10: '...'
            except ValueError as error:
                f.record_exception(error)
        with q.phase("execute"):
            raise ParseError(
                f"syntax error at ... WHERE password = '{SECRET}' AND token = \"{TOKEN}\""
            )


def test_secret_never_reaches_jaeger_or_prometheus(jaeger: Jaeger, prometheus: Prometheus) -> None:
    service = f"secrets-{uuid.uuid4().hex[:8]}"
    telemetry = obskit.configure(
        service_name=service,
        exporters={"traces": ["otlp"], "metrics": ["prometheus"]},
        otlp_endpoint=jaeger.otlp_http_endpoint,
        otlp_protocol="http/protobuf",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
    )
    address = telemetry.prometheus_address
    assert address is not None
    target = f"127.0.0.1:{address[1]}"
    try:
        with pytest.raises(ParseError):
            run_engine()
        with pytest.raises(PermissionError):
            check_login("bob", SECRET, f"token={SECRET}")
        with obskit.span("config.load", attributes={"db.password": SECRET, "db.user": "bob"}):
            pass
        logins = obskit.counter("demo.logins", "{login}", "Logins by session")
        logins.add(1, {"session": SECRET, "note": f"secret={SECRET}", "route": "/login"})
        assert obskit.flush(timeout=10.0)

        def complete(traces: list[Trace]) -> bool:
            names = {span["operationName"] for trace in traces for span in trace["spans"]}
            return {"SELECT users", "query.fragment", "auth.check_login", "config.load"} <= names

        traces = jaeger.wait_for_traces(service, complete, timeout=30.0)
        held = json.dumps(traces)
        assert SECRET not in held
        assert TOKEN not in held
        # What did arrive is what the test planted, redacted in place.
        spans = {s["operationName"]: s for t in traces for s in t["spans"]}
        login = span_tags(spans["auth.check_login"])
        assert login["code.arg.password"] == "[REDACTED: password]"
        assert login["code.arg.note"] == "token=[REDACTED: token]"
        assert login["login.detail"] == "api_key=[REDACTED: api_key]"
        assert span_tags(spans["config.load"])["db.password"] == "[REDACTED: password]"
        root = next(
            t for t in traces if any(s["operationName"] == "SELECT users" for s in t["spans"])
        )
        assert span_tags(find_span(root, "SELECT users"))["db.query.text"] == (
            "SELECT id FROM users WHERE password = ? AND token = ? AND CAST(? AS INT) > ?"
        )
        # The messages arrive, redacted: by the password rule, and of the query's literal.
        assert "syntax error at ... WHERE password = [REDACTED: password] AND token" in held
        assert "invalid literal for int() with base 10: '?'" in held

        prometheus.add_target(service, target)
        try:
            (sample,) = prometheus.wait_for(f'demo_logins_total{{job="{service}"}}')
            everything = prometheus.query(f'{{job="{service}"}}')
        finally:
            prometheus.remove_target(service, target)
        assert sample["metric"]["session"] == "[REDACTED: session]"
        assert sample["metric"]["note"] == "secret=[REDACTED: secret]"
        assert len(everything) > 5  # obskit's own series arrived too
        assert SECRET not in json.dumps(everything)
        assert TOKEN not in json.dumps(everything)
        redactions = {
            s["metric"]["source"]: float(s["value"][1])
            for s in everything
            if s["metric"]["__name__"].startswith("obskit_scrubbing_redactions")
        }
        assert redactions["query_literal"] > 0
        assert redactions["attribute"] > 0
        with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as answer:
            exposition = answer.read().decode()
        assert "demo_logins_total" in exposition
        assert SECRET not in exposition
        assert TOKEN not in exposition
    finally:
        obskit.shutdown()
