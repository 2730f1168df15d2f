"""Budgeted search: train a target's transfer candidates in the meta-model's order, keep the best.

The seed paper's saving made real.  For a target (a new task, or one of the run's own tasks
whose transfer results are then never read before the search trains them), the search

1. trains (or reads) the target's single-task models — the reference, and the first "best";
2. refuses a degenerate target (:func:`transferscout.targets.check_not_degenerate`);
3. repeatedly refits the meta-model on every other target's finished candidates plus this
   target's candidates trained so far (:func:`transferscout.evaluation.adaptive.adaptive_step`,
   the step the evaluation's adaptive replay takes) and trains the next candidate through the
   run's store and configured executor;
4. stops at the budget, or earlier when no remaining candidate's upper predicted score
   (the upper end of Recommend's 95% split-conformal interval) beats the best model found by
   ``margin``;
5. optionally trains the chain of the best sources (encoder -> A1 -> A2 -> target); its
   intermediate stage A1 -> A2 trains A2 with its candidate's source settings, so it may be
   no trial of the configured grid: it is then logged and recorded (``outside_grid`` of the
   chain's summary) and, like every trial outside the grid, never read as a grid result;
6. saves the best model (chosen by its validation score, never test; every score is the target
   kind's primary metric) as a Hugging Face folder with a model card, and a trace of every step
   as CSV and JSON.

Budget rules.  A trial budget counts candidates (transfer and chained trials): exactly that many
are trained unless the search stops early.  A time budget counts training hours, every
training once as the evaluation counts them — the reference models', and each candidate's
target stage and any earlier stage not yet charged (a candidate's source stage is the run's
single-task model of the source, trained before the search: not charged again) — and a
candidate is started only if its *predicted* cost fits in what is left; the prediction comes
from the configuration (epochs × training examples of each stage) divided by the training
throughput of the target's reference models, never from the candidate's realised hours.  The
highest-scoring candidate that fits is trained; the search stops when none fits.  With chains,
the single-source phase leaves room for one chain: one trial when the trial budget exceeds the
chain's number of sources (else no chain is trained), or, for a time budget, the largest
predicted candidate cost plus the largest predicted source stage (the chain is trained only if
its own predicted cost fits in what is left).

Everything goes through the run's store: a killed search resumes with the same command (the
refits are deterministic, so it replays the same choices and reads finished trials instead of
training them), and a trial is never trained twice — except that a finished trial whose weights
were not kept (a grid transfer trial) is trained again if it turns out to be the best model,
to export it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferscout._progress import progress_bar
from transferscout.checks import check_before_training
from transferscout.config import RunConfig, load_run_config
from transferscout.encoders import encoder_fingerprint
from transferscout.errors import ConfigError, DataError, TransferScoutError
from transferscout.evaluation.adaptive import adaptive_step
from transferscout.grid.executors import Executor, make_executor
from transferscout.grid.runner import model_path, plan_trials, run_trials
from transferscout.grid.spec import ChainStage, GridSpec, TrialSpec
from transferscout.grid.store import RunStore, TrialRow
from transferscout.meta.features import META_TARGET, pivot_signals, target_validation_scores
from transferscout.recommend import (
    candidate_frame,
    interval_is_informative,
    meta_model_history,
    target_signals,
    train_reference,
    with_target,
)
from transferscout.search_output import (
    TRACE_COLUMNS,
    export_model,
    model_card,
    row_summary,
    test_score,
    validation_score,
    write_text_atomically,
    write_trace,
)
from transferscout.tasks.task import Task, TaskSet
from transferscout.training.settings import StageSettings

__all__ = [
    "Budget",
    "SearchResult",
    "SearchSettings",
    "describe_stage",
    "search_target",
    "stages_outside_grid",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """How much the search may train: a number of candidate trials or training hours."""

    trials: int | None = None
    hours: float | None = None

    def __post_init__(self) -> None:
        if (self.trials is None) == (self.hours is None):
            raise ConfigError("a budget is either a number of trials or a time, not both")
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"budget = {self.trials} trials; expected at least 1")
        if self.hours is not None and not self.hours > 0:
            raise ConfigError(f"budget = {self.hours} hours; expected more than 0")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``8trials`` / ``8 trials`` / ``8t``, or ``2h`` / ``90m`` / ``1.5h`` / ``45min``."""
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", text.lower())
        units = {"t": None, "trial": None, "trials": None, "h": 1.0, "hour": 1.0, "hours": 1.0}
        units.update({"m": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "minutes": 1 / 60})
        if match is None or match.group(2) not in units:
            raise ConfigError(
                f"budget {text!r}; expected a number of trials (8trials) or a time (2h, 90m)"
            )
        value, unit = float(match.group(1)), units[match.group(2)]
        if unit is None:
            if not value.is_integer():
                raise ConfigError(f"budget {text!r}; a number of trials is a whole number")
            return cls(trials=int(value))
        return cls(hours=value * unit)

    @property
    def label(self) -> str:
        """``8 trials`` or ``2.00 h``."""
        return f"{self.trials} trials" if self.trials is not None else f"{self.hours:.2f} h"


