"""Pool search: every target's best model on a new pool, without training the transfer grid.

The default job of ``transferscout run`` (``search.mode = "pool"``):

1. prepare the tasks and train every single-task model (the baselines: needed anyway, and
   the source stage of every transfer);
2. compute the signals the search reads (by default TextEmb only: seconds, no model run);
3. search the whole pool at once: after every finished trial, refit one model of transfer
   gain on everything the pool has observed (:class:`~transferscout.meta.pool.AdditiveGainModel`)
   and train the (target, candidate) with the highest expected improvement of its target's
   best model per predicted hour (:func:`~transferscout.meta.pool.pool_pick`), until the
   budget is spent or, for every target, no remaining candidate's upper bound beats its best
   model by the margin;
4. hand over, per target, the best model by validation — a transfer, or the single-task model
   when no transfer beat it, said so — as a Hugging Face folder with its model card.

Decisions read validation scores only; test scores are only reported.  Every trial goes
through the run's store and configured executor: a killed search resumes with the same
command, replaying the same picks from the trials already finished (no trial is trained
twice); a failing trial is recorded in the trace, counts against the budget and is skipped.

Counting: the budget covers the signals the search reads plus the target stages of the
transfers it trains (a transfer's source stage *is* its source's single-task model, trained
once for the whole pool); the single-task models are reported beside.  The projected full
grid is the sum of every candidate's predicted target-stage hours, each the realised hours of
its target's single-task training at the same settings (the same data, settings and steps).

Writes ``<run>/search/``: ``trace.csv``/``trace.json`` (one row per trial), ``summary.json``
(per target and for the pool) and ``<target>/model`` per searched target.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from transferscout._progress import progress_bar
from transferscout._text import counted
from transferscout.checks import check_before_training
from transferscout.config import RunConfig
from transferscout.errors import ConfigError, TransferScoutError
from transferscout.evaluation.methods import signal_family_hours
from transferscout.evaluation.pool_replay import pool_search_step, varying_settings
from transferscout.grid.executors import Executor, make_executor
from transferscout.grid.models import (
    best_single_task_rows,
    degenerate_baselines,
    matched_single_task_ids,
    trial_degenerate,
    trial_score,
)
from transferscout.grid.runner import model_path, run_trials
from transferscout.grid.spec import TrialSpec
from transferscout.grid.store import RunStore, TrialRow
from transferscout.matrix import load_matrix_table
from transferscout.meta.features import (
    FIRST_GAIN,
    HYPERPARAMETERS,
    candidate_table,
    pivot_signals,
    single_task_stage_hours,
    target_validation_scores,
)
from transferscout.meta.pool import AdditiveGainModel, PoolPick, PoolPrior
from transferscout.report.build import ReportFiles
from transferscout.report.pool import write_pool_report
from transferscout.run_folder import open_run, plan_run
from transferscout.search_output import export_model, model_card, write_text_atomically
from transferscout.signals.pair_stage import compute_pair_signals
from transferscout.tasks.task import TaskSet

__all__ = [
    "POOL_TRACE_COLUMNS",
    "PoolSearchResult",
    "pool_frame",
    "search_pool",
    "warm_start",
]

logger = logging.getLogger(__name__)

#: The order of a pool frame's rows: the candidate table's (so a replay on the finished grid
#: sees the same rows in the same order, and breaks ties the same way).
POOL_ORDER = ["source", "target", *HYPERPARAMETERS, "source_max_length", "target_max_length"]

#: The setting columns of a run's candidates (each value gets its own effect).
SETTING_COLUMNS = list(HYPERPARAMETERS)

POOL_TRACE_COLUMNS = [
    "step",
    "target",
    "candidate",
    "source_learning_rate",
    "target_learning_rate",
    "predicted_gain",
    "upper_gain",
    "predicted_f1",
    "upper_f1",
    "predicted_hours",
    "status",
    "validation_f1",
    "test_f1",
    "validation_gain",
    "hours",
    "total_hours",
    "best",
    "best_validation_f1",
    "best_test_f1",
    "trial",
]


@dataclass
class PoolSearchResult:
    """What a pool search did (also written to ``<run>/search/``).

    Attributes:
        folder: ``<run>/search``.
        trace: One row per trial, in the order trained.
        targets: One row per target: the model to use, its gain, what was trained.
        stopped: Why the search stopped.
        budget: The budget as given and in hours.
        hours: Signals, transfers, the whole search, the projected full grid, and the
            single-task models (reported beside).
        skipped: Targets not searched, each with the reason.
        report: The report written from it.
    """

    folder: Path
    trace: pd.DataFrame
    targets: pd.DataFrame
    stopped: str
    budget: dict[str, Any]
    hours: dict[str, float]
    skipped: dict[str, str]
    report: ReportFiles | None = None


def pool_frame(
    transfers: Sequence[TrialSpec],
    singles: Sequence[TrialRow],
    signals: pd.DataFrame,
) -> tuple[pd.DataFrame, list[TrialSpec]]:
    """The pool's candidates: one row per planned transfer trial, in the candidate table's order.

    Columns: ``target``, ``source``, the hyperparameters and both max lengths, ``trial``, the
    signals of the pair, and ``predicted_hours`` (see the module docstring).

    Returns:
        The frame and the trial of each of its rows.
    """
    records = []
    for trial in transfers:
        assert trial.source is not None and trial.source_settings is not None
        source, target = trial.source_settings, trial.target_settings
        records.append(
            {
                "source": trial.source,
                "target": trial.target,
                "source_learning_rate": source.learning_rate,
                "source_epochs": source.epochs,
                "source_batch_size": source.batch_size,
                "target_learning_rate": target.learning_rate,
                "target_epochs": target.epochs,
                "target_batch_size": target.batch_size,
                "source_max_length": source.max_length,
                "target_max_length": target.max_length,
                "trial": trial.id,
            }
        )
    frame = pd.DataFrame(records).sort_values(POOL_ORDER, kind="stable").reset_index(drop=True)
    if len(signals):
        frame = frame.merge(signals, on=["source", "target"], how="left")
    matched = matched_single_task_ids(singles)
    frame["predicted_hours"] = single_task_stage_hours(frame, singles, matched)
    by_id = {t.id: t for t in transfers}
    return frame, [by_id[i] for i in frame["trial"]]


def warm_start(path: str | Path, signals: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """A warm start's prior means: what another pool's finished grid says (``search.prior``).

    The additive model is fitted on every candidate of ``path`` (a finished run folder, or a
    run written by ``tables import-matrix``) that has a validation gain, with the signals of
    ``signals`` it holds; its pool mean, setting effects and signal weights become the new
    pool's prior means (:meth:`~transferscout.meta.pool.AdditiveGainModel.shared_means`).

    Raises:
        ConfigError: ``path`` is neither a run folder nor a matrix run.
    """
    folder = Path(path)
    if (folder / "matrix.json").is_file():
        table = load_matrix_table(folder)
        settings = varying_settings(table, ["setting"])
    elif (folder / "store.sqlite").is_file():
        table = candidate_table(folder)
        table = table[table["source"] != table["target"]].reset_index(drop=True)
        settings = varying_settings(table, SETTING_COLUMNS)
    else:
        raise ConfigError(
            f"search.prior = {str(path)!r}: neither a run folder (store.sqlite) nor a matrix "
            "run (matrix.json)"
        )
    held = tuple(s for s in signals if s in table.columns)
    model = AdditiveGainModel(table, settings, PoolPrior(signals=held))
    gains = table[FIRST_GAIN].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(gains))
    means = model.shared_means(rows.tolist(), gains[rows].tolist())
    logger.info(
        "pool search warm start from %s (%s): %s",
        folder,
        counted(len(rows), "candidate"),
        ", ".join(f"{name} {value:+.4f}" for name, value in sorted(means.items())),
    )
    return tuple(sorted(means.items()))


@dataclass
class _Plan:
    """What the search loop needs, prepared once (see :meth:`_PoolSearch._prepare`)."""

    frame: pd.DataFrame
    trials: list[TrialSpec]
    targets: list[str]
    references: dict[str, TrialRow]
    skipped: dict[str, str]
    excluded: list[int]
    predicted: npt.NDArray[np.float64]
    headroom: npt.NDArray[np.float64]
    projected: float
    limit: float | None
    signal_hours: float
    single_hours: float
    model: AdditiveGainModel


class _PoolSearch:
    """The state of one pool search; every decision is rebuilt from the store on a resume."""

    def __init__(
        self,
        run_dir: Path,
        config: RunConfig,
        tasks: TaskSet,
        trials: Sequence[TrialSpec],
        executor: Executor,
        progress: bool,
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.tasks = tasks
        self.trials = trials
        self.executor = executor
        self.progress = progress
        self.settings = config.search
        self.folder = run_dir / "search"
        allow_self = config.evaluation.allow_self_transfer
        self.transfers = [
            t for t in trials if t.kind == "transfer" and (allow_self or t.source != t.target)
        ]
        self.singles = [t for t in trials if t.kind == "single"]
        self.retrain = False
        #: Each target's single-task validation score (what a gain is measured against).
        self.reference_validation: dict[str, float] = {}

    def _train(
        self, trials: Sequence[TrialSpec], keep: Sequence[str] = (), *, progress: bool = False
    ) -> None:
        run_trials(
            self.run_dir,
            self.tasks,
            trials,
            replace(self.config.executor.options(), retrain_on_version_change=self.retrain),
            executor=self.executor,
            progress=progress,
            keep_models=keep,
        )

    def _trained(self, trial: TrialSpec) -> TrialRow:
        """The trial's stored row, training it only if it never finished or failed.

        A resumed search reads what it trained before (its weights may be gone: only the
        chosen models' are kept) and skips a trial that failed, as the first pass did.
        """
        with RunStore(self.run_dir, readonly=True) as store:
            row = store.row(trial.id)
        if row is None or row.status not in ("done", "failed"):
            assert trial.source_trial is not None
            self._train([trial.source_trial, trial], keep=[trial.id])
            with RunStore(self.run_dir, readonly=True) as store:
                row = store.row(trial.id)
        assert row is not None
        return row

    def _signals(self) -> tuple[pd.DataFrame, float]:
        """The pair signals the search reads, computed if needed, and their charged hours."""
        signals = self.settings.signals
        if signals:
            compute_pair_signals(
                self.run_dir,
                self.tasks,
                self.config.pair_settings(),
                progress=self.progress,
                device=self.config.executor.device,
                text_only=True,
            )
        with RunStore(self.run_dir, readonly=True) as store:
            table = pivot_signals(store.pair_signals())
            family_hours: dict[str, float] = {}
            for cost in store.costs():
                if cost["item"] == "pairs":
                    family = str(cost["family"])
                    family_hours[family] = family_hours.get(family, 0.0) + cost["seconds"] / 3600
        # Charged as the replay charges a method the same signals.
        hours = signal_family_hours(signals, family_hours)
        missing = [s for s in signals if s not in table.columns]
        if missing:
            raise TransferScoutError(f"the pool search's signals were not computed: {missing}")
        keep = ["source", "target", *signals]
        return (table[keep] if len(table) else table), hours

    def run(self, export: bool) -> PoolSearchResult:
        started = time.perf_counter()
        plan = self._prepare()
        trace, best, spent, stopped = self._search(plan)
        logger.info("pool search stopped: %s", stopped)
        per_target = self._finish(best, plan.references, plan.frame, plan.skipped, export)
        budget = self.settings.pool_budget()
        result = PoolSearchResult(
            folder=self.folder,
            trace=pd.DataFrame(trace, columns=POOL_TRACE_COLUMNS),
            targets=per_target,
            stopped=stopped,
            budget={"given": budget.label, "hours": plan.limit, "trials": budget.trials},
            hours={
                "signals": plan.signal_hours,
                "transfers": spent,
                "search": plan.signal_hours + spent,
                "projected_full_grid": plan.projected,
                "single_task": plan.single_hours,
                "wall_clock": (time.perf_counter() - started) / 3600,
            },
            skipped=plan.skipped,
        )
        _write_summary(result, len(plan.frame))
        return result

    def _prepare(self) -> _Plan:
        """Single-task models, signals, the pool's candidates, the budget and the model."""
        settings = self.settings
        budget = settings.pool_budget()
        logger.info(
            "pool search: %s, %s; budget %s",
            counted(len(self.tasks), "task"),
            counted(len(self.transfers), "transfer candidate"),
            budget.label,
        )
        self._train(self.singles, progress=self.progress)
        with RunStore(self.run_dir, readonly=True) as store:
            planned = {t.id for t in self.singles}
            singles = [r for r in store.rows(kind="single") if r.id in planned]
        done_singles = [r for r in singles if r.status == "done"]
        signals, signal_hours = self._signals()
        frame, row_trials = pool_frame(self.transfers, done_singles, signals)
        references = best_single_task_rows(done_singles)
        self.reference_validation = target_validation_scores(done_singles)
        skipped = {
            name: f"its single-task model is degenerate: it {why}"
            for name, why in degenerate_baselines(done_singles).items()
        }
        for name in self.tasks.names:
            if name not in references:
                skipped[name] = "no single-task model finished (see `transferscout status`)"
        targets = frame["target"].astype(str).tolist()
        for name, why in sorted(skipped.items()):
            if name in set(targets):
                logger.warning("pool search: %s is not searched: %s", name, why)
        predicted = frame["predicted_hours"].to_numpy(dtype=np.float64)
        # The replay's rule (pool_hours): a missing prediction is the mean of the known ones.
        fill = float(np.nanmean(predicted)) if np.isfinite(predicted).any() else 1.0
        predicted = np.where(np.isfinite(predicted), predicted, fill)
        projected = float(predicted.sum())
        limit = budget.limit_hours(projected)
        single_hours = sum((r.target_seconds or 0.0) for r in done_singles) / 3600
        logger.info(
            "pool search budget %s: %s of a projected full grid of %.3f h (%s); the signals "
            "spent %.4f h of it; the %s took %.3f h (beside the budget)",
            budget.label,
            f"{limit:.3f} h" if limit is not None else counted(budget.trials or 0, "trial"),
            projected,
            counted(len(frame), "candidate"),
            signal_hours,
            counted(len(done_singles), "single-task model"),
            single_hours,
        )
        highest = {name: task.kind.metric_range[1] for name, task in self.tasks.items()}
        headroom = np.asarray(
            [highest[name] - self.reference_validation.get(name, math.nan) for name in targets]
        )
        means = () if settings.prior is None else warm_start(settings.prior, settings.signals)
        prior = PoolPrior(signals=tuple(settings.signals), means=means)
        return _Plan(
            frame=frame,
            trials=row_trials,
            targets=targets,
            references=references,
            skipped=skipped,
            excluded=[i for i, name in enumerate(targets) if name in skipped],
            predicted=predicted,
            headroom=np.nan_to_num(headroom, nan=np.inf),
            projected=projected,
            limit=limit,
            signal_hours=signal_hours,
            single_hours=single_hours,
            model=AdditiveGainModel(frame, varying_settings(frame, SETTING_COLUMNS), prior),
        )

    def _search(
        self, plan: _Plan
    ) -> tuple[list[dict[str, Any]], dict[str, tuple[float, TrialRow, str]], float, str]:
        """The loop: pick, train (or read), observe, trace — until the step says stop.

        Returns the trace, each target's best model (validation score, row, label), the
        transfer hours spent and why the search stopped.
        """
        settings = self.settings
        budget = settings.pool_budget()
        observed: dict[int, float] = {}
        failed: list[int] = []
        trace: list[dict[str, Any]] = []
        best = {
            name: (trial_score(reference, "validation"), reference, "single-task")
            for name, reference in plan.references.items()
        }
        spent = 0.0  # transfer target stages; the signals' hours are spent before the first
        bar = progress_bar(enabled=self.progress)
        with bar:
            total = budget.trials or len(plan.frame) - len(plan.excluded)
            task = bar.add_task("pool search (trials)", total=total)
            step = 0
            while True:
                step += 1
                pick = pool_search_step(
                    plan.model,
                    plan.targets,
                    plan.predicted,
                    observed,
                    excluded=plan.excluded,
                    failed=failed,
                    headroom=plan.headroom,
                    spent_hours=spent,
                    budget_hours=plan.limit,
                    budget_trials=budget.trials,
                    signal_hours=plan.signal_hours,
                    margin=settings.margin,
                    seed=settings.seed,
                    step=step,
                )
                if pick.row is None:
                    return trace, best, spent, pick.reason or "nothing left to train"
                trial = plan.trials[pick.row]
                row = self._trained(trial)
                name = trial.target
                reference = self.reference_validation[name]
                score = trial_score(row, "validation") if row.status == "done" else math.nan
                if math.isfinite(score):
                    observed[pick.row] = score - reference
                    if trial_degenerate(row) is None and score > best[name][0]:
                        best[name] = (score, row, "transfer")
                else:
                    failed.append(pick.row)
                hours = (
                    row.target_seconds / 3600
                    if row.target_seconds is not None
                    else float(plan.predicted[pick.row])
                )
                spent += hours
                total_hours = plan.signal_hours + spent
                trace.append(
                    self._trace_row(
                        step, trial, row, pick, plan.frame, hours, total_hours, best[name]
                    )
                )
                _write_trace(self.folder, trace)
                logger.info(
                    "step %d: %s -> %s (target learning rate %g): %s; %.4f h, %.4f h spent%s",
                    step,
                    trial.source,
                    name,
                    trial.target_settings.learning_rate,
                    f"validation {score:.3f} vs single-task {reference:.3f}"
                    if math.isfinite(score)
                    else f"failed ({row.error})",
                    hours,
                    total_hours,
                    "" if plan.limit is None else f" of {plan.limit:.4f} h",
                )
                note = f"{name} <- {trial.source} · {total_hours:.3f} h"
                bar.update(task, advance=1, note=note)

    def _trace_row(
        self,
        step: int,
        trial: TrialSpec,
        row: TrialRow,
        pick: PoolPick,
        frame: pd.DataFrame,
        hours: float,
        spent: float,
        best: tuple[float, TrialRow, str],
    ) -> dict[str, Any]:
        name = trial.target
        reference = self.reference_validation[name]
        low, high = self.tasks[name].kind.metric_range
        done = row.status == "done"
        score = trial_score(row, "validation") if done else math.nan
        _, best_row, label = best
        return {
            "step": step,
            "target": name,
            "candidate": trial.source,
            "source_learning_rate": trial.source_settings.learning_rate
            if trial.source_settings
            else math.nan,
            "target_learning_rate": trial.target_settings.learning_rate,
            "predicted_gain": pick.predicted,
            "upper_gain": pick.upper,
            "predicted_f1": float(np.clip(reference + pick.predicted, low, high)),
            "upper_f1": float(np.clip(reference + pick.upper, low, high)),
            "predicted_hours": float(frame["predicted_hours"].iloc[int(pick.row or 0)]),
            "status": row.status if done else f"failed: {row.error}",
            "validation_f1": score,
            "test_f1": trial_score(row, "test") if done else math.nan,
            "validation_gain": score - reference,
            "hours": hours,
            "total_hours": spent,
            "best": label if label == "single-task" else best_row.config["source"]["task"],
            "best_validation_f1": trial_score(best_row, "validation"),
            "best_test_f1": trial_score(best_row, "test"),
            "trial": trial.id,
        }

    def _finish(
        self,
        best: Mapping[str, tuple[float, TrialRow, str]],
        references: Mapping[str, TrialRow],
        frame: pd.DataFrame,
        skipped: Mapping[str, str],
        export: bool,
    ) -> pd.DataFrame:
        """Export each target's model and summarise; drop the weights of the others."""
        traced = set(self._trace_trials())
        rows_by_target: dict[str, list[TrialRow]] = {}
        with RunStore(self.run_dir, readonly=True) as store:
            for r in store.rows(kind="transfer"):
                if r.id in traced:
                    rows_by_target.setdefault(str(r.target), []).append(r)
        records = []
        keep: set[str] = set()
        specs = {t.id: t for t in self.trials}
        for name in sorted(references):
            score, row, label = best[name]
            reference = references[name]
            candidates = int((frame["target"] == name).sum())
            tried = rows_by_target.get(name, [])
            record: dict[str, Any] = {
                "target": name,
                "kind": self.tasks[name].kind.name,
                "metric": self.tasks[name].kind.metric_label,
                "model": label
                if label == "single-task"
                else f"transfer from {row.config['source']['task']}",
                "source": None if label == "single-task" else row.config["source"]["task"],
                "trial": row.id,
                "validation_f1": score,
                "test_f1": trial_score(row, "test"),
                "single_task_validation_f1": trial_score(reference, "validation"),
                "single_task_test_f1": trial_score(reference, "test"),
                "validation_gain": score - trial_score(reference, "validation"),
                "test_gain": trial_score(row, "test") - trial_score(reference, "test"),
                "trained": len(tried),
                "candidates": candidates,
                "hours": sum((r.target_seconds or 0.0) for r in tried) / 3600,
                "skipped": skipped.get(name),
                "model_dir": None,
            }
            if export and name not in skipped:
                keep.add(row.id)
                spec = specs.get(row.id)
                if spec is not None and not model_path(self.run_dir, row.id).exists():
                    stages: list[TrialSpec] = []
                    stage: TrialSpec | None = spec
                    while stage is not None:
                        stages.append(stage)
                        stage = stage.source_trial
                    self._train(stages[::-1], keep=[row.id])
                    with RunStore(self.run_dir, readonly=True) as store:
                        row = store.row(row.id) or row  # noqa: PLW2901
                folder = self.folder / name / "model"
                task = self.tasks[name]
                labels = task.kind.output_names(task.name, task.classes)
                export_model(
                    self.run_dir,
                    row,
                    labels,
                    folder,
                    model_card(
                        name,
                        (row, label),
                        reference,
                        (len(tried), 0),
                        candidates,
                        record["hours"],
                        "pool search, " + self.settings.pool_budget().label,
                        labels=labels,
                    ),
                )
                record["model_dir"] = str(folder)
            records.append(record)
        # Kept weights of transfers that were not chosen are no longer needed.
        for trial_id in self._trace_trials():
            if trial_id not in keep:
                model_path(self.run_dir, trial_id).unlink(missing_ok=True)
        return pd.DataFrame(records)

    def _trace_trials(self) -> list[str]:
        path = self.folder / "trace.csv"
        if not path.exists():
            return []
        return [str(t) for t in pd.read_csv(path)["trial"]]


def search_pool(
    config: RunConfig,
    run_dir: str | Path,
    *,
    progress: bool = False,
    export: bool = True,
    retrain_on_version_change: bool = False,
) -> PoolSearchResult:
    """Search every target's best model within ``search.budget`` (see the module docstring).

    Finished trials trained under other library versions are reused unless
    ``retrain_on_version_change``.  ``export`` false writes no model folders.

    Raises:
        ConfigError: A pool with fewer than two tasks, no transfer candidate, a bad budget.
    """
    run_dir = Path(run_dir)
    tasks, trials = plan_run(config, run_dir)
    if len(tasks) < 2:
        raise ConfigError(
            f"a pool search needs at least two tasks; the configuration has "
            f"{counted(len(tasks), 'task')} ({', '.join(tasks.names)}): with one there is "
            "nothing to transfer from"
        )
    config.search.pool_budget()
    if not config.search.text_signals_only:
        # The model-based signals' derived settings belong to the full-grid pipeline.
        raise ConfigError(
            "search.signals: the pool search reads TextEmb and the free baselines; for TaskEmb, "
            f"the estimators or ANSAT train the full grid (run --full-grid); asked for "
            f"{', '.join(config.search.signals)}"
        )
    prior = config.search.prior
    if prior is not None and not (
        (Path(prior) / "matrix.json").is_file() or (Path(prior) / "store.sqlite").is_file()
    ):
        raise ConfigError(
            f"search.prior = {prior!r}: neither a run folder (store.sqlite) nor a matrix run "
            "(matrix.json)"
        )
    check_before_training(config, tasks)
    with open_run(config, run_dir):
        options = config.executor.options()
        executor = make_executor(
            options.executor,
            workers=options.workers,
            threads_per_worker=options.threads_per_worker,
            address=options.ray_address,
        )
        try:
            search = _PoolSearch(run_dir, config, tasks, trials, executor, progress)
            search.retrain = retrain_on_version_change
            if not search.transfers:
                raise ConfigError(
                    "the configured grid has no transfer candidate (grid.sources and "
                    "grid.targets leave no pair of distinct tasks)"
                )
            result = search.run(export)
        finally:
            executor.close()
        result.report = write_pool_report(run_dir)
        return result


def _write_trace(folder: Path, trace: Sequence[Mapping[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(trace, columns=POOL_TRACE_COLUMNS)
    write_text_atomically(folder / "trace.csv", frame.to_csv(index=False))
    records = frame.to_dict("records")
    write_text_atomically(
        folder / "trace.json", json.dumps(records, indent=2, default=float) + "\n"
    )


def _write_summary(result: PoolSearchResult, candidates: int) -> None:
    payload = {
        "stopped": result.stopped,
        "budget": result.budget,
        "hours": result.hours,
        "candidates": candidates,
        "trained": len(result.trace),
        "skipped": result.skipped,
        "targets": [
            {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in result.targets.to_dict("records")
        ],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    result.folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(
        result.folder / "summary.json", json.dumps(payload, indent=2, default=str) + "\n"
    )
    _write_trace(
        result.folder, [{str(k): v for k, v in r.items()} for r in result.trace.to_dict("records")]
    )
