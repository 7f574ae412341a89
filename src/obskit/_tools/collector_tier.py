"""Alerts and Grafana panels for the fleet's collector tier (docs/fleet.md).

The load balancers and tail-sampling gateways report their own metrics (`otelcol_*`,
the collector's internal telemetry, scraped by Prometheus). obskit._tools.dashboards writes
these alerts into the rule file and the panels into the "obskit / Collector tier"
dashboard. The names they read are the collector's, not obskit's, so they are listed
in `COLLECTOR_METRICS`, which tests/integration/test_fleet.py checks against a running
collector.

Examples:
    >>> [alert.name for alert in ALERTS][:2]
    ['CollectorTierDroppingSpans', 'CollectorTierRefusingSpans']
    >>> ALERTS[0].condition
    '> 0'
"""

from __future__ import annotations

from typing import Final

from obskit._domain.dashboards import Alert, Panel

__all__ = ["ALERTS", "COLLECTOR_METRICS", "DASHBOARD_TITLE", "PANELS"]

DASHBOARD_TITLE: Final = "obskit / Collector tier"

_ACCEPTED = "otelcol_receiver_accepted_spans_total"
_REFUSED = "otelcol_receiver_refused_spans_total"
_SENT = "otelcol_exporter_sent_spans_total"
_SEND_FAILED = "otelcol_exporter_send_failed_spans_total"
_ENQUEUE_FAILED = "otelcol_exporter_enqueue_failed_spans_total"
_QUEUE_SIZE = "otelcol_exporter_queue_size"
_QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"
_DECISIONS = "otelcol_processor_tail_sampling_global_count_traces_sampled_total"
_POLICY_DECISIONS = "otelcol_processor_tail_sampling_count_traces_sampled_total"
_ON_MEMORY = "otelcol_processor_tail_sampling_sampling_traces_on_memory"
_TOO_EARLY = "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total"
_BACKEND_OUTCOME = "otelcol_loadbalancer_backend_outcome_total"

#: The collector's own metrics that the alerts and panels read.
COLLECTOR_METRICS: Final = (
    _ACCEPTED, _REFUSED, _SENT, _SEND_FAILED, _ENQUEUE_FAILED, _QUEUE_SIZE, _QUEUE_CAPACITY,
    _DECISIONS, _POLICY_DECISIONS, _ON_MEMORY, _TOO_EARLY, _BACKEND_OUTCOME,
)  # fmt: skip

_LOST = (
    f"sum by (job, instance, exporter) (rate({_SEND_FAILED}[5m]))",
    f"sum by (job, instance, exporter) (rate({_ENQUEUE_FAILED}[5m]))",
    f"sum by (job, instance, receiver) (rate({_REFUSED}[5m]))",
)

ALERTS: Final = (
    Alert("CollectorTierDroppingSpans", _LOST[0], "> 0",
          "A collector of the tier is losing spans it could not deliver",
          "{{ $labels.instance }} ({{ $labels.exporter }}) failed to deliver {{ $value }} "
          "spans per second over 5 minutes, after its retries: traces are missing in "
          "Jaeger. On a load balancer this is a gateway that is down or overloaded (a "
          "static resolver keeps routing its share of trace ids to it until the list "
          "changes); on a gateway, Jaeger is. otelcol_loadbalancer_backend_outcome_total "
          "says which backend fails: restart it, or take it out of the load balancers' "
          "resolver list.", "5m"),
    Alert("CollectorTierRefusingSpans", _LOST[2], "> 0",
          "A collector of the tier refuses spans",
          "{{ $labels.instance }} refused {{ $value }} spans per second on receiver "
          "{{ $labels.receiver }} over 5 minutes: a memory limiter or a full pipeline "
          "pushes back, and senders drop what they cannot retry (obskit counts its own "
          "drops in obskit_spans_dropped_total). Give the tier more gateways or memory.",
          "5m"),
    Alert("CollectorTierQueueFull", _LOST[1], "> 0",
          "A collector's sending queue is full",
          "{{ $labels.instance }} ({{ $labels.exporter }}) dropped {{ $value }} spans per "
          "second because its sending queue was full: its next hop is slower than the "
          "traffic, or down. Check the next hop (CollectorTierDroppingSpans, the "
          "dashboard's queue fill), then add gateways or raise sending_queue's queue_size "
          "or num_consumers.", "5m"),
    Alert("TailSamplingDecidedTooEarly",
          f"sum by (job, instance) (rate({_TOO_EARLY}[5m]))", "> 0",
          "A gateway decides traces before their decision wait",
          "{{ $labels.instance }} evicted {{ $value }} traces per second before their "
          "decision wait because it holds num_traces already: those traces are decided on "
          "the spans seen so far, and their later spans are lost. Raise num_traces (see "
          "docs/fleet.md, Sizing) or add gateways.", "15m"),
)  # fmt: skip

