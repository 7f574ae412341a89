"""Tracing: how a span starts, is sampled, becomes current and ends.

sampling, recipe (the one start path per call site), handle (`span()` and `SpanHandle`),
prepared (what `@traced` decides at decoration time), wrappers (the per-call wrappers it
generates), traced (`@traced`) and timed (`@timed`).
"""
