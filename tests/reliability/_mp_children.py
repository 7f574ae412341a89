"""multiprocessing children under one start method, each making one span per task.

Run as ``python _mp_children.py <start method>``: Process children, a Pool ended with
close()/join() and a ``with Pool`` (which terminates its workers) in turn. Nobody calls
`obskit.shutdown()` in a child: the spans must be delivered by obskit's own exit
handling. Under spawn and forkserver a child configures obskit itself (in the task, or
at import for the ``with Pool`` workers through the initializer); under fork it inherits
the parent's setup.
"""

from __future__ import annotations

import multiprocessing
import sys

import obskit


def ensure_configured() -> None:
    if obskit.telemetry() is None:
        obskit.configure(service_name="mp-child")


def work(tag: str) -> str:
    ensure_configured()
    with obskit.span("child.work", attributes={"tag": tag}):
        pass
    return tag


def main(method: str) -> None:
    obskit.configure(service_name="mp-parent")
    context = multiprocessing.get_context(method)
    processes = [context.Process(target=work, args=(f"process-{i}",)) for i in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    pool = context.Pool(2)
    assert pool.map(work, [f"pool-{i}" for i in range(4)]) == [f"pool-{i}" for i in range(4)]
    pool.close()
    pool.join()
    with context.Pool(2, initializer=ensure_configured) as pool:
        pool.map(work, [f"with-pool-{i}" for i in range(4)])
    obskit.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