@dataclass(frozen=True)
class SearchSettings:
    """How the search chooses, stops and chains.

    Attributes:
        budget: Trials or hours.
        margin: Stop when no remaining candidate's upper predicted F1 beats the best model's
            validation F1 by at least this much.
        chains: Sources per chain tried after the single sources (0: none; 2: encoder -> A1
            -> A2 -> target with A2 the best single source and A1 the second best).
        strategy: ``greedy`` (by predicted F1) or ``ucb`` (mean + kappa × ensemble spread).
        kappa: UCB exploration weight.
        n_estimators: Boosting rounds of each refit.
        seed: Seeds the refits.
    """

    budget: Budget
    margin: float = 0.01
    chains: int = 0
    strategy: str = "greedy"
    kappa: float = 1.0
    n_estimators: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if self.chains == 1 or self.chains < 0:
            raise ConfigError(f"chains = {self.chains}; expected 0 (none) or at least 2 sources")
        if self.strategy not in ("greedy", "ucb"):
            raise ConfigError(f"strategy = {self.strategy!r}; expected 'greedy' or 'ucb'")
        if self.margin < 0:
            raise ConfigError(f"margin = {self.margin}; expected 0 or more")


@dataclass
class SearchResult:
    """What a search did and produced (also written to ``<run>/search/<target>/``)."""

    target: str
    trace: pd.DataFrame
    reference: dict[str, Any]
    best: dict[str, Any]
    stopped: str
    pool: int
    tried: int
    hours: float
    chain: dict[str, Any] | None
    folder: Path
    model_dir: Path | None
    settings: dict[str, Any] = field(default_factory=dict)
    #: The meta-model's 95% interval (``halfwidth``) behind the upper bounds of the stop
    #: rule, and whether it is narrower than half the metric's range (``informative``).
    interval: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Candidate:
    trial: TrialSpec
    row: int  # index into the candidate frame; -1 for a chain
    predicted_seconds: float


