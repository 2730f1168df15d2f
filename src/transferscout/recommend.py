"""The Recommend workflow: rank source tasks (and settings) for a new target, training no pair.

Given a finished run (its tasks, single-task models and, ideally, its transfer grid) and a new
target task, this trains only the target's missing single-task model(s) into the run, computes
the signals of every (source → new target) pair, and predicts the transfer score of each
candidate (source, source settings, target settings) with a ``TransferRegressor`` fitted on all
of the run's finished transfer trials (averaged over the evaluation's meta-model seeds).  The
meta-model predicts the *gain* over the target's single-task model (comparable across task
kinds, whose metrics differ in scale); the table shows it (``predicted_gain``) and, added to
the new target's own single-task score, the predicted score in the target's primary metric
(``predicted_f1``: positive-class F1, macro-F1 or Spearman's ρ).  The 95% interval is
split-conformal: the half-width is a quantile of the meta-model's leave-one-target-out
absolute residuals on the run, and the interval is clipped to the metric's range; its
empirical coverage (each of the run's targets judged with the other targets' residuals) is
reported.  Candidates are ordered by the rule of :mod:`transferscout.evaluation.ordering`:
predicted score, then predicted training cost, then a seeded random key.  Without finished
transfer trials in the run, the documented fallback ranks sources by the TaskEmb
reciprocal-rank fusion score (Vu et al.'s best-performing signal) and predicts no score.

Only the trials of the run's configured grid are learnt from (as in the evaluation), and a run
without signals on its own task pairs is refused, as the evaluation refuses it, before anything
is trained or written.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from transferscout.checks import check_before_training
from transferscout.config import RunConfig, load_run_config
from transferscout.errors import ConfigError, DataError, TransferScoutError
from transferscout.evaluation.ordering import ranking_order
from transferscout.grid.executors import Executor
from transferscout.grid.models import degenerate_baselines
from transferscout.grid.runner import plan_trials, run_trials
from transferscout.grid.spec import GridSpec, matched_settings
from transferscout.grid.store import RunStore, TrialRow
from transferscout.meta.conformal import conformal_halfwidth, conformal_interval, loto_coverage
from transferscout.meta.features import (
    FEATURE_SETS,
    HYPERPARAMETERS,
    META_TARGET,
    candidate_table,
    feature_columns,
    pivot_signals,
    predicted_cost,
    target_scores,
)
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out
from transferscout.signals.ansat_stage import compute_ansat
from transferscout.signals.budget import grid_budget
from transferscout.signals.pair_stage import PairSignalSettings, compute_pair_signals
from transferscout.targets import check_not_degenerate
from transferscout.tasks.task import Task, TaskSet

__all__ = [
    "MetaModelHistory",
    "Recommendation",
    "candidate_frame",
    "interval_is_informative",
    "meta_model_history",
    "recommend_sources",
    "target_signals",
    "train_reference",
    "with_target",
]

logger = logging.getLogger(__name__)


#: Nominal coverage of Recommend's prediction intervals.
INTERVAL_LEVEL = 0.95


@dataclass
class Recommendation:
    """A ranked table of candidates for a new target, and how it was ranked.

    Attributes:
        table: One row per candidate, best first, with ``predicted_f1``, ``low`` and ``high``.
        method: How the table was ranked.
        suggested_budget: Top-K at which the run's meta-model lost at most 0.02 F1, if known.
        coverage: Empirical coverage of the intervals on the run's own targets (each judged
            with an interval from the other targets' residuals); ``None`` without a meta-model.
        informative: Whether the intervals are narrower than half the metric's range
            (:func:`interval_is_informative`); when not, they are no finding.
        baseline_degenerate: Why the target's single-task baseline (its best-validation
            model, which predicted gains are over) is degenerate, or ``None``: a predicted
            gain over a degenerate baseline is no finding.
    """

    table: pd.DataFrame
    method: str
    suggested_budget: int | None
    coverage: float | None = None
    informative: bool = True
    baseline_degenerate: str | None = None


@dataclass(frozen=True)
class MetaModelHistory:
    """The finished transfer trials a meta-model learns from, and how well it generalises.

    Attributes:
        table: Candidate rows with ``real_f1`` and the learnt ``real_gain`` (never a row whose
            target is the new target).
        columns: Feature columns (of the richest feature set both tables have).
        feature_set: Its name.
        seeds: The meta-model's seeds (predictions are averaged over them).
        n_estimators: Boosting rounds of each meta-model.
        rmse: Leave-one-target-out RMSE of the seed-averaged meta-model on ``table``.
        halfwidth: Half-width of the split-conformal interval at :data:`INTERVAL_LEVEL`.
        coverage: Its empirical leave-one-target-out coverage on ``table``'s targets.
    """

    table: pd.DataFrame
    columns: list[str]
    feature_set: str
    seeds: tuple[int, ...]
    n_estimators: int
    rmse: float
    halfwidth: float
    coverage: float

    def predict(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The seed-averaged predicted gain over the target's single-task model."""
        x = self.table[self.columns].to_numpy(dtype=float)
        y = self.table[META_TARGET].to_numpy(dtype=float)
        predictions = np.stack(
            [
                TransferRegressor(n_estimators=self.n_estimators, random_state=seed)
                .fit(x, y)
                .predict(features)
                for seed in self.seeds
            ]
        )
        mean: npt.NDArray[np.float64] = predictions.mean(axis=0)
        return mean


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
    """Train (or read) the target's single-task models; refuse a degenerate target.

    With ``grid.matched_single_task`` they include the compute-matched ones (a transfer's
    source + target epochs): the new target's gains are measured against the best of all by
    validation, as the run's are.
    """
    grid = config.grid.spec()
    settings = grid.target_settings
    if grid.matched_single_task:
        settings = tuple(dict.fromkeys([*settings, *matched_settings(grid)]))
    trials = plan_trials(
        GridSpec(
            targets=(name,),
            sources=(),
            target_settings=settings,
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
    """Every (source -> ``name``) pair's signals, one row per source (computed if missing).

    Pair signals use the run's own settings; ANsAT gets the signal budget of the grid the
    signals stand in for here: every candidate with ``name`` as the target.
    """
    compute_pair_signals(
        run_dir,
        tasks,
        _run_pair_settings(run_dir, config),
        progress=progress,
        targets=[name],
        cost_prefix="rank:",
        device=config.executor.device,
    )
    grid = config.grid.spec()
    every = grid.sources if grid.sources is not None else tuple(n for n in tasks.names if n != name)
    replaced = replace(grid, targets=(name,), sources=every, single_task_seeds=())
    budget = grid_budget(
        run_dir,
        tasks,
        replaced,
        config.encoder.spec(),
        fraction=config.signals.budget,
        cost_prefix="rank:",
    )
    compute_ansat(
        run_dir,
        tasks,
        config.ansat_settings(),
        progress=progress,
        targets=[name],
        cost_prefix="rank:",
        budget=budget,
        device=config.executor.device,
    )
    with RunStore(run_dir, readonly=True) as store:
        signals = pivot_signals([r for r in store.pair_signals() if r["target"] == name])
    return signals[signals["source"] != name].reset_index(drop=True)


def candidate_frame(signals: pd.DataFrame, grid: GridSpec, tasks: TaskSet) -> pd.DataFrame:
    """One row per (source, source settings, target settings), with the pair's signals.

    ``planned_cost`` is the candidate's predicted training cost (:func:`predicted_cost`).
    """
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
                    "source_max_length": source_settings.max_length,
                    "target_max_length": target_settings.max_length,
                }
            )
    candidates = pd.DataFrame(rows)
    sizes = {task.name: float(len(task.train)) for task in tasks.tasks}
    candidates["planned_cost"] = predicted_cost(candidates, sizes)
    return candidates


