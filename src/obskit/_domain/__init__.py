"""The domain engine: what obskit.btree, .raft, .query and .pipeline are built on.

catalogue (names, attributes and instruments declared as data), operation (the one
running `Operation` and its outcomes), off (the shared no-op handed out when nothing can
record) and dashboards (panels, alerts and recording rules as data).
"""
