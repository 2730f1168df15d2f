"""The stages of a run wired together (so far: tasks -> trial grid -> signals)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transferscout.config import RunConfig
from transferscout.evaluation.run import EvaluationResult, evaluate_run
from transferscout.grid.runner import GridSummary, run_grid
from transferscout.signals.ansat_stage import compute_ansat
from transferscout.signals.pair_stage import compute_pair_signals

__all__ = ["compute_ansat_signals", "compute_pair_signals_stage", "evaluate", "train_grid"]

logger = logging.getLogger(__name__)


def train_grid(config: RunConfig, run_dir: str | Path, *, progress: bool = False) -> GridSummary:
    """Build the configured tasks and run (or continue) the configured trial grid.

    The configuration is written to ``run_dir/config.json`` for the record; the trials go to
    the run's store.  Running it again continues the same run.
    """
    run_dir = Path(run_dir)
    tasks = config.data.load()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    summary = run_grid(
        run_dir,
        tasks,
        config.grid.spec(),
        config.encoder.spec(),
        config.executor.options(),
        progress=progress,
    )
    logger.info(
        "grid: %d done, %d failed, %d pending (%d run now)",
        summary.done,
        summary.failed,
        summary.pending,
        summary.ran_now,
    )
    return summary


def compute_ansat_signals(config: RunConfig, run_dir: str | Path, *, progress: bool = False) -> int:
    """Attribute the run's single-task models and store ANSAT for every ordered task pair."""
    tasks = config.data.load()
    return compute_ansat(run_dir, tasks, config.signals.ansat.settings(), progress=progress)


def compute_pair_signals_stage(
    config: RunConfig, run_dir: str | Path, *, progress: bool = False
) -> int:
    """Store task embeddings, estimator scores and baselines for every ordered task pair."""
    tasks = config.data.load()
    return compute_pair_signals(run_dir, tasks, config.signals.pairs.settings(), progress=progress)


def evaluate(config: RunConfig, run_dir: str | Path) -> EvaluationResult:
    """Fit the meta-models leave-one-target-out and write every metric to ``run_dir/evaluation``."""
    return evaluate_run(run_dir, config.evaluation.settings())
