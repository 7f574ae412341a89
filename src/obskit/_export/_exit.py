"""obskit's exit hook in `multiprocessing` children, which end with `os._exit()` and skip atexit.

obskit._setup installs its shutdown here (`set_exit_hook`); the span queue calls
`_flush_at_multiprocessing_exit` in a forked child that still has spans to deliver.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from obskit._log import log_once


def _flush_at_multiprocessing_exit() -> None:
    """In a `multiprocessing` child, run obskit's exit hook before `os._exit`.

    A fork-started `multiprocessing.Process` ends with `os._exit()` after its target, so
    `atexit` never runs and its spans would be lost; it does run `multiprocessing.util`
    finalizers. Those registered before `Process._bootstrap` are cleared there, so the
    finalizer is registered from an after-fork callback, which `_bootstrap` runs next.
    """
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    try:
        mp_util.register_after_fork(_MP_HOOK_OWNER, _register_mp_finalizer)
    except Exception:
        log_once("fork-finalizer", "cannot hook multiprocessing exit", exc_info=True)


class _HookOwner:
    """A weak-referenceable owner for the multiprocessing after-fork registration."""


_MP_HOOK_OWNER = _HookOwner()


def _register_mp_finalizer(owner: object) -> None:
    register_exit_finalizer()


_finalized_pid = [0]  # the pid whose exit runs the hook (a fork child inherits the value)


def register_exit_finalizer() -> None:
    """Run obskit's exit hook when this `multiprocessing` child exits: once per process.

    Both the span queue (a forked child with spans to deliver) and `configure()` (every
    start method) ask for it; a second finalizer would run the shutdown twice.
    """
    if _finalized_pid[0] == os.getpid():
        return
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        _finalized_pid[0] = os.getpid()
        mp_util.Finalize(None, _run_exit_hook, exitpriority=0)


def _no_exit_hook() -> None:
    pass


# obskit._setup (above this module) installs its exit hook here when it is imported.
_exit_hook: Callable[[], None] = _no_exit_hook


def set_exit_hook(hook: Callable[[], None]) -> None:
    """Run `hook` (obskit's `atexit` shutdown) when a `multiprocessing` child exits."""
    global _exit_hook
    _exit_hook = hook


def _run_exit_hook() -> None:
    _exit_hook()
