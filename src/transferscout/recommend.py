"""The Recommend workflow: rank source tasks (and settings) for a new target, training no pair.

Given a finished run (its tasks, single-task models and, ideally, its transfer grid) and a new
target task, this trains only the target's missing single-task model(s) into the run, computes
the signals of every (source → new target) pair, and predicts the transfer F1 of each candidate
(source, source settings, target settings) with a ``TransferRegressor`` fitted on all of the
run's finished transfer trials.  The interval is ± 1.96 × the meta-model's leave-one-target-out
RMSE on the run.  Without finished transfer trials in the run, the documented fallback ranks
sources by the TaskEmb reciprocal-rank fusion score (Vu et al.'s best-performing signal) and
predicts no F1.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.checks import check_before_training
from transferscout.config import RunConfig, load_run_config
from transferscout.errors import ConfigError, DataError
from transferscout.grid.executors import Executor
from transferscout.grid.runner import plan_trials, run_trials
from transferscout.grid.spec import GridSpec
from transferscout.grid.store import RunStore, TrialRow
from transferscout.meta.features import (
    FEATURE_SETS,
    HYPERPARAMETERS,
    candidate_table,
    feature_columns,
    pivot_signals,
)
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out
from transferscout.signals.ansat_stage import compute_ansat
from transferscout.signals.pair_stage import compute_pair_signals
from transferscout.targets import check_not_degenerate
from transferscout.tasks.task import Task, TaskSet

__all__ = [
    "MetaModelHistory",
    "Recommendation",
    "candidate_frame",
    "meta_model_history",
    "recommend_sources",
    "target_signals",
    "train_reference",
    "with_target",
]

logger = logging.getLogger(__name__)


@dataclass
class Recommendation:
    """A ranked table of candidates for a new target, and how it was ranked."""

    table: pd.DataFrame
    method: str
    suggested_budget: int | None


@dataclass(frozen=True)
class MetaModelHistory:
    """The finished transfer trials a meta-model learns from, and how well it generalises.

    Attributes:
        table: Candidate rows with ``real_f1`` (never a row whose target is the new target).
        columns: Feature columns (of the richest feature set both tables have).
        feature_set: Its name.
        rmse: Leave-one-target-out RMSE of the meta-model on ``table``.
    """

    table: pd.DataFrame
    columns: list[str]
    feature_set: str
    rmse: float


def with_target(sources: TaskSet, target: Task) -> TaskSet:
    """The run's tasks plus a new target (refused if its name is already a task's)."""
    if target.name in sources:
        raise DataError(
            f"the new target's name {target.name!r} is already a task of the run",
            expected="a different name (--name), or `search --target` for a task of the run",
        )
    return TaskSet((*sources.tasks, target), sources.source)


def train_reference(
    run_dir: Path,
    tasks: TaskSet,
    name: str,
    config: RunConfig,
    *,
    progress: bool = False,
    executor: Executor | None = None,
) -> list[TrialRow]:
    """Train (or read) the target's single-task models; refuse a degenerate target."""
    grid = config.grid.spec()
    trials = plan_trials(
        GridSpec(
            targets=(name,),
            sources=(),
            target_settings=grid.target_settings,
            seeds=grid.seeds,
            precision=grid.precision,
        ),
        tasks,
        config.encoder.spec(),
    )
    with RunStore(run_dir, readonly=True) as store:
        finished = all(
            (row := store.row(t.id)) is not None and row.status == "done" for t in trials
        )
    if not finished:  # finished ones are only read, even if their weights are not on disk
        run_trials(
            run_dir, tasks, trials, config.executor.options(), executor=executor, progress=progress
        )
    with RunStore(run_dir, readonly=True) as store:
        rows = [row for t in trials if (row := store.row(t.id)) is not None]
    check_not_degenerate(tasks[name], rows)
    return rows


def target_signals(
    run_dir: Path, tasks: TaskSet, name: str, config: RunConfig, *, progress: bool = False
) -> pd.DataFrame:
    """Every (source -> ``name``) pair's signals, one row per source (computed if missing)."""
    compute_ansat(
        run_dir,
        tasks,
        config.signals.ansat.settings(),
        progress=progress,
        targets=[name],
        cost_prefix="rank:",
        device=config.executor.device,
    )
    compute_pair_signals(
        run_dir,
        tasks,
        config.signals.pairs.settings(),
        progress=progress,
        targets=[name],
        cost_prefix="rank:",
        device=config.executor.device,
    )
    with RunStore(run_dir, readonly=True) as store:
        signals = pivot_signals([r for r in store.pair_signals() if r["target"] == name])
    return signals[signals["source"] != name].reset_index(drop=True)


