"""Tie a worker process's life to its parent's: a worker never outlives the driver.

A pool worker whose driver is killed (``kill -9`` included) would otherwise go on training a
trial nobody will record, holding its memory, and then wait forever.  Two mechanisms, either
enough on its own: on Linux the kernel sends the worker SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); everywhere, a daemon thread checks once a second whether the
parent is still the one that started the worker, and ends the process if not.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the watchdog thread.
POLL_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` (the pid that started it) is gone.

    Call it first thing in a worker process.  The kernel signal is tied to the thread that
    created the worker; pools here are created by the driver's main thread.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError) as error:  # not fatal: the watchdog still works
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", error)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)  # no clean-up: the trial's result has nowhere to go
