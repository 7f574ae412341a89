"""The pipeline domain's vocabulary, declared once: names and the catalogue (panels and
alerts: `_dashboards`).

Record counts per processor follow Flink's operator IO metrics (numRecordsIn/Out) and
Kafka Streams' dropped-records; per-record journeys follow the OpenTelemetry messaging
idea of a record's creation context (one trace per sampled record, span links where a
batch joins many). See docs/pipeline.md.
"""

from __future__ import annotations

from typing import Final

from obskit._base.names import ERROR_TYPE
from obskit._domain.catalogue import Attribute, Catalogue, Instrument, SpanSpec

# --- attributes -------------------------------------------------------------------------
PIPELINE: Final = "pipeline.name"
PROCESSOR: Final = "pipeline.processor"
OUTCOME: Final = "pipeline.record.outcome"
BATCH_COUNT: Final = "pipeline.batch.record_count"
OUTPUT_COUNT: Final = "pipeline.output.record_count"

# --- attribute values --------------------------------------------------------------------
EMIT: Final = "emit"
DROP: Final = "drop"
ERROR: Final = "error"
OUTCOMES: Final = (EMIT, DROP, ERROR)
CANCELLED: Final = "cancelled"  # asyncio cancellation of an async processor: not an error

# --- error policies ----------------------------------------------------------------------
RAISE: Final = "raise"
SKIP: Final = "skip"
DEAD_LETTER: Final = "dead_letter"
POLICIES: Final = (RAISE, SKIP, DEAD_LETTER)

#: Default share of records whose journey is traced (metrics count every record).
DEFAULT_SAMPLE_RATIO: Final = 0.01
#: Most span links a batch span carries (the SDK's default link limit).
MAX_LINKS: Final = 128

# --- spans and metrics -------------------------------------------------------------------
SPAN_PROCESS: Final = "pipeline.process"
M_IN: Final = "pipeline.records.in"
M_OUT: Final = "pipeline.records.out"
M_DROPPED: Final = "pipeline.records.dropped"
M_ERRORS: Final = "pipeline.records.errors"
M_DURATION: Final = "pipeline.processing.duration"
M_QUEUE_SIZE: Final = "pipeline.queue.size"
M_QUEUE_CAPACITY: Final = "pipeline.queue.capacity"
M_RECORD_AGE: Final = "pipeline.record.age"

#: Error details kept in memory per processor for `Pipeline.recent_errors()`.
RECENT_ERRORS: Final = 20
#: Longest sanitised error message kept (characters).
RECENT_ERROR_MESSAGE_CHARS: Final = 200
#: Alert threshold: records older than this (p99, seconds) when a processor takes them.
RECORD_AGE_ALERT_SECONDS: Final = 300

#: Record age (event time to processing): 1 ms to 1 day, no bound more than 2.5x the one
#: before; above 10 s in clock units (20 s, 30 s, 1 min, 2 min, 5 min, ... 12 h, 1 day).
AGE_BUCKETS: Final = (
    1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    21600.0, 43200.0, 86400.0,
)  # fmt: skip
#: Per-record work: 50 us to 10 s.
PIPELINE_BUCKETS: Final = (
    5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_IDS = [PIPELINE, PROCESSOR]

CATALOGUE: Final = Catalogue(
    domain="pipeline",
    title="Pipelines (obskit.pipeline)",
    attributes=[
        Attribute(PIPELINE, "string", "Pipeline (job) name", "logs", "Flink job_name"),
        Attribute(PROCESSOR, "string", "Processor (operator) name", "parse", "Flink operator_name"),
        Attribute(OUTCOME, "string", "What the processor did with the record: emit, drop, error (cancelled on a span)",
                  "emit", "Kafka Streams dropped-records"),
        Attribute(BATCH_COUNT, "int", "Records in a batch (links are capped at 128)", 500,
                  "semconv messaging.batch.message_count"),
        Attribute(OUTPUT_COUNT, "int", "Records a fan-out processor emitted for one input", 3),
        Attribute(ERROR_TYPE, "string", "Exception class of a failed record", "ValueError",
                  "semconv"),
    ],
    spans=[
        SpanSpec(SPAN_PROCESS, "One processor step of a sampled record's journey; child of the "
                 "previous step (a batch links to each record instead)",
                 attributes=[*_IDS, OUTCOME, BATCH_COUNT, OUTPUT_COUNT, ERROR_TYPE]),
    ],
    instruments=[
        Instrument(M_IN, "observable_counter", "{record}", "Records a processor finished with", _IDS),
        Instrument(M_OUT, "observable_counter", "{record}", "Records a processor emitted", _IDS),
        Instrument(M_DROPPED, "observable_counter", "{record}", "Records a processor filtered out", _IDS),
        Instrument(M_ERRORS, "observable_counter", "{record}", "Records whose processing raised",
                   [*_IDS, ERROR_TYPE]),
        Instrument(M_DURATION, "histogram", "s", "Processing time per record (or batch)",
                   [*_IDS, OUTCOME, ERROR_TYPE], PIPELINE_BUCKETS),
        Instrument(M_QUEUE_SIZE, "observable_up_down_counter", "{record}",
                   "Records waiting in a watched queue (backpressure)", _IDS),
        Instrument(M_QUEUE_CAPACITY, "observable_up_down_counter", "{record}",
                   "Capacity of a watched bounded queue", _IDS),
        Instrument(M_RECORD_AGE, "histogram", "s",
                   "Record age when a processor takes it: now minus its event time (ingestion "
                   "time at the source when no event time is given)", _IDS, AGE_BUCKETS),
    ],
)  # fmt: skip
