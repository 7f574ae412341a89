"""Names shared by the core: attribute keys, event names and core metric names.

Domain names live with their domains (each domain's catalogue); only names the core
itself emits are here. Where OpenTelemetry's semantic conventions define a name, it is
used as is.
"""

from __future__ import annotations

from typing import Final

# OpenTelemetry semantic conventions (stable).
ERROR_TYPE: Final = "error.type"
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
CODE_FUNCTION_NAME: Final = "code.function.name"
SERVICE_NAME: Final = "service.name"

# Captured arguments and results of @traced functions.
ARG_PREFIX: Final = "code.arg."
RESULT: Final = "code.result"

# Metrics recorded by @traced(metrics=...) under a prefix (default "obskit.function"):
# {prefix}.duration (histogram, s), {prefix}.calls (counter), {prefix}.active (up-down).
FUNCTION_METRIC_PREFIX: Final = "obskit.function"
OUTCOME: Final = "outcome"
OUTCOME_OK: Final = "ok"
OUTCOME_ERROR: Final = "error"
#: asyncio cancellation: not an error (span status UNSET with a `cancelled` event).
OUTCOME_CANCELLED: Final = "cancelled"
CANCELLED_EVENT: Final = "cancelled"

# obskit's own health: what happened to the spans it was handed.
SPANS_ENDED: Final = "obskit.spans.ended"
SPANS_EXPORTED: Final = "obskit.spans.exported"
SPANS_DROPPED: Final = "obskit.spans.dropped"
SPANS_QUEUED: Final = "obskit.spans.queued"
DROP_REASON: Final = "reason"
# Values redacted by scrubbing or query-literal redaction, by where (obskit._safety.secrets).
SCRUB_REDACTIONS: Final = "obskit.scrubbing.redactions"
REDACTION_SOURCE: Final = "source"
# Measurements that went to a metric's overflow series, by metric name.
METRICS_OVERFLOWED: Final = "obskit.metrics.overflowed"
METRIC_NAME: Final = "metric.name"
