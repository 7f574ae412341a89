"""The runtime collectors: GC pauses, CPU, memory and limits of the process.

Core modules, as prometheus_client keeps its GC and process collectors: obskit._setup
starts them, `obskit.runtime` is their public face. collectors (the catalogue, gauges,
enable/disable), gc (the pause hook), process, limits, sample and runfile (snapshots and
run files), names and dashboards.
"""
