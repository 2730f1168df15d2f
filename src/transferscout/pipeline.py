"""The stages of a run wired together: tasks → trial grid → signals → evaluation → report.

Each stage after the grid is cached under a content hash of its inputs (its settings, the
task data fingerprints, and the finished trials and signals it reads), recorded in
``<run>/stages/<stage>.json`` together with the identity of the store it describes: a re-run
does only what changed, and a marker never vouches for another store.  The grid itself is
resumable trial by trial through the run's store.

Everything that can be checked is checked before anything is written: the configuration, the
data, the grid, the run folder, the lock and the store.  Only then is ``config.json`` written.
The evaluation covers the configured grid only: trials of an earlier grid stay in the store
(and are reused if the grid comes back) but are left out, with a note in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from transferscout.checks import check_before_training
from transferscout.config import RunConfig, load_run_config
from transferscout.errors import ConfigError
from transferscout.evaluation.cross_pool import (
    CrossPoolResult,
    check_distinct_runs,
    evaluate_cross_pool,
)
from transferscout.evaluation.run import EvaluationResult, evaluate_run
from transferscout.grid.models import (
    load_trained_model,
    matched_single_task_ids,
    select_single_task_models,
)
from transferscout.grid.runner import GridSummary, run_grid
from transferscout.grid.spec import TrialSpec
from transferscout.grid.store import RunStore, run_lock
from transferscout.report.build import ReportFiles, write_report
from transferscout.run_folder import open_run, plan_run
from transferscout.signals.ansat_stage import compute_ansat
from transferscout.signals.budget import grid_budget, plan_pair_examples
from transferscout.signals.pair_stage import (
    PairSignalSettings,
    compute_pair_signals,
    pooled_features,
)
from transferscout.tasks.task import TaskSet

__all__ = [
    "PipelineResult",
    "compute_ansat_signals",
    "compute_pair_signals_stage",
    "evaluate",
    "evaluate_across_pools",
    "run_pipeline",
    "train_grid",
]

logger = logging.getLogger(__name__)


def train_grid(
    config: RunConfig,
    run_dir: str | Path,
    *,
    progress: bool = False,
    retrain_on_version_change: bool = False,
) -> GridSummary:
    """Build the configured tasks and run (or continue) the configured trial grid.

    Finished trials trained under other library versions are reused (and the run says so);
    ``retrain_on_version_change`` trains them again, for this call only.
    """
    run_dir = Path(run_dir)
    tasks, _ = plan_run(config, run_dir)
    check_before_training(config, tasks)
    with open_run(config, run_dir):
        return _grid(config, run_dir, tasks, progress, retrain_on_version_change)


def _grid(
    config: RunConfig, run_dir: Path, tasks: TaskSet, progress: bool, retrain: bool
) -> GridSummary:
    summary = run_grid(
        run_dir,
        tasks,
        config.grid.spec(),
        config.encoder.spec(),
        replace(config.executor.options(), retrain_on_version_change=retrain),
        progress=progress,
    )
    logger.info(
        "grid: %d done, %d failed (%d to retry), %d pending (%d run now)",
        summary.done,
        summary.failed,
        summary.retryable,
        summary.pending,
        summary.ran_now,
    )
    return summary


def compute_ansat_signals(config: RunConfig, run_dir: str | Path, *, progress: bool = False) -> int:
    """Attribute the run's single-task models and store ANSAT for every ordered task pair.

    ANSAT's derived settings fit ``signals.budget`` of the run's projected grid, less what the
    pair signals already spent (compute them first to have them charged).
    """
    return _ansat(config, Path(run_dir), config.data.load(), progress)


def _ansat(config: RunConfig, run_dir: Path, tasks: TaskSet, progress: bool) -> int:
    budget = grid_budget(
        run_dir,
        tasks,
        config.grid.spec(),
        config.encoder.spec(),
        fraction=config.signals.budget,
    )
    return compute_ansat(
        run_dir,
        tasks,
        config.ansat_settings(),
        progress=progress,
        budget=budget,
        device=config.executor.device,
    )


def compute_pair_signals_stage(
    config: RunConfig, run_dir: str | Path, *, progress: bool = False
) -> int:
    """Store task embeddings, estimator scores and baselines for every ordered task pair."""
    tasks = config.data.load()
    settings = pair_settings(config, Path(run_dir), tasks)
    return compute_pair_signals(
        run_dir, tasks, settings, progress=progress, device=config.executor.device
    )


def pair_settings(config: RunConfig, run_dir: Path, tasks: TaskSet) -> PairSignalSettings:
    """The pair signals' settings; left out, the examples per task fit half the budget.

    The cost of an inference pass and of loading a model is measured on the first task's
    single-task model (a short calibration on a few of its training texts, after a first
    load and pass that pay the one-time costs of the process).
    """
    if config.signals.pairs.max_examples is not None:
        return config.pair_settings()
    budget = grid_budget(run_dir, tasks, config.grid.spec(), config.encoder.spec())
    budget = replace(budget, fraction=config.signals.budget, spent_seconds=0.0)
    start = time.perf_counter()
    seconds_per_example, load_seconds = _calibrate_inference(config, run_dir, tasks)
    with RunStore(run_dir) as store:  # charged with the signals
        store.put_cost("calibration", "pairs", time.perf_counter() - start, {})
    examples = plan_pair_examples(
        budget,
        seconds_per_example,
        sizes=[len(task.train) for task in tasks.tasks],
        fixed_seconds=(len(tasks) + 1) * load_seconds,
    )
    logger.info(
        "pair signals: %d training examples per task (half of the %g%% budget of a %.2f h "
        "grid; %.4f s per example and pass, %.2f s per model load)",
        examples,
        config.signals.budget * 100,
        budget.grid_seconds / 3600,
        seconds_per_example,
        load_seconds,
    )
    return config.pair_settings(max_examples=examples)


#: Training texts of the first task the inference calibration runs on.
CALIBRATION_EXAMPLES = 32


def _calibrate_inference(config: RunConfig, run_dir: Path, tasks: TaskSet) -> tuple[float, float]:
    """Seconds per example of a feature pass, and seconds to load a model (measured).

    The first load and pass of a process also import and initialise libraries (seconds on
    a busy machine); they are done once untimed, so only what every further model and
    batch costs is measured.
    """
    first = tasks.names[0]
    with RunStore(run_dir, readonly=True) as store:
        row = select_single_task_models(store, tasks)[first]
    load_trained_model(run_dir, row, device=config.executor.device)
    start = time.perf_counter()
    encoder = load_trained_model(run_dir, row, device=config.executor.device)
    load_seconds = time.perf_counter() - start
    train = tasks[first].train
    settings = config.pair_settings()

    def features(count: int) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.precision == "bf16"):
            pooled_features(
                encoder.model,
                encoder.tokenizer,
                train.texts[:count],
                max_length=settings.max_length,
                batch_size=settings.batch_size,
                pairs=None if train.pairs is None else train.pairs[:count],
                kind=tasks[first].kind,
            )

    features(2)
    start = time.perf_counter()
    features(CALIBRATION_EXAMPLES)
    seconds = (time.perf_counter() - start) / max(1, min(CALIBRATION_EXAMPLES, len(train)))
    return seconds, load_seconds


def evaluate(config: RunConfig, run_dir: str | Path) -> EvaluationResult:
    """Fit the meta-models leave-one-target-out and write every metric to ``run_dir/evaluation``.

    Only the configured grid's trials are evaluated (see the module docstring).
    """
    run_dir = Path(run_dir)
    tasks, trials = plan_run(config, run_dir)
    _check_evaluable(trials, config.evaluation.allow_self_transfer)
    with run_lock(run_dir):
        return evaluate_run(run_dir, config.evaluation.settings(), trials={t.id for t in trials})


def evaluate_across_pools(
    config: RunConfig, run_dir: str | Path, fit_on: str | Path
) -> CrossPoolResult:
    """Evaluate ``run_dir`` within its pool, then with meta-models fitted on ``fit_on``'s run.

    Both runs' configured grids are planned (and the two runs' features and kinds checked)
    before anything is written; the fitted run is read, never written.
    """
    run_dir, fit_on = Path(run_dir), Path(fit_on)
    check_distinct_runs(run_dir, fit_on)
    _, trials = plan_run(config, run_dir)
    _check_evaluable(trials, config.evaluation.allow_self_transfer)
    _, fit_trials = plan_run(load_run_config(fit_on), fit_on)
    with run_lock(run_dir):
        return evaluate_cross_pool(
            run_dir,
            fit_on,
            config.evaluation.settings(),
            trials={t.id for t in trials},
            fit_trials={t.id for t in fit_trials},
        )


def _check_evaluable(trials: Sequence[TrialSpec], allow_self_transfer: bool) -> None:
    """The evaluation is leave-one-target-out: refuse, before training, a grid it cannot use."""
    targets = {
        t.target
        for t in trials
        if t.kind == "transfer" and (allow_self_transfer or t.source != t.target)
    }
    if len(targets) < 2:
        raise ConfigError(
            f"the evaluation needs transfer trials on at least two targets; the configured grid "
            f"has {len(targets)} ({', '.join(sorted(targets)) or 'none'}): widen grid.targets or "
            "grid.sources, or train without evaluating (transferscout grid run)"
        )


@dataclass
class PipelineResult:
    """What a whole run produced."""

    grid: GridSummary
    evaluation: EvaluationResult | None
    report: ReportFiles | None
    stages_run: list[str]


class _StageCache:
    """Content-hash markers of finished stages in ``<run>/stages``, tied to one store.

    A marker records the identity of the store whose contents it describes; a store created
    anew (or another run's markers) makes it stale.  Markers written before stores had an
    identity hold none: they are trusted only for a store upgraded in place (``migrated``).
    """

    def __init__(self, run_dir: Path, store: tuple[str | None, str | None]) -> None:
        self.folder = run_dir / "stages"
        self.identity, self.origin = store

    @staticmethod
    def key(inputs: Any) -> str:
        text = json.dumps(inputs, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def fresh(self, stage: str, key: str) -> bool:
        path = self.folder / f"{stage}.json"
        try:
            marker = json.loads(path.read_text())
        except (OSError, ValueError):  # missing, or a torn or foreign file: not fresh
            return False
        if not isinstance(marker, dict) or marker.get("key") != key:
            return False
        if "store" not in marker:
            return self.origin == "migrated"
        return bool(marker["store"] == self.identity)

    def record(self, stage: str, key: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{stage}.json.tmp"
        temporary.write_text(json.dumps({"key": key, "store": self.identity}))
        temporary.replace(self.folder / f"{stage}.json")


def _store_digest(
    run_dir: Path,
    fingerprints: set[str],
    planned: Collection[str] | None = None,
    *,
    matched: bool = True,
) -> dict[str, Any]:
    """Finished trials on these tasks (others, e.g. a recommendation's target, don't count).

    With ``planned``, only those trials (the configured grid) count; without ``matched``,
    compute-matched single-task trials do not (the signals never read them).  Each counts
    with the time it finished: a trial trained again after a library upgrade
    (``retrain_on_version_change``) has a new model and new results, which the stages read.
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows()
        left_out = set() if matched else matched_single_task_ids(rows)
        done = sorted(
            f"{r.id} {r.finished_at!r}"
            for r in rows
            if r.status == "done"
            and r.id not in left_out
            and r.config["target"]["fingerprint"] in fingerprints
            and (r.config["source"] is None or r.config["source"]["fingerprint"] in fingerprints)
            and (planned is None or r.id in planned)
        )
    return {"done": hashlib.sha256("\n".join(done).encode()).hexdigest(), "count": len(done)}


def run_pipeline(
    config: RunConfig,
    run_dir: str | Path,
    *,
    progress: bool = False,
    retrain_on_version_change: bool = False,
) -> PipelineResult:
    """Run every stage in order, each only if its inputs changed since it last ran.

    Everything that can be refused is refused before anything is written (see the module
    docstring); the run's lock is held from the first write to the last.  Finished trials
    trained under other library versions are reused unless ``retrain_on_version_change``.
    """
    run_dir = Path(run_dir)
    tasks, trials = plan_run(config, run_dir)
    _check_evaluable(trials, config.evaluation.allow_self_transfer)
    check_before_training(config, tasks)
    with open_run(config, run_dir) as store:
        return _run_stages(
            config, run_dir, tasks, trials, store, progress, retrain_on_version_change
        )


def _run_stages(
    config: RunConfig,
    run_dir: Path,
    tasks: TaskSet,
    trials: Sequence[TrialSpec],
    store: tuple[str | None, str | None],
    progress: bool,
    retrain: bool,
) -> PipelineResult:
    grid = _grid(config, run_dir, tasks, progress, retrain)
    if grid.failed or grid.pending:
        logger.warning(
            "the grid has %d failed and %d pending trials; signals and evaluation use the "
            "finished ones (see `transferscout status %s`)",
            grid.failed,
            grid.pending,
            run_dir,
        )
    cache = _StageCache(run_dir, store)
    fingerprints = {name: task.fingerprint for name, task in tasks.items()}
    # The signals read the plain single-task models only: matched ones change none of them.
    done = _store_digest(run_dir, set(fingerprints.values()), matched=False)
    planned = {t.id for t in trials}
    stages_run = []
    # The pair signals run first: their cost is charged to the signals' budget before
    # ANSAT's derived document sets and integration steps are planned within what is left.
    pairs_inputs = [asdict(config.pair_settings()), config.signals.budget]
    pairs_inputs.append(config.signals.pairs.max_examples)  # None: derived from the trials
    pairs_key = cache.key(["pairs", pairs_inputs, fingerprints, done])
    if not cache.fresh("pairs", pairs_key):
        settings = pair_settings(config, run_dir, tasks)
        compute_pair_signals(
            run_dir, tasks, settings, progress=progress, device=config.executor.device
        )
        cache.record("pairs", pairs_key)
        stages_run.append("pairs")
    ansat_inputs = [asdict(config.ansat_settings()), config.signals.budget, pairs_key]
    ansat_key = cache.key(["ansat", ansat_inputs, fingerprints, done])
    if not cache.fresh("ansat", ansat_key):
        _ansat(config, run_dir, tasks, progress)
        cache.record("ansat", ansat_key)
        stages_run.append("ansat")
    graded = _store_digest(run_dir, set(fingerprints.values()), planned)
    evaluation_key = cache.key(
        ["evaluation", asdict(config.evaluation), ansat_key, pairs_key, graded]
    )
    evaluation = None
    evaluated = (run_dir / "evaluation" / "summary.json").exists()
    if not cache.fresh("evaluation", evaluation_key) or not evaluated:
        evaluation = evaluate_run(run_dir, config.evaluation.settings(), trials=planned)
        cache.record("evaluation", evaluation_key)
        stages_run.append("evaluation")
    report_key = cache.key(["report", evaluation_key])
    report = ReportFiles(run_dir / "report" / "report.html", run_dir / "report" / "report.md")
    if not cache.fresh("report", report_key) or not report.html.exists():
        report = write_report(run_dir)
        cache.record("report", report_key)
        stages_run.append("report")
    return PipelineResult(grid, evaluation, report, stages_run)
