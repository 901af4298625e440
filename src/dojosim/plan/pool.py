"""Worker processes that die with the process that started them.

`kill -9` of a sweep or a search gives its pool workers no chance to be told; left alone they
block forever on their task queue. Every pool dojosim starts goes through `process_pool`, whose
workers (1) ask Linux to kill them when their parent dies (``PR_SET_PDEATHSIG``), and (2) on
every platform run a watchdog thread that exits the worker once its parent is gone (its parent
id changes when it is re-parented).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from ..limits import cap_workers

# How often a worker looks for its parent. The issue's bound is "no worker alive 5 s after the
# main process is killed"; PDEATHSIG makes it immediate on Linux, this covers other systems.
WATCH_S = 0.5
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int, init=None, initargs: tuple = ()) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl (e.g. a static musl build): the thread covers it
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCH_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="dojosim-parent-watch", daemon=True).start()
    if init is not None:
        init(*initargs)


def process_pool(workers: int | None, *, mp_context=None, initializer=None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A `ProcessPoolExecutor` of at most as many workers as cores, each dying with this process."""
    return ProcessPoolExecutor(max_workers=cap_workers(workers), mp_context=mp_context,
                               initializer=_die_with_parent, initargs=(os.getpid(), initializer, initargs))
