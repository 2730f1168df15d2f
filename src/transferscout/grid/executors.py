"""Executors run trial payloads and hand back outcomes; the driver alone writes the store.

* ``local`` with one worker runs trials in this process;
* ``local`` with several workers runs them in a pool of spawned processes (:mod:`.pool`),
  each with its own torch thread count, each ending itself when the driver dies
  (:mod:`.lifeline`);
* ``ray`` runs them as Ray tasks on an existing cluster (``address``) or a local one.

At most ``workers`` trials are in flight at once, so a stopped driver leaves little queued
work.  A worker that dies (killed, out of memory, crashed) costs only the trial it was
running, which is started again on a fresh worker while it has attempts left
(:attr:`~transferscout.grid.worker.TrialPayload.attempts_left`) and is then failed with the
death as its reason; trials on other workers are not touched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from transferscout.errors import ConfigError
from transferscout.grid.pool import PoolExecutor, TrialQueue
from transferscout.grid.worker import (
    OnStart,
    TrialOutcome,
    TrialPayload,
    execute_trial,
    set_threads,
)

__all__ = ["Executor", "InProcessExecutor", "PoolExecutor", "RayExecutor", "make_executor"]

logger = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs payloads, calling ``on_start`` as each is handed to a worker."""

    def run(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> Iterator[TrialOutcome]:
        """Yield one outcome per payload, in completion order."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


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
        set_threads(self.threads)
        for payload in payloads:
            on_start(payload)
            yield execute_trial(payload, self.on_step)

    def close(self) -> None:
        """Nothing to release."""


def _ray_execute(payload: TrialPayload, threads: int) -> TrialOutcome:
    set_threads(threads)
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
        """Keep ``workers`` Ray tasks in flight; a lost worker's trial is retried or failed.

        A trial never raises in its task (:func:`execute_trial` returns its errors), so any
        error from Ray but a task error means the worker process or its node was lost.
        """
        ray = self._ray
        queue = TrialQueue(payloads, on_start)
        in_flight: dict[Any, TrialPayload] = {}
        while True:
            while len(in_flight) < self.workers:
                payload = queue.start_next()
                if payload is None:
                    break
                in_flight[self._remote.remote(payload, self.threads)] = payload
            if not in_flight:
                return
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                payload = in_flight.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayTaskError as error:  # raised outside the trial's guard
                    error_text = f"the Ray task failed: {error}"
                    yield TrialOutcome(trial_id=payload.trial.id, worker="ray", error=error_text)
                except ray.exceptions.RayError as error:  # the worker or its node was lost
                    reason = f"{type(error).__name__}: {error}"
                    lost = queue.worker_lost(payload, "a Ray worker", reason)
                    if lost is not None:
                        yield lost

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
