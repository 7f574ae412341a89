"""The pipeline domain's dashboards and alerts, as data: Grafana panels (PromQL over the
Prometheus names) and alert rules, read by the build-time tools (obskit._tools).
"""

from __future__ import annotations

from typing import Final

from obskit.pipeline._names import RECORD_AGE_ALERT_SECONDS

#: Grafana panels (PromQL over the Prometheus names) for the pipeline dashboard.
PANELS: Final = (
    {"title": "Records in per processor", "unit": "ops", "type": "timeseries",
     "expr": "sum by (pipeline_name, pipeline_processor) (rate(pipeline_records_in_total[1m]))"},
    {"title": "Records out per processor", "unit": "ops", "type": "timeseries",
     "expr": "sum by (pipeline_name, pipeline_processor) (rate(pipeline_records_out_total[1m]))"},
    {"title": "Drop ratio per processor", "unit": "percentunit", "type": "timeseries",
     "expr": "sum by (pipeline_name, pipeline_processor) (rate(pipeline_records_dropped_total[5m]))"
             " / sum by (pipeline_name, pipeline_processor) (rate(pipeline_records_in_total[5m]))"},
    {"title": "Error ratio per processor", "unit": "percentunit", "type": "timeseries",
     "expr": "sum by (pipeline_name, pipeline_processor) (rate(pipeline_records_errors_total[5m]))"
             " / sum by (pipeline_name, pipeline_processor) (rate(pipeline_records_in_total[5m]))"},
    {"title": "Errors by type", "unit": "ops", "type": "timeseries",
     "expr": "sum by (pipeline_processor, error_type) (rate(pipeline_records_errors_total[5m]))"},
    {"title": "Processing time p99", "unit": "s", "type": "timeseries",
     "expr": "histogram_quantile(0.99, sum by (le, pipeline_processor) "
             "(rate(pipeline_processing_duration_seconds_bucket[5m])))"},
    {"title": "Busy share per processor", "unit": "percentunit", "type": "timeseries",
     "expr": "sum by (pipeline_processor) (rate(pipeline_processing_duration_seconds_sum[1m]))"},
    {"title": "Queue depth", "unit": "none", "type": "timeseries",
     "expr": "sum by (pipeline_name, pipeline_processor) (pipeline_queue_size)"},
    {"title": "Queue fill", "unit": "percentunit", "type": "timeseries",
     "expr": "pipeline_queue_size / pipeline_queue_capacity"},
    {"title": "Record age p99 per processor", "unit": "s", "type": "timeseries",
     "expr": "histogram_quantile(0.99, sum by (le, pipeline_name, pipeline_processor) "
             "(rate(pipeline_record_age_seconds_bucket[5m])))"},
)  # fmt: skip

_BY: Final = "job, pipeline_name, pipeline_processor"  # one alert per processor per job
#: Alert-worthy conditions as PromQL (fire when the expression returns series).
ALERTS: Final = (
    {"alert": "PipelineErrorRatioHigh", "for": "5m", "severity": "warning",
     "expr": f"sum by ({_BY}) (rate(pipeline_records_errors_total[5m]))"
             f" / sum by ({_BY}) (rate(pipeline_records_in_total[5m])) > 0.01",
     "summary": "More than 1% of a processor's records fail"},
    {"alert": "PipelineStalled", "for": "5m", "severity": "critical",
     # A worker that died takes its records_in series with it: count it as taking none.
     "expr": f"(sum by ({_BY}) (rate(pipeline_records_in_total[5m]))"
             f" or sum by ({_BY}) (pipeline_queue_size) * 0) == 0"
             f" and sum by ({_BY}) (pipeline_queue_size) > 0",
     "summary": "Records wait in a queue but the processor takes none"},
    {"alert": "PipelineQueueNearlyFull", "for": "10m", "severity": "warning",
     "expr": "pipeline_queue_size / pipeline_queue_capacity > 0.9",
     "summary": "A bounded queue is over 90% full (backpressure)"},
    {"alert": "PipelineRecordsOld", "for": "10m", "severity": "warning",
     "expr": f"histogram_quantile(0.99, sum by (le, {_BY}) "
             f"(rate(pipeline_record_age_seconds_bucket[5m]))) > {RECORD_AGE_ALERT_SECONDS}",
     "summary": f"Records reach a processor more than {RECORD_AGE_ALERT_SECONDS} s after "
                "their event time (p99)",
     "description": "Processor {{ $labels.pipeline_processor }} of pipeline "
     "{{ $labels.pipeline_name }} takes records {{ $value }} s after their event time: the "
     "pipeline falls behind its input. Look at queue depth and processing time upstream."},
)  # fmt: skip
