"""Setup: the only part that writes obskit's global state.

configure (`configure()`, `flush()`, `shutdown()`, the exit hook) and build (the pure
construction of the SDK providers, exporters and span queues from `Settings`).
"""
