"""The base of obskit: what every other part may use and which uses nothing of obskit.

log (obskit's own logger, each problem once per interval), env (reading environment
variables), names (attribute keys, event and core metric names), context (the current
context read and set without the OpenTelemetry API's layers) and processes
(multiprocessing children and the exit hook).
"""
