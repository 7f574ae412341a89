"""obskit's main demo: a tiny key-value store, traced and measured.

Run it from the repository root::

    ./dev demo            # or: python examples/demo.py

With no backend running it prints each trace as a tree and a metric summary at exit
(obskit's "console" exporter). Point it at real backends with the usual variables, e.g.
``OBSKIT_EXPORTERS=otlp,prometheus OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318``.
The domain examples (examples/btree.py, query.py, raft.py, pipeline.py) go further.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import obskit

WRITES = obskit.counter("kv.writes", unit="{write}", description="Keys written")
WAL_BYTES = obskit.histogram("kv.wal.append.size", unit="By", buckets=(64, 256, 1024, 4096))


class KeyValueStore:
    """An in-memory store with a write-ahead log and a flush to sorted runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.memtable: dict[str, str] = {}
        self.runs: list[dict[str, str]] = []
        self.wal: list[bytes] = []

    @obskit.traced("kv.put", record_args=["key"], metrics="kv.operation")
    def put(self, key: str, value: str) -> None:
        record = f"{key}={value}".encode()
        self.wal.append(record)
        WAL_BYTES.record(len(record), {"kv.store": self.name})
        WRITES.add(1, {"kv.store": self.name})
        self.memtable[key] = value
        if len(self.memtable) >= 4:
            self.flush()

    @obskit.traced("kv.flush")
    def flush(self) -> None:
        obskit.set_attribute("kv.flush.keys", len(self.memtable))
        self.runs.append(dict(sorted(self.memtable.items())))
        self.memtable.clear()

    @obskit.traced("kv.get", record_args=["key"], expected=(KeyError,), metrics="kv.operation")
    def get(self, key: str) -> str:
        if key in self.memtable:
            return self.memtable[key]
        for run in reversed(self.runs):
            if key in run:
                obskit.set_attribute("kv.runs.searched", len(self.runs))
                return run[key]
        raise KeyError(key)

    @obskit.traced("kv.scan")
    def scan(self, prefix: str) -> Iterator[tuple[str, str]]:
        merged: dict[str, str] = {}
        for run in self.runs:
            merged.update(run)
        merged.update(self.memtable)
        for key in sorted(merged):
            if key.startswith(prefix):
                yield key, merged[key]

    @obskit.traced("kv.replicate", kind=obskit.SpanKind.CLIENT)
    async def replicate(self, replicas: int) -> int:
        acks = await asyncio.gather(*(self._send(i) for i in range(replicas)))
        return sum(acks)

    @obskit.traced("kv.replicate.send")
    async def _send(self, replica: int) -> int:
        await asyncio.sleep(0.001 * (replica + 1))
        return 1


def main() -> None:
    obskit.configure(service_name="kv-demo")
    store = KeyValueStore("users")
    with obskit.span("load", attributes={"kv.store": store.name}) as load:
        for i in range(6):
            store.put(f"user:{i}", f"name-{i}")
        load.add_event("loaded", {"kv.keys": 6})
    with obskit.span("read"):
        store.get("user:1")
        try:
            store.get("user:404")
        except KeyError:
            pass  # expected: the span is not marked as an error
        found = list(store.scan("user:"))
    with obskit.span("replicate"):
        acked = asyncio.run(store.replicate(replicas=3))
    print(f"scanned {len(found)} keys, {acked} replicas acked")
    obskit.shutdown()


if __name__ == "__main__":
    main()
