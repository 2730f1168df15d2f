"""Opening a run folder for a workflow: every check that needs no writing, then the lock.

Shared by the full-grid pipeline (:mod:`transferscout.pipeline`) and the pool search
(:mod:`transferscout.pool_search`): the run folder, the data and the grid are checked before
anything is written; only then is the store opened and ``config.json`` written, under the
run's lock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from transferscout.config import RunConfig
from transferscout.grid.runner import plan_trials
from transferscout.grid.spec import TrialSpec
from transferscout.grid.store import RunStore, check_run_folder, run_lock
from transferscout.tasks.task import TaskSet

__all__ = ["open_run", "plan_run"]


def plan_run(config: RunConfig, run_dir: Path) -> tuple[TaskSet, list[TrialSpec]]:
    """Every check that needs no writing: run folder, data, encoder, grid."""
    check_run_folder(run_dir)
    tasks = config.data.load()
    return tasks, plan_trials(config.grid.spec(), tasks, config.encoder.spec())


@contextlib.contextmanager
def open_run(config: RunConfig, run_dir: Path) -> Iterator[tuple[str | None, str | None]]:
    """Lock the run, open (or create) its store, then record the configuration.

    Yields the store's identity and origin; the lock is held until the block ends.
    """
    with run_lock(run_dir):
        with RunStore(run_dir) as store:
            identity = (store.identity, store.origin)
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        yield identity
