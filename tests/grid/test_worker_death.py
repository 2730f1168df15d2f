"""A worker process that dies (``kill -9``, the OOM killer, a segfault) costs only its own trial.

Each test kills a real worker: from outside (a thread of the test sends SIGKILL to one busy
worker process while the driver runs in the main thread) or from inside (the
``die:<task>`` fault kills the worker of every trial on that task).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from transferscout.encoders import EncoderSpec
from transferscout.errors import TransferScoutError
from transferscout.grid.runner import ExecutionOptions, GridSummary, run_grid
from transferscout.grid.spec import GridSpec, StageSettings, settings_grid
from transferscout.grid.store import RunStore
from transferscout.tasks import TaskSet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

#: One single-task trial per task.
SETTINGS = settings_grid(learning_rate=[1e-3], epochs=[2], max_length=[32])
#: Long enough (a few seconds a trial) that a worker is killed in the middle of a trial.
SLOW_SETTINGS = settings_grid(learning_rate=[1e-3, 3e-3], epochs=[40], max_length=[32])
#: Ray starts its two workers seconds apart on a busy machine: trials long enough to overlap.
RAY_SLOW_SETTINGS = settings_grid(learning_rate=[1e-3, 3e-3], epochs=[160], max_length=[32])


def _descendants(pid: int) -> Iterator[int]:
    """The processes below ``pid``; one that ends while this reads /proc is skipped."""
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
        return
    for thread in threads:
        try:
            children = (thread / "children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
        for child in map(int, children):
            yield child
            yield from _descendants(child)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def _running(run_dir: Path) -> int:
    try:
        with RunStore(run_dir, readonly=True) as store:
            return store.counts()["running"]
    except (sqlite3.OperationalError, TransferScoutError):  # not created yet
        return 0


class Killer(threading.Thread):
    """Send SIGKILL once to one busy worker process, while two are busy.

    It waits for the condition itself, not for a time: two workers busy (``workers`` and
    ``ready``), still both busy 2 s later (well inside their trials, not at a hand-over) —
    else it watches on.  Whatever the watcher meets (a process that ends while it reads it)
    is kept in ``error`` for the test to report, never a silent end of the thread.
    """

    def __init__(self, workers: Callable[[], list[int]], ready: Callable[[], bool]) -> None:
        super().__init__(daemon=True)
        self.workers = workers
        self.ready = ready
        self.killed: int | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self._watch()
        except BaseException as error:  # reported by the test
            self.error = error

    def _busy(self) -> list[int]:
        workers = self.workers()
        return workers if len(workers) == 2 and self.ready() else []

    def _watch(self) -> None:
        while not self.stop.is_set():
            busy = self._busy()
            if busy and not self.stop.wait(2.0) and self._busy() == busy:
                try:
                    os.kill(busy[0], signal.SIGKILL)
                except ProcessLookupError:  # it ended just now: watch for the next pair
                    continue
                self.killed = busy[0]
                return
            time.sleep(0.05)


def _pool_workers() -> list[int]:
    return sorted(p for p in _descendants(os.getpid()) if b"spawn_main" in _cmdline(p))


def _busy_ray_workers() -> list[int]:
    """Ray names a worker process after the task it runs (``ray::IDLE`` when idle)."""
    return sorted(
        p for p in _descendants(os.getpid()) if _cmdline(p).startswith(b"ray::_ray_execute")
    )


def _rows(run_dir: Path) -> dict[str, tuple[str, str, int, str | None, dict | None]]:
    with RunStore(run_dir, readonly=True) as store:
        return {r.id: (r.target, r.status, r.attempts, r.error, r.metrics) for r in store.rows()}


def _run_and_kill(
    run_dir: Path,
    tasks: TaskSet,
    encoder: Path,
    options: ExecutionOptions,
    workers: Callable[[], list[int]],
    ready: Callable[[], bool],
    settings: tuple[StageSettings, ...] = SLOW_SETTINGS,
) -> tuple[GridSummary, int | None]:
    grid = GridSpec(targets=("food",), sources=(), target_settings=settings)  # 2 trials
    killer = Killer(workers, ready)
    killer.start()
    try:
        summary = run_grid(run_dir, tasks, grid, EncoderSpec(str(encoder)), options)
    finally:
        killer.stop.set()
        killer.join()
    if killer.error is not None:
        raise AssertionError(f"the watcher thread failed: {killer.error!r}") from killer.error
    return summary, killer.killed


def _assert_only_the_killed_trial_ran_again(summary: GridSummary, run_dir: Path) -> None:
    rows = _rows(run_dir)
    assert (summary.total, summary.done, summary.failed, summary.pending) == (2, 2, 0, 0)
    # the killed worker's trial ran twice; the other worker's, in flight beside it, once
    assert sorted(attempts for _, _, attempts, _, _ in rows.values()) == [1, 2]
    assert all(status == "done" and error is None for _, status, _, error, _ in rows.values())


def _assert_the_dying_task_failed_alone(summary: GridSummary, run_dir: Path, reason: str) -> None:
    rows = _rows(run_dir)
    assert (summary.total, summary.done, summary.failed, summary.retryable) == (3, 2, 1, 0)
    for target, status, attempts, error, _ in rows.values():
        if target == "shelter":  # killed its worker on each of its 2 attempts
            assert (status, attempts) == ("failed", 2)
            assert error is not None
            assert error.startswith(
                "its worker process died while running it, on each of its 2 attempts in this "
                f"run (last: {reason}"
            )
        else:  # ran once, on healthy workers, untouched by the deaths next to them
            assert (status, attempts, error) == ("done", 1, None)


def test_a_pool_worker_killed_mid_trial_costs_only_its_trial_which_runs_again(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path
) -> None:
    run_dir = tmp_path / "run"
    options = ExecutionOptions(workers=2, threads_per_worker=1, device="cpu", max_attempts=2)
    summary, killed = _run_and_kill(
        run_dir, tasks, tiny_encoder_dir, options, _pool_workers, lambda: _running(run_dir) == 2
    )
    assert killed is not None, "never saw two busy workers"
    _assert_only_the_killed_trial_ran_again(summary, run_dir)


def test_a_trial_that_kills_its_pool_worker_every_time_fails_with_the_reason(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFERSCOUT_FAIL_TASK", "die:shelter")
    options = ExecutionOptions(workers=2, threads_per_worker=1, device="cpu", max_attempts=2)
    grid = GridSpec(sources=(), target_settings=SETTINGS)
    encoder = EncoderSpec(str(tiny_encoder_dir))
    summary = run_grid(tmp_path, tasks, grid, encoder, options)
    _assert_the_dying_task_failed_alone(summary, tmp_path, "killed by SIGKILL")
    finished = {i: row for i, row in _rows(tmp_path).items() if row[1] == "done"}
    assert run_grid(tmp_path, tasks, grid, encoder, options).ran_now == 0  # out of attempts
    # Fixed, with one more attempt allowed: a re-run runs only the failed trial.
    monkeypatch.delenv("TRANSFERSCOUT_FAIL_TASK")
    fixed = run_grid(tmp_path, tasks, grid, encoder, replace(options, workers=1, max_attempts=3))
    assert (fixed.ran_now, fixed.done) == (1, 3)
    rows = _rows(tmp_path)
    assert all(rows[i] == row for i, row in finished.items())  # finished trials kept as they were
    assert sorted(attempts for _, _, attempts, _, _ in rows.values()) == [1, 1, 3]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray instance; its workers kill themselves on trials of ``shelter``."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"TRANSFERSCOUT_FAIL_TASK": "die:shelter"}},
    )
    try:
        yield
    finally:
        ray.shutdown()


RAY = ExecutionOptions(executor="ray", workers=2, threads_per_worker=1, device="cpu")


def test_a_ray_worker_killed_mid_trial_costs_only_its_trial_which_runs_again(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, local_ray: None
) -> None:
    run_dir = tmp_path / "run"
    summary, killed = _run_and_kill(
        run_dir, tasks, tiny_encoder_dir, RAY, _busy_ray_workers, lambda: True, RAY_SLOW_SETTINGS
    )
    assert killed is not None, "never saw two busy Ray workers"
    _assert_only_the_killed_trial_ran_again(summary, run_dir)


def test_a_trial_that_kills_its_ray_worker_every_time_fails_with_the_reason(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, local_ray: None
) -> None:
    grid = GridSpec(sources=(), target_settings=SETTINGS)
    summary = run_grid(tmp_path, tasks, grid, EncoderSpec(str(tiny_encoder_dir)), RAY)
    _assert_the_dying_task_failed_alone(summary, tmp_path, "WorkerCrashedError: ")