def search_target(
    run_dir: str | Path,
    settings: SearchSettings,
    *,
    target: Task | None = None,
    own_target: str | None = None,
    config: RunConfig | None = None,
    output: str | Path | None = None,
    export: bool = True,
    progress: bool = False,
) -> SearchResult:
    """Search a target's best model within a budget (see the module docstring).

    Give either ``target`` (a new task, prepared as the run's tasks were) or ``own_target``
    (the name of one of the run's tasks: its transfer trials are not read by the meta-model).
    The best model is saved to ``output`` (default ``<run>/search/<target>/model``) unless
    ``export`` is false (a benchmark reading recorded results needs no weights).

    Raises:
        DataError: No target, an unknown own target, a name clash, a degenerate target.
        TransferScoutError: The run has no finished transfer trials of two other targets.
    """
    run_dir = Path(run_dir)
    config = config or load_run_config(run_dir)
    if (target is None) == (own_target is None):
        raise DataError("give either a new target task or the name of one of the run's tasks")
    check_before_training(config, None if target is None else TaskSet((target,)))
    tasks = config.data.load()
    if own_target is not None:
        if own_target not in tasks:
            raise DataError(
                f"{own_target!r} is not a task of the run",
                expected=f"one of {', '.join(tasks.names)}",
            )
        combined, name = tasks, own_target
    else:
        assert target is not None
        combined, name = with_target(tasks, target), target.name
    if name in ("", ".", "..") or any(sep in name for sep in ("/", "\\", "\0")):
        # The search's folder is named after the target: it must stay inside the run.
        raise DataError(
            f"target name {name!r} cannot name the search's folder <run>/search/<target>",
            expected="a name without '/', '\\' or NUL that is not '.' or '..' (--name NAME)",
        )
    folder = run_dir / "search" / name
    options = config.executor.options()
    executor = make_executor(
        options.executor,
        workers=options.workers,
        threads_per_worker=options.threads_per_worker,
        address=options.ray_address,
    )
    try:
        model_dir = Path(output) if output is not None else folder / "model"
        search = _Search(run_dir, config, tasks, combined, name, settings, executor, progress)
        return search.run(folder, model_dir if export else None, own_target is not None)
    finally:
        executor.close()


