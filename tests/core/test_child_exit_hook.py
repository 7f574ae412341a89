"""A forked multiprocessing child runs obskit's exit hook once, not once per asker."""

from __future__ import annotations

import multiprocessing

import pytest

import obskit


def _count_exit_finalizers(results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import multiprocessing.util as mp_util

    from obskit._base import processes as _exit

    hooks = [
        entry
        for entry in list(mp_util._finalizer_registry.values())
        if getattr(entry, "_callback", None) is _exit._run_exit_hook
    ]
    results.put(len(hooks))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_child_with_queued_spans_registers_one_exit_finalizer() -> None:
    obskit.configure(service_name="child-hook", exporters=["memory"])
    try:
        # A span still queued at fork: the span queue asks for the exit flush too.
        with obskit.span("before-fork"):
            pass
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=_count_exit_finalizers, args=(results,))
        child.start()
        count = results.get(timeout=60)
        child.join(timeout=60)
    finally:
        obskit.shutdown(timeout=5)
    assert child.exitcode == 0
    assert count == 1
