"""The export path: how an ended span leaves the process.

`_queue` (obskit's span processor: a bounded queue and one worker thread per exporter)
checks each span against the byte budgets of `_budget`, batches it and hands the batch
to an exporter; `_encoder` writes OTLP protobuf bytes directly; `_exporters` holds the
built-in exporter factories (OTLP, Prometheus, console, memory), which register
themselves with the public registry `obskit.exporters`; `_console` prints span trees.
Nothing here imports the core above it (`obskit._setup` wires these parts together).
"""
