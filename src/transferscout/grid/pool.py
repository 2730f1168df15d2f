"""A pool of spawned worker processes in which the death of one costs only its own trial.

Each worker is one process with its own pipe, holding at most one trial, so when a worker
dies (``kill -9``, the OOM killer, a segfault in a native library) the driver knows exactly
which trial it held and why it died (its exit status).  That trial is started again on a fresh
worker while it has attempts left (:attr:`TrialPayload.attempts_left`), then failed with the
death as its reason; the other workers go on with their trials untouched.

(``concurrent.futures.ProcessPoolExecutor`` cannot do this: one dead worker breaks the whole
pool, which terminates every other worker and fails every future in flight.)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from transferscout.grid.lifeline import die_with_parent
from transferscout.grid.worker import (
    OnStart,
    TrialOutcome,
    TrialPayload,
    execute_trial,
    set_threads,
    worker_died,
    worker_name,
)

__all__ = ["PoolExecutor", "TrialQueue"]

logger = logging.getLogger(__name__)

#: Seconds a stopping worker is given to exit before it is killed.
STOP_SECONDS = 5.0


def _serve(connection: Connection, threads: int, parent: int) -> None:
    """A worker's life: run each payload it is sent, send back its outcome, until told to stop."""
    die_with_parent(parent)  # a killed driver must not leave its workers training
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    set_threads(threads)
    while True:
        try:
            payload = connection.recv()
        except EOFError:  # the driver is gone or closed the pipe
            return
        if payload is None:
            return
        connection.send(execute_trial(payload))


def _exit_reason(process: BaseProcess) -> str:
    """How a dead process ended: the signal that killed it, or its exit code."""
    process.join(STOP_SECONDS)
    code = process.exitcode
    if code is None:  # its pipe broke but it lives on: end it, it can no longer be reached
        process.kill()
        process.join()
        return "its pipe to the driver broke"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class _Worker:
    """One worker process, the driver's end of its pipe, and the trial it holds."""

    def __init__(self, threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, threads, os.getpid()), name="transferscout-worker"
        )
        self.process.daemon = True  # never outlives the driver's interpreter either
        self.process.start()
        child.close()
        self.payload: TrialPayload | None = None
        self.name = worker_name(self.process.pid)

    def hand(self, payload: TrialPayload) -> None:
        """Send a payload for the worker to run."""
        self.payload = payload
        try:
            self.connection.send(payload)
        except OSError:  # a broken pipe: the worker died, which the driver's wait then sees
            pass

    def receive(self) -> TrialOutcome | None:
        """The outcome of the trial it holds; ``None`` when the worker died instead."""
        try:
            outcome: TrialOutcome = self.connection.recv()
        except (EOFError, OSError):
            return None
        self.payload = None
        return outcome

    def stop(self) -> None:
        """Ask an idle worker to exit, kill a busy one, and wait for it."""
        if self.payload is None and self.process.is_alive():
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


class TrialQueue:
    """The trials an executor starts, in order: a trial whose worker died first.

    Counts how often each trial was started by this executor call, so a trial whose worker
    keeps dying is started at most :attr:`TrialPayload.attempts_left` times.
    """

    def __init__(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> None:
        self._queue = iter(payloads)
        self._again: deque[TrialPayload] = deque()
        self._starts: dict[str, int] = {}
        self._on_start = on_start

    def start_next(self) -> TrialPayload | None:
        """The next trial to hand to a worker, marked started; ``None`` when there is none."""
        payload = self._again.popleft() if self._again else next(self._queue, None)
        if payload is not None:
            self._starts[payload.trial.id] = self._starts.get(payload.trial.id, 0) + 1
            self._on_start(payload)
        return payload

    def worker_lost(self, payload: TrialPayload, worker: str, reason: str) -> TrialOutcome | None:
        """Queue the trial of a dead worker again, or its failed outcome when out of attempts.

        ``worker`` names the dead worker in the log (``worker host:pid``, ``a Ray worker``).
        """
        trial = payload.trial
        starts = self._starts[trial.id]
        message = "%s died while running trial %s on %r (%s); "
        if starts < payload.attempts_left:
            logger.warning(
                message + "starting it again on a fresh worker (attempt %d of %d in this run)",
                *(worker, trial.id, trial.target, reason, starts + 1, payload.attempts_left),
            )
            self._again.append(payload)
            return None
        logger.warning(
            message + "no attempts left: the trial is recorded as failed",
            *(worker, trial.id, trial.target, reason),
        )
        return worker_died(payload, worker, starts, reason)


class PoolExecutor:
    """Run trials in ``workers`` spawned processes with ``threads`` torch threads each.

    Workers are started when first needed and kept across calls of :meth:`run`; a dead one is
    replaced by a fresh one.
    """

    def __init__(self, workers: int, threads: int) -> None:
        self.workers = workers
        self.threads = threads
        self._idle: list[_Worker] = []

    def run(self, payloads: Iterable[TrialPayload], on_start: OnStart) -> Iterator[TrialOutcome]:
        """Keep every worker busy; a worker's death is retried or failed for its trial alone."""
        queue = TrialQueue(payloads, on_start)
        busy: list[_Worker] = []
        try:
            while True:
                while len(busy) < self.workers:
                    payload = queue.start_next()
                    if payload is None:
                        break
                    worker = self._worker()
                    worker.hand(payload)
                    busy.append(worker)
                if not busy:
                    return
                ready = set(wait([w.connection for w in busy] + [w.process.sentinel for w in busy]))
                for worker in [w for w in busy if {w.connection, w.process.sentinel} & ready]:
                    payload = worker.payload
                    assert payload is not None
                    outcome = worker.receive()
                    busy.remove(worker)
                    if outcome is None:  # the worker died
                        reason = _exit_reason(worker.process)
                        worker.stop()
                        outcome = queue.worker_lost(payload, f"worker {worker.name}", reason)
                    else:
                        self._idle.append(worker)
                    if outcome is not None:
                        yield outcome
        finally:  # stopped early: trials still held are abandoned (a re-run runs them)
            for worker in busy:
                worker.stop()

    def _worker(self) -> _Worker:
        """An idle live worker, or a fresh one; workers that died while idle are replaced."""
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
            logger.warning(
                "worker %s died while idle (%s); starting a fresh one",
                worker.name,
                _exit_reason(worker.process),
            )
            worker.stop()
        return _Worker(self.threads)

    def close(self) -> None:
        """Stop every worker."""
        for worker in self._idle:
            worker.stop()
        self._idle.clear()
