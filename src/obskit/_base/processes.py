"""Flushing spans in `multiprocessing` children, whatever the start method.

Children do not leave through the interpreter's normal exit: a fork or forkserver child
and every Pool worker end with `os._exit()` after their target (no `atexit`), and
`with Pool(...)` ends its workers with SIGTERM. What does run:

* `multiprocessing.util` finalizers, which `Process._bootstrap` runs after the target.
  Its start clears the ones registered before, so the finalizer is registered from an
  after-fork callback (which `_bootstrap` runs next, under every start method) or, when
  `configure()` runs inside a child's target, directly;
* a SIGTERM handler, installed in a child only where SIGTERM still has its default
  action: it flushes within the shutdown budget on a helper thread, then restores the
  default action and lets the signal end the process as it would have (when a shutdown
  is already under way, it lets that one finish and ends the process at its budget).

A child killed with SIGKILL, or calling `os._exit()` itself, cannot be flushed: call
`obskit.shutdown()` before (docs/reliability.md, "Processes").
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from obskit._base.log import log_once

__all__ = ["on_configure"]


def flush_at_multiprocessing_exit() -> None:
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


_OWNER = _HookOwner()
_registered_in: list[int] = []  # pids where the after-fork callback is registered
_hooked_pid = [0]  # the pid whose exit is hooked (a fork child inherits the parent's value)


def on_configure(on_terminate: Callable[[], float | None]) -> None:
    """Called by `configure()`: hook this process's children, and itself if it is one.

    `on_terminate` runs when SIGTERM ends a child: it flushes (bounded) and returns None,
    or returns how long to let a shutdown already under way finish.
    """
    _terminate[0] = on_terminate
    try:
        # Imported here (once per process, a few ms inside configure()): a program that
        # imports multiprocessing after configure() must still have its children hooked.
        import multiprocessing.util as mp_util

        if os.getpid() not in _registered_in:
            _registered_in.append(os.getpid())
            mp_util.register_after_fork(_OWNER, _hook_exit)
        process = sys.modules.get("multiprocessing.process")
        if process is not None and process.parent_process() is not None:
            _hook_exit(_OWNER)  # configured inside a child's target: bootstrap is past
    except Exception:
        log_once("fork-finalizer", "cannot hook multiprocessing exit", exc_info=True)


def _no_terminate_hook() -> float | None:
    return None


_terminate: list[Callable[[], float | None]] = [_no_terminate_hook]


def _hook_exit(owner: object) -> None:
    if _hooked_pid[0] == os.getpid():
        return
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    _hooked_pid[0] = os.getpid()
    register_exit_finalizer()  # obskit's atexit shutdown, once per process
    _flush_on_sigterm()


def _flush_on_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        pass  # no SIGTERM on this platform, or not allowed here


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        wait = _terminate[0]()
        if wait is not None:
            # A shutdown is under way, usually the exit hook of a Pool worker told to
            # stop just before terminate(): let it finish on the thread it runs on, and
            # end the process at its budget if it has not ended by then.
            later = threading.Timer(wait, os.kill, (os.getpid(), signal.SIGTERM))
            later.daemon = True
            later.start()
            return
    except Exception:
        pass
    os.kill(os.getpid(), signal.SIGTERM)  # the default action now: end as SIGTERM would