class _Search:
    """The state of one search; every decision is rebuilt from the store on a resume."""

    def __init__(
        self,
        run_dir: Path,
        config: RunConfig,
        sources: TaskSet,
        tasks: TaskSet,
        name: str,
        settings: SearchSettings,
        executor: Executor,
        progress: bool,
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.tasks = tasks
        self.name = name
        self.settings = settings
        self.executor = executor
        self.progress = progress
        self.grid: GridSpec = config.grid.spec()
        self.encoder = config.encoder.spec()
        self.encoder_fingerprint = encoder_fingerprint(self.encoder)
        # Candidates and chains this search asked for: their kept weights are removed at the end.
        self.trained: list[TrialSpec] = []
        self.prepaid: set[str] = set()  # single-task models done before the search
        self.sources = sources  # the run's own tasks: the grid the meta-model learns from
        self.metric = tasks[name].kind.metric_label  # every score is in the target's metric
        self.bounds = tasks[name].kind.metric_range

    # -- set-up ----------------------------------------------------------------------------
    def _signals(self, own: bool) -> pd.DataFrame:
        if own:
            with RunStore(self.run_dir, readonly=True) as store:
                rows = [r for r in store.pair_signals() if r["target"] == self.name]
            if rows:
                signals = pivot_signals(rows)
                return signals[signals["source"] != self.name].reset_index(drop=True)
        return target_signals(self.run_dir, self.tasks, self.name, self.config, progress=False)

    def _spec(
        self, source: str, source_settings: StageSettings, target_settings: StageSettings
    ) -> TrialSpec:
        return TrialSpec(
            kind="transfer",
            target=self.name,
            target_fingerprint=self.tasks[self.name].fingerprint,
            target_settings=target_settings,
            seed=self.grid.seeds[0],
            encoder=self.encoder,
            encoder_fingerprint=self.encoder_fingerprint,
            precision=self.grid.precision,
            source=source,
            source_fingerprint=self.tasks[source].fingerprint,
            source_settings=source_settings,
            target_kind=self.tasks[self.name].kind.name,
            target_outputs=self.tasks[self.name].num_outputs,
            source_kind=self.tasks[source].kind.name,
            source_outputs=self.tasks[source].num_outputs,
        )

    def _single(self, row: TrialRow) -> TrialSpec:
        """The single-task trial of a stored reference row."""
        spec = TrialSpec(
            kind="single",
            target=self.name,
            target_fingerprint=self.tasks[self.name].fingerprint,
            target_settings=StageSettings(**row.config["target"]["settings"]),
            seed=row.seed,
            encoder=self.encoder,
            encoder_fingerprint=self.encoder_fingerprint,
            precision=self.grid.precision,
            target_kind=self.tasks[self.name].kind.name,
            target_outputs=self.tasks[self.name].num_outputs,
        )
        if spec.id != row.id:  # the run's configuration no longer plans this trial
            raise TransferScoutError(f"reference trial {row.id} cannot be planned again")
        return spec

    def _stage_seconds(self, trial: TrialSpec, throughput: float) -> float:
        """Predicted training seconds of the stages of ``trial`` the search would pay for.

        From the configuration only; the run's single-task models (the source stages of its
        candidates, trained once before the search) cost nothing more.
        """
        seconds = 0.0
        stage: TrialSpec | None = trial
        while stage is not None:
            if stage.id not in self.prepaid:
                examples = len(self.tasks[stage.target].train) * stage.target_settings.epochs
                seconds += examples / throughput
            stage = stage.source_trial
        return seconds

    # -- training through the store --------------------------------------------------------
    def _ensure(self, trial: TrialSpec, *, need_model: bool = False) -> TrialRow:
        """The trial's stored row, training it (and missing source stages) only if needed.

        A trial trained here keeps its weights; a finished one is trained again only when
        ``need_model`` and its weights are not on disk (to export it).  A trial that failed
        (after the configured attempts) comes back with its failed row: the caller goes on.
        """
        self.trained.append(trial)
        with RunStore(self.run_dir, readonly=True) as store:
            row = store.row(trial.id)
        lost = need_model and not model_path(self.run_dir, trial.id).exists()
        if row is None or row.status != "done" or lost:
            stages = []
            stage: TrialSpec | None = trial
            while stage is not None:
                stages.append(stage)
                stage = stage.source_trial
            run_trials(
                self.run_dir,
                self.tasks,
                stages[::-1],
                self.config.executor.options(),
                executor=self.executor,
                keep_models=[trial.id],
            )
            with RunStore(self.run_dir, readonly=True) as store:
                row = store.row(trial.id)
        assert row is not None
        return row

    def _hours(self, trial: TrialSpec) -> float:
        """Realised training hours of the stages of ``trial`` not charged before, from the store.

        Every training is charged once: a stage shared by several candidates (a chain's
        middle stage) on its first use, the run's single-task models (trained before the
        search, the source stages of every candidate) never — they are the run's, reported
        beside.
        """
        seconds = 0.0
        with RunStore(self.run_dir, readonly=True) as store:
            stage: TrialSpec | None = trial
            while stage is not None:
                if stage.id not in self.prepaid and stage.id not in self.charged:
                    row = store.row(stage.id)
                    seconds += (row.target_seconds or 0.0) if row is not None else 0.0
                    self.charged.add(stage.id)
                stage = stage.source_trial
        return seconds / 3600

    # -- the search ------------------------------------------------------------------------
    def run(self, folder: Path, model_dir: Path | None, own: bool) -> SearchResult:
        settings = self.settings
        reference_rows = train_reference(
            self.run_dir, self.tasks, self.name, self.config, executor=self.executor
        )
        reference_hours = sum((r.target_seconds or 0.0) for r in reference_rows) / 3600
        # The run's single-task models, trained before the search: no candidate pays for them.
        with RunStore(self.run_dir, readonly=True) as store:
            self.prepaid = {r.id for r in store.rows(kind="single", status="done")}
        self.charged: set[str] = set()
        throughput = float(np.median([r.examples_per_second or math.nan for r in reference_rows]))
        if not throughput > 0:
            raise TransferScoutError(
                f"the reference models of {self.name!r} recorded no training throughput"
            )
        signals = self._signals(own)
        candidates = candidate_frame(signals, self.grid, self.tasks)
        history = meta_model_history(
            self.run_dir,
            candidates,
            self.config,
            self.sources,
            exclude_target=self.name,
            target_kind=self.tasks[self.name].kind.name,
        )
        if history is None:
            raise TransferScoutError(
                f"{self.run_dir}: search needs finished transfer trials of at least two other "
                "targets to learn from; train the run's grid first (transferscout run)"
            )
        pool = [
            _Candidate(
                trial := self._spec(source, source_settings, target_settings),
                index,
                self._stage_seconds(trial, throughput),
            )
            for index, (source_settings, target_settings, source) in enumerate(
                (ss, ts, s)
                for ss in self.grid.source_settings
                for ts in self.grid.target_settings
                for s in signals["source"]
            )
        ]
        self.features = candidates[history.columns].to_numpy(dtype=np.float64)
        self.train_x = history.table[history.columns].to_numpy(dtype=np.float64)
        # Like the evaluation's replay, the refits learn the validation gain over the target's
        # single-task model (META_TARGET) and observe this target's trials the same way: every
        # decision is on validation scores; test scores are only reported.  Predictions add the
        # reference's validation score back, to compare with the best model's.
        self.train_y = history.table[META_TARGET].to_numpy(dtype=np.float64)
        self.own_score = target_validation_scores(reference_rows)[self.name]
        self.halfwidth = history.halfwidth
        reference = max(reference_rows, key=validation_score)
        best: dict[str, Any] = {"row": reference, "trial": None, "label": "single-task"}
        spent = reference_hours
        budget = settings.budget
        # Room for the chain: one trial, if the budget also fits the sources it chains.
        reserve_trials = int(bool(settings.chains) and (budget.trials or 0) > settings.chains)
        reserve_hours = 0.0
        if settings.chains and budget.hours is not None:
            reserve_hours = max(c.predicted_seconds for c in pool) / 3600 + max(
                len(self.tasks[s].train) * st.epochs / throughput / 3600
                for s in signals["source"]
                for st in self.grid.source_settings
            )
        trace: list[dict[str, Any]] = []
        observed: list[_Candidate] = []  # finished candidates: the refits learn from them
        failed: list[_Candidate] = []  # candidates whose trial failed: tried, not learnt from
        values: list[float] = []
        stopped = "every candidate was trained"
        bar = progress_bar(enabled=self.progress, note=True)
        total = budget.trials if budget.trials is not None else len(pool)
        with bar:
            bar_task = bar.add_task(f"search {self.name}", total=total, note="")
            while True:
                remaining = [c for c in pool if c not in observed and c not in failed]
                tried = len(observed) + len(failed)
                if budget.trials is not None and tried >= budget.trials - reserve_trials:
                    stopped = f"budget of {budget.label} reached"
                    break
                if not remaining:
                    break
                picked = self._pick(
                    remaining,
                    observed,
                    values,
                    validation_score(best["row"]),
                    number=tried + 1,
                    left=(None if budget.hours is None else budget.hours - spent - reserve_hours),
                )
                if isinstance(picked, str):
                    stopped = picked
                    break
                position, predicted, upper = picked
                chosen = remaining[position]
                row = self._ensure(chosen.trial)
                hours = self._hours(chosen.trial)
                spent += hours
                if row.status != "done":  # failure isolation: tried, recorded, skipped
                    logger.warning("candidate %s failed: %s", chosen.trial.source, row.error)
                    failed.append(chosen)
                else:
                    observed.append(chosen)
                    values.append(validation_score(row) - self.own_score)
                if row.status == "done" and validation_score(row) > validation_score(best["row"]):
                    best = {"row": row, "trial": chosen.trial, "label": "transfer"}
                trace.append(
                    self._trace_row(
                        len(trace) + 1,
                        chosen,
                        row,
                        predicted,
                        upper,
                        hours,
                        spent,
                        best,
                    )
                )
                write_trace(folder, trace)
                logger.info(
                    "step %d: %s -> %s: validation score %.3f, test score %.3f (predicted %.3f), "
                    "%.3f h; best so far %s (%.3f)",
                    len(trace),
                    chosen.trial.source,
                    self.name,
                    validation_score(row),
                    test_score(row),
                    predicted,
                    hours,
                    best["label"],
                    test_score(best["row"]),
                )
                eta = _eta(budget, spent, [t["hours"] for t in trace], len(trace))
                bar.update(
                    bar_task,
                    advance=1,
                    note=f"best {test_score(best['row']):.3f} · {spent:.2f} h · ETA {eta}",
                )
            chain = None
            if settings.chains:
                chain = self._chain(observed, best, budget, spent, throughput, folder, trace)
                if chain is not None and chain.get("row") is not None:
                    spent += chain["hours"]
                    if chain["beat_best_single_source"] and validation_score(
                        chain["row"]
                    ) > validation_score(best["row"]):
                        best = {"row": chain["row"], "trial": chain["trial"], "label": "chain"}
                    bar.update(bar_task, advance=1)
        if model_dir is not None:
            # Trains the best model again only if its weights were not kept (a grid trial).
            best["row"] = self._ensure(best["trial"] or self._single(reference), need_model=True)
            if best["row"].status != "done":
                raise TransferScoutError(
                    f"training the best model of {self.name!r} again to keep its weights failed: "
                    f"{best['row'].error}; see `transferscout status {self.run_dir}`"
                )
            task = self.tasks[self.name]
            labels = task.kind.output_names(task.name, task.classes)
            export_model(
                self.run_dir,
                best["row"],
                labels,
                model_dir,
                model_card(
                    self.name,
                    (best["row"], best["label"]),
                    reference,
                    (len(observed) + len(failed), len(trace) - len(observed) - len(failed)),
                    len(pool),
                    spent,
                    settings.budget.label,
                    labels=labels,
                    outside_grid=(chain or {}).get("outside_grid", [])
                    if best["label"] == "chain"
                    else [],
                ),
            )
        result = SearchResult(
            target=self.name,
            trace=pd.DataFrame(trace, columns=TRACE_COLUMNS),
            reference=row_summary(reference, "single-task"),
            best=row_summary(best["row"], best["label"]),
            stopped=stopped,
            pool=len(pool),
            tried=len(trace),
            hours=spent,
            chain=None
            if chain is None
            else {k: v for k, v in chain.items() if k not in ("row", "trial")},
            folder=folder,
            model_dir=model_dir,
            settings={**asdict(settings), "budget": settings.budget.label},
            interval={
                "halfwidth": self.halfwidth,
                "informative": interval_is_informative(self.halfwidth, self.bounds),
            },
        )
        _write_result(result)
        self._drop_other_models(best)
        return result

    def _pick(
        self,
        remaining: Sequence[_Candidate],
        observed: Sequence[_Candidate],
        values: Sequence[float],
        best_value: float,
        *,
        number: int,
        left: float | None,
    ) -> tuple[int, float, float] | str:
        """Refit and choose: ``(position in remaining, predicted, upper)``, or why to stop.

        ``number`` is the step (1-based); ``left`` the time budget's hours left for single
        sources (``None``: a trial budget).
        """
        settings = self.settings
        cost = np.asarray([c.predicted_seconds for c in remaining])
        step = adaptive_step(
            np.vstack([self.train_x, self.features[[c.row for c in observed]]]),
            np.concatenate([self.train_y, np.asarray(values)]),
            self.features[[c.row for c in remaining]],
            cost,
            step=number,
            strategy=settings.strategy,
            kappa=settings.kappa,
            n_estimators=settings.n_estimators,
            seed=settings.seed,
        )
        # Shown and compared within the metric's range: an upper bound of 1.2 (or inf, with
        # too few residuals for an interval) would be no statement about a positive F1.
        low, high = self.bounds
        mean = np.clip(step.mean + self.own_score, low, high)
        upper = np.clip(mean + self.halfwidth, low, high)
        if float(upper.max()) < best_value + settings.margin:
            return (
                f"no remaining candidate's upper predicted {self.metric} ({upper.max():.3f}) "
                f"beats the best model's validation {self.metric} ({best_value:.3f}) by "
                f"{settings.margin}"
            )
        fits = np.ones(len(remaining), dtype=bool) if left is None else cost / 3600 <= left
        if not fits.any():
            hours = max(left or 0.0, 0.0)
            return f"time budget: no candidate's predicted cost fits in the {hours:.3f} h left"
        # The strategy's order (ties: lower predicted cost, a seeded key), skipping misfits.
        position = int(next(i for i in step.order if fits[i]))
        return position, float(mean[position]), float(upper[position])

    def _trace_row(
        self,
        step: int,
        candidate: _Candidate,
        row: TrialRow,
        predicted: float,
        upper: float,
        hours: float,
        spent: float,
        best: dict[str, Any],
    ) -> dict[str, Any]:
        trial = candidate.trial
        return {
            "step": step,
            "kind": trial.kind,
            "candidate": " -> ".join(trial.sources),
            "source_learning_rate": trial.source_settings.learning_rate
            if trial.source_settings
            else math.nan,
            "target_learning_rate": trial.target_settings.learning_rate,
            "predicted_f1": predicted,
            "upper_f1": upper,
            "predicted_hours": candidate.predicted_seconds / 3600,
            "validation_f1": validation_score(row) if row.status == "done" else math.nan,
            "test_f1": test_score(row),
            "hours": hours,
            "total_hours": spent,
            "best": best["label"] if best["trial"] is None else " -> ".join(best["trial"].sources),
            "best_test_f1": test_score(best["row"]),
            "trial": trial.id,
        }

    def _chain(
        self,
        observed: Sequence[_Candidate],
        best: dict[str, Any],
        budget: Budget,
        spent: float,
        throughput: float,
        folder: Path,
        trace: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        """Train the chain of the best distinct sources (best last), if the budget allows."""
        with RunStore(self.run_dir, readonly=True) as store:
            done = [(c, store.row(c.trial.id)) for c in observed]
        ranked: list[tuple[_Candidate, TrialRow]] = []
        for candidate, row in sorted(
            ((c, r) for c, r in done if r is not None), key=lambda item: -validation_score(item[1])
        ):
            if candidate.trial.source not in {c.trial.source for c, _ in ranked}:
                ranked.append((candidate, row))
        k = self.settings.chains
        if len(ranked) < k:
            logger.info("no chain: fewer than %d distinct sources were trained", k)
            return {"tried": False, "reason": f"fewer than {k} distinct sources trained"}
        if budget.trials is not None and len(trace) >= budget.trials:
            return {"tried": False, "reason": f"the budget of {budget.label} is spent"}
        picked = ranked[:k][::-1]  # best last: the stage right before the target
        last, _ = picked[-1]
        earlier = tuple(_first_stage(c.trial) for c, _ in picked[:-1])
        trial = replace(last.trial, kind="chain", earlier=earlier)
        predicted = self._stage_seconds(trial, throughput)
        if budget.hours is not None and predicted / 3600 > budget.hours - spent:
            return {"tried": False, "reason": "its predicted cost exceeds the time left"}
        planned = {t.id for t in plan_trials(self.grid, self.sources, self.encoder)}
        outside = [describe_stage(stage) for stage in stages_outside_grid(trial, planned)]
        if outside:
            logger.info(
                "chain %s -> %s: %s %s not a trial of the configured grid (an intermediate task "
                "trains with the source settings): trained for this chain only; the evaluation, "
                "Table 1, rank and search learn from the configured grid's trials alone",
                " -> ".join(trial.sources),
                self.name,
                "; ".join(outside),
                "is" if len(outside) == 1 else "are",
            )
        row = self._ensure(trial)
        hours = self._hours(trial)
        best_single = ranked[0][1]
        beat = validation_score(row) > validation_score(best_single)
        candidate = _Candidate(trial, -1, predicted)
        new_best = best
        if beat and validation_score(row) > validation_score(best["row"]):
            new_best = {"row": row, "trial": trial, "label": "chain"}
        trace.append(
            self._trace_row(
                len(trace) + 1, candidate, row, math.nan, math.nan, hours, spent + hours, new_best
            )
        )
        write_trace(folder, trace)
        logger.info(
            "chain %s -> %s: validation %s %.3f vs best single source %.3f (%s)",
            " -> ".join(trial.sources),
            self.name,
            self.metric,
            validation_score(row),
            validation_score(best_single),
            "beats it" if beat else "does not beat it",
        )
        finished = row.status == "done"
        return {
            "tried": True,
            "error": None if finished else row.error,
            "sources": list(trial.sources),
            "validation_f1": validation_score(row) if finished else math.nan,
            "test_f1": test_score(row),
            "best_single_source": ranked[0][0].trial.source,
            "best_single_validation_f1": validation_score(best_single),
            "best_single_test_f1": test_score(best_single),
            "beat_best_single_source": beat,
            "outside_grid": outside,
            "hours": hours,
            "row": row,
            "trial": trial,
        }

    def _drop_other_models(self, best: dict[str, Any]) -> None:
        """Delete kept weights of candidates and chain stages other than the best one's.

        The best model is already exported; single-task models (the run's) are never deleted.
        """
        keep = None if best["trial"] is None else best["trial"].id
        for trial in self.trained:
            stage: TrialSpec | None = trial
            while stage is not None and stage.kind != "single":
                if stage.id != keep:
                    model_path(self.run_dir, stage.id).unlink(missing_ok=True)
                stage = stage.source_trial


def stages_outside_grid(trial: TrialSpec, planned: Collection[str]) -> list[TrialSpec]:
    """The earlier stages of a chained trial that are not trials of the configured grid.

    A chain ``encoder -> A1 -> A2 -> target`` trains ``A2`` as an intermediate task with the
    source settings of its best candidate, so its stage ``A1 -> A2`` is a grid trial only when
    those settings are also among the grid's target settings (and ``A2`` among its targets).
    Such a stage is trained for the chain alone; every reader of the grid (the evaluation, Table
    1, rank and search) selects the configured grid's ids, so it never passes for a grid result.

    Returns:
        Those stages in training order (first first); the chain itself is not listed.
    """
    stages: list[TrialSpec] = []
    stage = trial.source_trial
    while stage is not None:
        if stage.id not in planned:
            stages.append(stage)
        stage = stage.source_trial
    return stages[::-1]


def describe_stage(stage: TrialSpec) -> str:
    """``encoder -> A1 -> A2 (learning rate 3e-05, epochs 2)``: a stage and its own settings."""
    settings = stage.target_settings
    path = " -> ".join(["encoder", *stage.sources, stage.target])
    return f"{path} (learning rate {settings.learning_rate:g}, epochs {settings.epochs})"


def _first_stage(trial: TrialSpec) -> ChainStage:
    """A transfer trial's source stage as an earlier stage of a chain."""
    assert trial.source and trial.source_fingerprint and trial.source_settings
    return ChainStage(
        trial.source,
        trial.source_fingerprint,
        trial.source_settings,
        task_kind=trial.source_kind,
        outputs=trial.source_outputs,
    )


def _eta(budget: Budget, spent: float, hours: Sequence[float], done: int) -> str:
    """Hours left: at most the time budget's rest, or the mean candidate × trials left."""
    if budget.hours is not None:
        return f"<= {max(budget.hours - spent, 0.0):.2f} h"
    assert budget.trials is not None
    return f"~{float(np.mean(hours)) * max(budget.trials - done, 0):.2f} h"


def _write_result(result: SearchResult) -> None:
    write_trace(result.folder, result.trace.to_dict("records"))
    payload = {
        "target": result.target,
        "reference": result.reference,
        "best": result.best,
        "stopped": result.stopped,
        "pool": result.pool,
        "tried": result.tried,
        "hours": result.hours,
        "chain": result.chain,
        "model_dir": str(result.model_dir),
        "settings": result.settings,
        "interval": result.interval,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomically(
        result.folder / "search.json", json.dumps(payload, indent=2, default=str) + "\n"
    )