def candidate_frame(signals: pd.DataFrame, grid: GridSpec) -> pd.DataFrame:
    """One row per (source, source settings, target settings), with the pair's signals."""
    rows = []
    for source_settings, target_settings in itertools.product(
        grid.source_settings, grid.target_settings
    ):
        for _, pair in signals.iterrows():
            rows.append(
                {
                    **pair.to_dict(),
                    "source_learning_rate": source_settings.learning_rate,
                    "source_epochs": source_settings.epochs,
                    "source_batch_size": source_settings.batch_size,
                    "target_learning_rate": target_settings.learning_rate,
                    "target_epochs": target_settings.epochs,
                    "target_batch_size": target_settings.batch_size,
                }
            )
    return pd.DataFrame(rows)


def meta_model_history(
    run_dir: Path, candidates: pd.DataFrame, *, exclude_target: str
) -> MetaModelHistory | None:
    """The run's finished transfer candidates of other targets (``None``: fewer than two)."""
    try:
        history = candidate_table(run_dir)
    except ConfigError:
        return None
    keep = (history["source"] != history["target"]) & (history["target"] != exclude_target)
    history = history[keep].reset_index(drop=True)
    if history["target"].nunique() < 2:
        return None
    feature_set = next(
        (f for f in reversed(FEATURE_SETS) if _available(history, candidates, f)), None
    )
    if feature_set is None:  # the new target lacks every signal the history has
        return None
    columns = feature_columns(history, feature_set)
    real = history["real_f1"].to_numpy(dtype=float)
    loto = leave_one_target_out(history, columns)
    rmse = float(np.sqrt(np.mean((loto - real) ** 2)))
    return MetaModelHistory(history, columns, feature_set, rmse)


def recommend_sources(
    run_dir: str | Path,
    target: TaskSet,
    *,
    config: RunConfig | None = None,
    progress: bool = False,
) -> Recommendation:
    """Rank the run's tasks as sources for the single task in ``target``.

    Raises:
        DataError: ``target`` does not hold exactly one task, its name is a source's, or it
            is degenerate (its single-task models never predict one of its classes).
    """
    run_dir = Path(run_dir)
    config = config or load_run_config(run_dir)
    if len(target) != 1:
        raise DataError(
            f"the target must be one task; got {len(target)} ({', '.join(target.names)})"
        )
    (name,) = target.names
    check_before_training(config)
    combined = with_target(config.data.load(), target[name])
    train_reference(run_dir, combined, name, config, progress=progress)
    signals = target_signals(run_dir, combined, name, config, progress=progress)
    candidates = candidate_frame(signals, config.grid.spec())
    history = meta_model_history(run_dir, candidates, exclude_target=name)
    if history is None:
        logger.warning("the run has no transfer trials to learn from: ranking by TaskEmb RRF")
        table = candidates.assign(predicted_f1=np.nan, low=np.nan, high=np.nan)
        table = table.sort_values("taskemb_rrf", ascending=False)
        return Recommendation(_shown(table), "fallback: TaskEmb reciprocal-rank fusion", None)
    real = history.table["real_f1"].to_numpy(dtype=float)
    model = TransferRegressor().fit(history.table[history.columns].to_numpy(dtype=float), real)
    predicted = model.predict(candidates[history.columns].to_numpy(dtype=float))
    error = history.rmse
    table = candidates.assign(
        predicted_f1=predicted, low=predicted - 1.96 * error, high=predicted + 1.96 * error
    )
    table = table.sort_values(["predicted_f1", "source"], ascending=[False, True])
    return Recommendation(
        _shown(table),
        f"meta-model '{history.feature_set}' (LOTO RMSE {error:.3f})",
        _budget(run_dir),
    )


def _available(history: pd.DataFrame, candidates: pd.DataFrame, feature_set: str) -> bool:
    try:
        columns = feature_columns(history, feature_set)
    except ConfigError:
        return False
    return all(c in candidates.columns for c in columns)


def _budget(run_dir: Path) -> int | None:
    """Top-K per target at which the run's meta-model lost at most 0.02 F1, if evaluated."""
    path = run_dir / "evaluation" / "savings.csv"
    if not path.exists():
        return None
    savings = pd.read_csv(path)
    row = savings[(savings["method"] == "meta:all") & (savings["tolerance"] == 0.02)]
    return None if row.empty or pd.isna(row["k"].iloc[0]) else int(row["k"].iloc[0])


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    keep = ["source", *HYPERPARAMETERS, "predicted_f1", "low", "high"]
    keep += [
        c
        for c in ("taskemb_rrf", "ansat_ab_0.10", "estimators_logme", "textemb_cosine")
        if c in table.columns
    ]
    return table[keep].reset_index(drop=True)
