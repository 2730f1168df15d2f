"""Deliberate crash points, for the tests that prove a killed run loses nothing.

Set ``TRANSFERSCOUT_CRASH_AT=<point>:<n>`` and the process sends itself ``SIGKILL`` (a real
``kill -9``: no clean-up, no ``finally``) the ``n``-th time it reaches ``<point>``.  Points:
``started`` (a trial was just marked running), ``model_written`` (a model file is on disk but
its trial is not yet done), ``finishing`` (inside the transaction that marks a trial done,
before it commits).  Unset, this costs one dictionary lookup.

``TRANSFERSCOUT_FAIL_TASK=<mode>:<task>`` makes every trial whose target is ``<task>`` fail
in its worker: ``raise`` raises an exception, ``die`` kills the worker process outright.

``TRANSFERSCOUT_STORE_PAGES=<n>`` lets a run's store grow by at most ``n`` pages from its
size when a writer opens it (SQLite's own ``max_page_count``): past that, SQLite itself
answers "database or disk is full", exactly as on a full disk.
"""

from __future__ import annotations

import os
import signal

__all__ = ["InjectedFailure", "crash_point", "store_growth_limit", "trial_fault"]

_VARIABLE = "TRANSFERSCOUT_CRASH_AT"
_TASK_VARIABLE = "TRANSFERSCOUT_FAIL_TASK"
_STORE_VARIABLE = "TRANSFERSCOUT_STORE_PAGES"


class InjectedFailure(RuntimeError):
    """The failure asked for by ``TRANSFERSCOUT_FAIL_TASK``."""


_reached: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if the environment asks for a crash here, now."""
    wanted = os.environ.get(_VARIABLE)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def trial_fault(target: str) -> None:
    """Fail (or kill this worker) if the environment asks for it for trials on ``target``."""
    wanted = os.environ.get(_TASK_VARIABLE)
    if not wanted:
        return
    mode, _, task = wanted.partition(":")
    if task != target:
        return
    if mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFailure(f"injected failure for task {target!r}")


def store_growth_limit() -> int | None:
    """How many pages a writer may add to the run's store, if the environment limits it."""
    wanted = os.environ.get(_STORE_VARIABLE)
    return None if not wanted else int(wanted)