def meta_model_history(
    run_dir: Path,
    candidates: pd.DataFrame,
    config: RunConfig,
    sources: TaskSet,
    *,
    exclude_target: str,
    target_kind: str | None = None,
) -> MetaModelHistory | None:
    """The configured grid's finished candidates of other targets (``None``: fewer than two).

    ``sources`` are the run's own tasks (the grid is planned on them, as the evaluation does).
    The meta-model is the evaluation's: its boosting rounds, averaged over its seeds.  A
    ``target_kind`` none of these targets has is warned about (its gains are in a metric the
    meta-model never learnt; ``evaluate --fit-on`` refuses the same mismatch).
    """
    try:
        planned = plan_trials(config.grid.spec(), sources, config.encoder.spec())
        history = candidate_table(run_dir, trials={t.id for t in planned})
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
    seen = sorted(set(history["target_kind"]))
    if target_kind is not None and target_kind not in seen:
        logger.warning(
            "the target %r is of kind %s, which the meta-model never saw: it is fitted on %s "
            "targets only (gains in their metrics), so read its predictions with care",
            exclude_target,
            target_kind,
            ", ".join(seen),
        )
    columns = feature_columns(history, feature_set)
    real = history[META_TARGET].to_numpy(dtype=float)
    evaluation = config.evaluation.settings()
    makers = [
        functools.partial(
            TransferRegressor, n_estimators=evaluation.n_estimators, random_state=seed
        )
        for seed in evaluation.seeds
    ]
    loto = np.mean(
        [
            leave_one_target_out(history, columns, make_regressor=m, target_column=META_TARGET)
            for m in makers
        ],
        axis=0,
    )
    residuals = loto - real
    return MetaModelHistory(
        table=history,
        columns=columns,
        feature_set=feature_set,
        seeds=tuple(evaluation.seeds),
        n_estimators=evaluation.n_estimators,
        rmse=float(np.sqrt(np.mean(residuals**2))),
        halfwidth=conformal_halfwidth(residuals, INTERVAL_LEVEL),
        coverage=loto_coverage(residuals, history["target"].to_numpy(), INTERVAL_LEVEL),
    )


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
        TransferScoutError: The run has no signals on its own tasks (nothing to learn from);
            refused before anything is trained or written.
    """
    run_dir = Path(run_dir)
    config = config or load_run_config(run_dir)
    if len(target) != 1:
        raise DataError(
            f"the target must be one task; got {len(target)} ({', '.join(target.names)})"
        )
    (name,) = target.names
    check_before_training(config, target)
    sources = config.data.load()
    combined = with_target(sources, target[name])
    _check_signals(run_dir, set(sources.names))
    reference = train_reference(run_dir, combined, name, config, progress=progress)
    weak = degenerate_baselines(reference).get(name)
    signals = target_signals(run_dir, combined, name, config, progress=progress)
    candidates = candidate_frame(signals, config.grid.spec(), combined)
    history = meta_model_history(
        run_dir,
        candidates,
        config,
        sources,
        exclude_target=name,
        target_kind=target[name].kind.name,
    )
    if history is None:
        logger.warning("the run has no transfer trials to learn from: ranking by TaskEmb RRF")
        table = candidates.assign(predicted_f1=np.nan, low=np.nan, high=np.nan)
        table = table.sort_values("taskemb_rrf", ascending=False)
        return Recommendation(
            _shown(table),
            "fallback: TaskEmb reciprocal-rank fusion",
            None,
            None,
            baseline_degenerate=weak,
        )
    gain = history.predict(candidates[history.columns].to_numpy(dtype=float))
    own = single_task_score(run_dir, name)
    kind = target[name].kind
    bounds = kind.metric_range
    # The meta-model learnt validation gains; the shown score adds the single-task model's test
    # score (reported, never decided on) and stays inside the metric's range.  The order goes
    # by the predicted gain alone, so no test score moves it.
    predicted = np.clip(gain + own, bounds[0], bounds[1])
    low, high = conformal_interval(predicted, history.halfwidth, low=bounds[0], high=bounds[1])
    table = candidates.assign(predicted_gain=gain, predicted_f1=predicted, low=low, high=high)
    order = ranking_order(gain, table["planned_cost"], seed=config.evaluation.settings().seed)
    method = (
        f"meta-model '{history.feature_set}', {len(history.seeds)} seeds, predicting the "
        f"validation gain over the target's single-task model (test {kind.metric_label} "
        f"{own:.3f}; LOTO RMSE {history.rmse:.3f}; {INTERVAL_LEVEL:.0%} split-conformal interval "
        f"±{history.halfwidth:.3f}, clipped to [{bounds[0]:g}, {bounds[1]:g}], empirical LOTO "
        f"coverage {history.coverage:.1%})"
    )
    if weak is not None:
        method += f"; the single-task baseline is degenerate ({weak}): a gain over it is no finding"
    return Recommendation(
        _shown(table.iloc[order]),
        method,
        _budget(run_dir),
        history.coverage,
        informative=interval_is_informative(history.halfwidth, bounds),
        baseline_degenerate=weak,
    )


def interval_is_informative(halfwidth: float, bounds: tuple[float, float]) -> bool:
    """Whether an interval of ``±halfwidth`` says anything: no wider than half the metric's range.

    A 95% interval of ±0.47 on a positive F1 spans almost every score a model can have: the
    meta-model cannot tell its candidates apart with confidence, and the output says so
    instead of printing it on every row as if it were a finding.
    """
    return bool(2 * halfwidth <= (bounds[1] - bounds[0]) / 2)


def single_task_score(run_dir: Path, name: str) -> float:
    """The target's single-task test score (its best-validation model): what gains add to."""
    with RunStore(run_dir, readonly=True) as store:
        rows = [r for r in store.rows(kind="single", status="done") if r.target == name]
    return target_scores(rows)[name]


