"""Metrics: SDK-backed instrument proxies and obskit's hot instruments.

proxy (meters and instruments that follow the current provider), hot (bound hot
instruments: a record is a per-thread add), cells (the per-thread value storage),
collect (how hot histograms join each reader's collection), cardinality (the limit and
its overflow count).
"""
