"""Progress of a run, read from its store without taking the writer's lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transferscout.grid.models import trial_degenerate
from transferscout.grid.store import Recreation, RunStore, TrialRow

__all__ = ["RunStatus", "run_status"]


@dataclass(frozen=True)
class RunStatus:
    """Counts per status, failures, throughput and an estimate of the time left.

    Attributes:
        counts: Trials per status (pending, running, done, failed).
        failures: Failed trials, with their errors.
        trials_per_hour: Finished trials per wall-clock hour over the span of finished work.
        eta_seconds: Pending and running trials divided by that rate (``None`` before any
            trial has finished).
        training_hours: Sum of the training time of finished trials (each as first
            measured: a model trained again after its file was lost is not counted again).
        recreations: Finished trainings again of trials whose model file was lost.
        degenerate: Finished trials whose model is degenerate (predicts one class for
            nearly every validation example, or a constant), each with the reason.
    """

    counts: dict[str, int]
    failures: list[TrialRow]
    trials_per_hour: float | None
    eta_seconds: float | None
    training_hours: float
    recreations: list[Recreation] = field(default_factory=list)
    degenerate: list[tuple[TrialRow, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of trials."""
        return sum(self.counts.values())

    @property
    def degenerate_targets(self) -> list[str]:
        """The targets of the degenerate models, sorted."""
        return sorted({row.target for row, _ in self.degenerate})


def run_status(run_dir: str | Path) -> RunStatus:
    """Read the status of the run in ``run_dir``."""
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows()
        counts = store.counts()
        recreations = [r for r in store.recreations() if r.finished_at is not None]
    finished = [r for r in rows if r.status == "done" and r.started_at and r.finished_at]
    rate = None
    eta = None
    if finished:
        start = min(r.started_at for r in finished if r.started_at is not None)
        end = max(r.finished_at for r in finished if r.finished_at is not None)
        span = max(end - start, 1e-9)
        rate = len(finished) / span * 3600
        left = counts["pending"] + counts["running"]
        eta = left / rate * 3600 if rate > 0 else None
    hours = sum(r.target_seconds or 0.0 for r in rows if r.status == "done") / 3600
    failures = [r for r in rows if r.status == "failed"]
    degenerate = [
        (r, reason)
        for r in rows
        if r.status == "done" and (reason := trial_degenerate(r)) is not None
    ]
    return RunStatus(counts, failures, rate, eta, hours, recreations, degenerate)
