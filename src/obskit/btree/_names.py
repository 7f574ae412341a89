"""obskit.btree's vocabulary: every span, event, attribute and metric name, declared once.

Names follow InnoDB and WiredTiger for splits and merges and LMDB for tree shape
(docs/btree.md names the source of each) and issue 4 (`btree.index` for the index name).
`btree.*` is not an OpenTelemetry semantic-convention namespace; `error.type` is the
semconv one.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

from obskit._domain.catalogue import Attribute, Catalogue, EventSpec, Instrument, SpanSpec

__all__ = [
    "CATALOGUE",
    "DEPTH",
    "ERROR_TYPE",
    "INDEX",
    "KEY",
    "KEY_COUNT",
    "KEY_SIZE",
    "MERGE_EVENT",
    "NODE_COUNT",
    "NODE_LEVEL",
    "NODE_LEVEL_LIMIT",
    "NODE_MERGES",
    "NODE_REASON",
    "NODE_SPLITS",
    "NODE_TYPE",
    "OPERATION",
    "OPERATION_DURATION",
    "OUTCOME",
    "PAGES_VISITED",
    "PAGE_ID",
    "PAGE_READS",
    "PAGE_READ_EVENT",
    "PAGE_SOURCE",
    "PAGE_WRITES",
    "PAGE_WRITE_EVENT",
    "SCAN_RETURNED_KEYS",
    "SPAN_PREFIX",
    "SPLIT_EVENT",
]

SCOPE: Final = "obskit.btree"
#: Operation spans are named `btree.<operation>`: btree.get, btree.put, btree.delete, btree.scan.
SPAN_PREFIX: Final = "btree."

# Attribute keys.
INDEX: Final = "btree.index"
OPERATION: Final = "btree.operation.name"
OUTCOME: Final = "btree.outcome"
PAGES_VISITED: Final = "btree.pages.visited"
KEY_SIZE: Final = "btree.key.size"
KEY: Final = "btree.key"
SCAN_RETURNED_KEYS: Final = "btree.scan.returned_keys"
NODE_TYPE: Final = "btree.node.type"
NODE_LEVEL: Final = "btree.node.level"
NODE_REASON: Final = "btree.node.reason"
#: Highest `btree.node.level` on the split/merge counters: deeper levels count as this
#: one, so the number of series stays bounded (B+trees rarely grow past 6 levels).
NODE_LEVEL_LIMIT: Final = 15
PAGE_ID: Final = "btree.page.id"
PAGE_SOURCE: Final = "btree.page.source"

# Outcome values (bounded: they label metrics).
HIT: Final = "hit"
MISS: Final = "miss"
OK: Final = "ok"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"  # asyncio cancellation: not an error

# Node types (btree.node.type).
LEAF: Final = "leaf"
INTERNAL: Final = "internal"

# Event names (on the operation span).
SPLIT_EVENT: Final = "btree.node.split"
MERGE_EVENT: Final = "btree.node.merge"
PAGE_READ_EVENT: Final = "btree.page.read"
PAGE_WRITE_EVENT: Final = "btree.page.write"

# Metric names.
OPERATION_DURATION: Final = "btree.operation.duration"
NODE_SPLITS: Final = "btree.node.splits"
NODE_MERGES: Final = "btree.node.merges"
PAGE_READS: Final = "btree.page.reads"
PAGE_WRITES: Final = "btree.page.writes"
DEPTH: Final = "btree.depth"
NODE_COUNT: Final = "btree.node.count"
KEY_COUNT: Final = "btree.key.count"

#: Microsecond-scale buckets (the OpenTelemetry database duration advice starts at 1 ms, too
#: coarse here): an in-memory lookup takes 1-50 us, a page fault from disk milliseconds; up
#: to 10 s, so a stall behind a slow disk or a lock lands in a bucket rather than +Inf. No
#: bound is over 2.5x the last.
OPERATION_BUCKETS: Final = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
    2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
RETURNED_KEYS_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

_OP_ATTRS = (INDEX, OPERATION, OUTCOME, PAGES_VISITED, KEY_SIZE, KEY, ERROR_TYPE)

CATALOGUE: Final = Catalogue(
    domain="btree",
    title="B+tree indexes (obskit.btree)",
    scope=SCOPE,
    attributes=[
        Attribute(INDEX, "string", "Name of the index the operation ran on", "users_pk"),
        Attribute(
            OPERATION,
            "string",
            "Operation: get, put, delete, scan or a custom one",
            "get",
            "modelled on db.operation.name",
        ),
        Attribute(
            OUTCOME,
            "string",
            "hit or miss for lookups, ok otherwise, error on failure, cancelled",
            HIT,
        ),
        Attribute(
            PAGES_VISITED,
            "int",
            "Nodes/pages the operation touched (logical reads)",
            4,
            "InnoDB buffer_pool_read_requests",
        ),
        Attribute(
            KEY_SIZE,
            "int",
            "Size of the key in bytes (UTF-8 for str keys)",
            16,
            "WiredTiger cursor_insert_bytes",
        ),
        Attribute(KEY, "string", "The key itself; only with record_key=True (span only)", "42"),
        Attribute(
            SCAN_RETURNED_KEYS,
            "int",
            "Keys a scan yielded",
            120,
            "analogue of db.response.returned_rows",
        ),
        Attribute(NODE_TYPE, "string", "leaf or internal", "leaf", "WiredTiger split stats"),
        Attribute(
            NODE_LEVEL,
            "int",
            "Height of the node above the leaves (0 = leaf; on the "
            f"counters capped at {NODE_LEVEL_LIMIT})",
            0,
        ),
        Attribute(
            NODE_REASON,
            "string",
            "Why the node split or merged (e.g. full, root, underflow, rebalance); events only",
            "full",
        ),
        Attribute(PAGE_ID, "int", "Page number (events only, never on metrics)", 8812),
        Attribute(
            PAGE_SOURCE,
            "string",
            "Where a page read was served from: cache or disk",
            "cache",
            "InnoDB buffer pool reads vs read requests",
        ),
        Attribute(
            ERROR_TYPE, "string", "Exception class of a failed operation", "KeyError", "semconv"
        ),
    ],
    spans=[
        SpanSpec(
            f"{SPAN_PREFIX}get", "Point lookup", attributes=_OP_ATTRS, events=(PAGE_READ_EVENT,)
        ),
        SpanSpec(
            f"{SPAN_PREFIX}put",
            "Insert or update",
            attributes=_OP_ATTRS,
            events=(SPLIT_EVENT, PAGE_READ_EVENT, PAGE_WRITE_EVENT),
        ),
        SpanSpec(
            f"{SPAN_PREFIX}delete",
            "Delete",
            attributes=_OP_ATTRS,
            events=(MERGE_EVENT, PAGE_READ_EVENT, PAGE_WRITE_EVENT),
        ),
        SpanSpec(
            f"{SPAN_PREFIX}scan",
            "Range scan; the span covers the whole iteration",
            attributes=(*_OP_ATTRS, SCAN_RETURNED_KEYS),
            events=(PAGE_READ_EVENT,),
        ),
        SpanSpec(
            f"{SPAN_PREFIX}{{operation}}",
            "Custom operations (btree.operation(name))",
            attributes=_OP_ATTRS,
            events=(SPLIT_EVENT, MERGE_EVENT, PAGE_READ_EVENT, PAGE_WRITE_EVENT),
        ),
    ],
    events=[
        EventSpec(
            SPLIT_EVENT, "A node split during the operation", (NODE_TYPE, NODE_LEVEL, NODE_REASON)
        ),
        EventSpec(
            MERGE_EVENT, "A node merged into a sibling", (NODE_TYPE, NODE_LEVEL, NODE_REASON)
        ),
        EventSpec(PAGE_READ_EVENT, "A page was read", (PAGE_ID, PAGE_SOURCE)),
        EventSpec(PAGE_WRITE_EVENT, "A page was written", (PAGE_ID,)),
    ],
    instruments=[
        Instrument(
            OPERATION_DURATION,
            "histogram",
            "s",
            "Duration of index operations",
            (INDEX, OPERATION, OUTCOME, ERROR_TYPE),
            OPERATION_BUCKETS,
        ),
        Instrument(
            NODE_SPLITS,
            "counter",
            "{split}",
            "Node splits, per type and level",
            (INDEX, NODE_TYPE, NODE_LEVEL),
        ),
        Instrument(
            NODE_MERGES,
            "counter",
            "{merge}",
            "Node merges, per type and level",
            (INDEX, NODE_TYPE, NODE_LEVEL),
        ),
        Instrument(
            PAGE_READS,
            "counter",
            "{page}",
            "Page reads, by where they were served from",
            (INDEX, PAGE_SOURCE),
        ),
        Instrument(PAGE_WRITES, "counter", "{page}", "Page writes", (INDEX,)),
        Instrument(
            DEPTH, "observable_gauge", "{level}", "Tree height (1 = root is a leaf)", (INDEX,)
        ),
        Instrument(
            NODE_COUNT, "observable_up_down_counter", "{node}", "Nodes in the tree", (INDEX,)
        ),
        Instrument(KEY_COUNT, "observable_up_down_counter", "{key}", "Keys in the tree", (INDEX,)),
    ],
)
