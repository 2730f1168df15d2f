"""Deliberate crash points, for the tests that prove a killed run loses nothing.

Set ``TRANSFERSCOUT_CRASH_AT=<point>:<n>`` and the process sends itself ``SIGKILL`` (a real
``kill -9``: no clean-up, no ``finally``) the ``n``-th time it reaches ``<point>``.  Points:
``started`` (a trial was just marked running), ``model_written`` (a model file is on disk but
its trial is not yet done), ``finishing`` (inside the transaction that marks a trial done,
before it commits).  Unset, this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["crash_point"]

_VARIABLE = "TRANSFERSCOUT_CRASH_AT"
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