def _run_pair_settings(run_dir: Path, config: RunConfig) -> PairSignalSettings:
    """The run's own pair-signal settings (its sources' samples and caches stay valid)."""
    if config.signals.pairs.max_examples is not None:
        return config.pair_settings()
    with RunStore(run_dir, readonly=True) as store:
        stored = store.pair_signals("textemb")
    if not stored:
        return config.pair_settings()
    return config.pair_settings(max_examples=int(stored[0]["detail"]["settings"]["max_examples"]))


def _check_signals(run_dir: Path, names: set[str]) -> None:
    """Refuse, as the evaluation does, a run whose own task pairs have no signals."""
    with RunStore(run_dir, readonly=True) as store:
        computed = any(r["source"] in names and r["target"] in names for r in store.pair_signals())
    if not computed:
        raise TransferScoutError(
            f"{run_dir}: the run has no transferability signals on its own tasks, so there is "
            f"nothing to learn a ranking from; compute them first (transferscout run, or "
            f"transferscout signals ansat {run_dir} and transferscout signals pairs {run_dir})"
        )


def _available(history: pd.DataFrame, candidates: pd.DataFrame, feature_set: str) -> bool:
    """Whether the run's own candidates hold these features (not only the new target's)."""
    try:
        columns = feature_columns(history, feature_set)
    except ConfigError:
        return False
    learnt = history[columns].notna().any().all()
    return bool(learnt) and all(c in candidates.columns for c in columns)


def _budget(run_dir: Path) -> int | None:
    """Top-K per target at which the run's meta-model lost at most 0.02 F1, if evaluated.

    The evaluation's K is a mean over the meta-model's seeds; it is rounded up.
    """
    path = run_dir / "evaluation" / "savings.csv"
    if not path.exists():
        return None
    savings = pd.read_csv(path)
    row = savings[(savings["method"] == "meta:all") & (savings["tolerance"] == 0.02)]
    return None if row.empty or pd.isna(row["k"].iloc[0]) else math.ceil(row["k"].iloc[0])


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    keep = ["source", *HYPERPARAMETERS, "predicted_f1", "low", "high"]
    keep += ["predicted_gain"] if "predicted_gain" in table.columns else []
    keep += [
        c
        for c in ("taskemb_rrf", "ansat_ab_0.10", "estimators_logme", "textemb_cosine")
        if c in table.columns
    ]
    return table[keep].reset_index(drop=True)