# Spans the load balancers handed on minus what live gateways received: the spans sent to a
# gateway that is down. Exact, unlike send_failed, which counts a whole request as failed
# when only its part for one gateway failed. (A gateway is where tail sampling runs.)
_HANDED = (
    f'sum(rate({_SENT}{{exporter="loadbalancing"}}[$__rate_interval])) + '
    f'sum(rate({_SEND_FAILED}{{exporter="loadbalancing"}}[$__rate_interval]))'
)
_RECEIVED = f"sum(rate({_ACCEPTED}[$__rate_interval]) and on (job, instance) {_ON_MEMORY})"

PANELS: Final = (
    Panel("Spans in and out per second, by collector",
          (f"sum by (instance) (rate({_ACCEPTED}[$__rate_interval]))",
           f"sum by (instance, exporter) (rate({_SENT}[$__rate_interval]))"), "ops",
          description="Accepted by each collector's receiver, and sent by each exporter "
          "(loadbalancing: to the gateways; otlp: from a gateway to Jaeger).",
          legends=("in {{instance}}", "out {{instance}} {{exporter}}")),
    Panel("Spans lost per second: failed, queue full, refused",
          (*(expr.replace("[5m]", "[$__rate_interval]") for expr in _LOST),
           f"{_HANDED} - {_RECEIVED}"), "ops",
          description="Spans the tier gave up on. Failed: a request failed after retries "
          "(a dead gateway or Jaeger); on a load balancer the whole request counts, also "
          "its part that reached a live gateway. Queue full: the next hop is too slow. "
          "Refused: a receiver pushed back. Lost to gateways: what the load balancers "
          "handed on minus what live gateways received, the exact loss. All should be 0.",
          legends=("failed {{instance}} {{exporter}}", "queue full {{instance}} {{exporter}}",
                   "refused {{instance}} {{receiver}}", "lost to gateways")),
    Panel("Tail-sampling decisions per second",
          (f"sum by (instance, sampled) (rate({_DECISIONS}[$__rate_interval]))",), "ops",
          description="Traces each gateway kept (sampled=true) or dropped.",
          legends=("{{instance}} sampled={{sampled}}",)),
    Panel("Traces kept per second, by policy",
          (f'sum by (policy) (rate({_POLICY_DECISIONS}{{sampled="true"}}[$__rate_interval]))',),
          "ops", description="Which policy of `obskit tail-sampling` kept them: errors, "
          "slow-<domain>, raft-elections-and-failover, healthy-ratio (a trace can match "
          "several).", legends=("{{policy}}",)),
    Panel("Traces held by the gateways",
          (f"sum by (instance) ({_ON_MEMORY})",), "short",
          description="Traces waiting for their decision (and decided ones kept for late "
          "spans), against num_traces: at the limit the oldest are decided too early."),
    Panel("Load balancer sends by gateway and outcome",
          (f"sum by (instance, endpoint, success) (rate({_BACKEND_OUTCOME}[$__rate_interval]))",),
          "ops", description="Each load balancer's sends to each gateway; success=false "
          "while a gateway is down.", legends=("{{instance}} -> {{endpoint}} ok={{success}}",)),
    Panel("Sending queue fill",
          (f"max by (instance, exporter) ({_QUEUE_SIZE} / {_QUEUE_CAPACITY})",), "percentunit",
          description="Near 100%: the next hop cannot keep up and spans will be dropped."),
)  # fmt: skip
