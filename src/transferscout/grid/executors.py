"""Executors run trial payloads and hand back outcomes; the driver alone writes the store.

* ``local`` with one worker runs trials in this process;
* ``local`` with several workers runs them in a pool of spawned processes, each with its own
  torch thread count, each ending itself when the driver dies (:mod:`.lifeline`);
* ``ray`` runs them as Ray tasks on an existing cluster (``address``) or a local one.

At most ``workers`` trials are in flight at once, so a stopped driver leaves little queued
work and a dead worker takes down at most the trials it could have been running.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from transferscout.errors import ConfigError
from transferscout.grid.lifeline import die_with_parent
from transferscout.grid.worker import TrialOutcome, TrialPayload, execute_trial, worker_name

__all__ = ["Executor", "InProcessExecutor", "PoolExecutor", "RayExecutor", "make_executor"]

logger = logging.getLogger(__name__)

OnStart = Callable[[TrialPayload], None]


class Executor(Protocol):
    """Runs payloads, calling ``on_start`` as each is handed to a worker."""

    def run(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> Iterator[TrialOutcome]:
        """Yield one outcome per payload, in completion order."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)


class InProcessExecutor:
    """Run trials one after another in this process.

    ``on_step(step, total)``, when set, is called after every training step (a step bar).
    """

    def __init__(
        self, threads: int | None = None, on_step: Callable[[int, int], None] | None = None
    ) -> None:
        self.threads = threads
        self.on_step = on_step

    def run(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> Iterator[TrialOutcome]:
        """Run each payload here, in order."""
        _set_threads(self.threads)
        for payload in payloads:
            on_start(payload)
            yield execute_trial(payload, self.on_step)

    def close(self) -> None:
        """Nothing to release."""


def _pool_initializer(threads: int, parent: int) -> None:
    die_with_parent(parent)  # a killed driver must not leave its workers training
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _set_threads(threads)


class PoolExecutor:
    """Run trials in ``workers`` spawned processes with ``threads`` torch threads each."""

    def __init__(self, workers: int, threads: int) -> None:
        self.workers = workers
        self.threads = threads
        self._pool: futures.ProcessPoolExecutor | None = None

    def _new_pool(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_pool_initializer,
            initargs=(self.threads, os.getpid()),
        )

    def run(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> Iterator[TrialOutcome]:
        """Keep every worker busy; a dead worker fails the trials that were in flight.

        When a worker dies, the pool is broken for every trial it holds: those trials are
        reported failed (their attempt counts) and a new pool takes the remaining ones.
        """
        queue = iter(payloads)
        in_flight: dict[futures.Future[TrialOutcome], TrialPayload] = {}
        waiting: TrialPayload | None = None
        while True:
            self._pool = self._pool or self._new_pool()
            broken = False
            while len(in_flight) < self.workers:
                waiting = waiting or next(queue, None)
                if waiting is None:
                    break
                try:
                    future = self._pool.submit(execute_trial, waiting)
                except BrokenProcessPool:  # a worker died since the last wait
                    broken = True
                    break
                on_start(waiting)
                in_flight[future], waiting = waiting, None
            if not broken:
                if not in_flight:
                    return
                done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del in_flight[future]
                    yield outcome
            if broken:
                if not in_flight and waiting is not None:  # a fresh pool that cannot work
                    on_start(waiting)
                    yield _died(waiting, "the worker pool broke before the trial could start")
                    waiting = None
                for payload in in_flight.values():
                    yield _died(payload, "a worker process of the pool died while it ran")
                in_flight.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def close(self) -> None:
        """Shut the pool down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _died(payload: TrialPayload, message: str) -> TrialOutcome:
    return TrialOutcome(trial_id=payload.trial.id, worker=worker_name(), error=message)


def _ray_execute(payload: TrialPayload, threads: int) -> TrialOutcome:
    _set_threads(threads)
    return execute_trial(payload)


class RayExecutor:
    """Run trials as Ray tasks, on the cluster at ``address`` or on a local Ray instance."""

    def __init__(self, workers: int, threads: int, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "executor 'ray' needs Ray; install the extra: pip install 'transferscout[ray]'"
            ) from None
        self._ray = ray
        self.workers = workers
        self.threads = threads
        self._started_here = not ray.is_initialized()
        if self._started_here:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=workers * threads, **options)
        self._remote = ray.remote(num_cpus=threads, max_retries=0)(_ray_execute)

    def run(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> Iterator[TrialOutcome]:
        """Keep ``workers`` Ray tasks in flight; a crashed task fails its trial."""
        ray = self._ray
        queue = iter(payloads)
        in_flight: dict[Any, TrialPayload] = {}
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < self.workers:
                payload = next(queue, None)
                if payload is None:
                    exhausted = True
                    break
                on_start(payload)
                in_flight[self._remote.remote(payload, self.threads)] = payload
            if not in_flight:
                return
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                payload = in_flight.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as error:  # a crashed worker or a lost node
                    yield _died(payload, f"the Ray task failed: {type(error).__name__}: {error}")

    def close(self) -> None:
        """Shut down the Ray instance if this executor started it."""
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


#: Most workers the automatic choice starts.
MAX_AUTO_WORKERS = 8


def make_executor(
    kind: str,
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    address: str | None = None,
) -> Executor:
    """Build an executor: ``local`` (in-process when ``workers`` is 1) or ``ray``.

    ``workers=None`` means one worker per core (at most :data:`MAX_AUTO_WORKERS`); threads
    per worker default to the cores divided among the workers.
    """
    cores = os.cpu_count() or 1
    workers = workers if workers is not None else min(cores, MAX_AUTO_WORKERS)
    if workers < 1:
        raise ConfigError(f"executor.workers = {workers}; expected at least 1")
    threads = threads_per_worker or max(1, cores // workers)
    if kind == "local":
        return InProcessExecutor(threads) if workers == 1 else PoolExecutor(workers, threads)
    if kind == "ray":
        return RayExecutor(workers, threads, address)
    raise ConfigError(f"executor.kind = {kind!r}; expected 'local' or 'ray'")
