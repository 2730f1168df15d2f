"""Drive a trial grid to completion: plan, resume, execute, record.

The driver is the only process that writes the run's store.  Single-task trials run first
(they are the shared source stages); a transfer trial runs once its source trial is done.
Re-running the same grid on the same run folder continues where it stopped: finished trials
are kept, trials left running by a crash are re-run, failed trials are retried until they have
had ``max_attempts`` attempts, and no trial is ever stored twice.  A trial whose worker process
dies under it is started again at once, on a fresh worker, while it has attempts left; a trial
that raises waits for the next run (the same seed and data would raise again).

A finished trial trained under other library versions (torch, transformers) is the same trial
— its id does not hash them — and is reused, which the run says once with the versions and
the count; ``ExecutionOptions.retrain_on_version_change`` trains such trials again, and the
finished trials built on them.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from transferscout._progress import progress_bar
from transferscout._text import counted
from transferscout.encoders import EncoderSpec, encoder_fingerprint
from transferscout.errors import ConfigError
from transferscout.grid.executors import Executor, InProcessExecutor, make_executor
from transferscout.grid.faults import crash_point
from transferscout.grid.identity import library_versions
from transferscout.grid.spec import GridSpec, TrialSpec, expand_grid
from transferscout.grid.store import Recreation, RunStore
from transferscout.grid.worker import TrialOutcome, TrialPayload
from transferscout.tasks.task import TaskSet

__all__ = [
    "ExecutionOptions",
    "GridSummary",
    "model_path",
    "plan_trials",
    "run_grid",
    "run_trials",
]

logger = logging.getLogger(__name__)

#: Trial kinds in the order they run: each kind's source stages are of an earlier kind.
KINDS = ("single", "transfer", "chain")


@dataclass(frozen=True)
class ExecutionOptions:
    """Where and how trials run.

    Attributes:
        executor: ``"local"`` or ``"ray"``.
        workers: Trials run at once (local: worker processes; 1 means in this process).
            ``None`` picks one worker per core (at most 8), each with one thread: on two
            cores that trained 1.2-1.3x faster than one two-thread process (BENCHMARKS.md).
        threads_per_worker: Torch threads per worker (default: cores // workers).
        ray_address: Address of an existing Ray cluster; empty starts a local one.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        max_attempts: A failed trial is retried until it has had this many attempts (one
            whose worker process died at once, on a fresh worker; one that raised on the next
            run).
        retrain_on_version_change: Train again the finished trials that were trained under
            other library versions than the installed ones (and the trials built on them);
            by default they are reused, and the run says so.
    """

    executor: str = "local"
    workers: int | None = None
    threads_per_worker: int | None = None
    ray_address: str | None = None
    device: str = "auto"
    max_attempts: int = 2
    retrain_on_version_change: bool = False

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor = {self.executor!r}; expected 'local' or 'ray'")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers = {self.workers}; expected at least 1")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise ConfigError(f"threads_per_worker = {self.threads_per_worker}; expected >= 1")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts = {self.max_attempts}; expected at least 1")
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda")):
            raise ConfigError(f"device = {self.device!r}; expected 'auto', 'cpu' or 'cuda'")


@dataclass(frozen=True)
class GridSummary:
    """Trial counts of a grid after a run.

    Attributes:
        total: Trials of the grid.
        done: Finished trials.
        failed: Failed trials (with their errors in the store).
        pending: Trials not run yet.
        ran_now: Trials run by this call.
        retryable: Failed trials with attempts left: the next run retries them.
    """

    total: int
    done: int
    failed: int
    pending: int
    ran_now: int
    retryable: int = 0


def model_path(run_dir: str | Path, trial_id: str) -> Path:
    """Where the weights of a single-task trial are kept."""
    return Path(run_dir) / "models" / f"{trial_id}.safetensors"


def plan_trials(grid: GridSpec, tasks: TaskSet, encoder: EncoderSpec) -> list[TrialSpec]:
    """Expand and validate a grid without touching any run folder (fails before training)."""
    return expand_grid(grid, tasks, encoder, encoder_fingerprint(encoder))


def run_grid(
    run_dir: str | Path,
    tasks: TaskSet,
    grid: GridSpec,
    encoder: EncoderSpec,
    options: ExecutionOptions | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = False,
) -> GridSummary:
    """Run (or continue) every trial of ``grid`` and record it in ``run_dir``'s store.

    Args:
        run_dir: The run folder (created if needed).
        tasks: The task set the grid refers to.
        grid: The trials to run.
        encoder: The pretrained encoder every trial starts from.
        options: Executor, workers, device and retry limit.
        executor: Use this executor instead of building one from ``options``.
        progress: Show a progress bar.

    Returns:
        The grid's trial counts after this run.
    """
    trials = plan_trials(grid, tasks, encoder)
    return run_trials(run_dir, tasks, trials, options, executor=executor, progress=progress)


def run_trials(
    run_dir: str | Path,
    tasks: TaskSet,
    trials: Sequence[TrialSpec],
    options: ExecutionOptions | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = False,
    keep_models: Collection[str] = (),
) -> GridSummary:
    """Run (or continue) the given trials; each source stage must be among them.

    ``keep_models`` names transfer or chained trials whose weights are kept like a single-task
    model's (a finished one whose file is missing is trained again); a chained trial's source
    stage is always kept, as the chain starts from it.
    """
    options = options or ExecutionOptions()
    run_dir = Path(run_dir)
    keep = {
        *keep_models,
        *(t.source_trial.id for t in trials if t.kind == "chain" and t.source_trial),
    }
    with RunStore(run_dir) as store:
        store.add_trials(
            (
                t.id,
                t.kind,
                t.target,
                t.source,
                None if t.source_trial is None else t.source_trial.id,
                t.seed,
                t.config(),
            )
            for t in trials
        )
        requeued = store.requeue_interrupted()
        if requeued:
            logger.info("%d trials were interrupted by a stop; running them again", requeued)
        _check_library_versions(store, trials, options.retrain_on_version_change)
        _requeue_lost_models(store, run_dir, trials, keep)
        # A trial trained now records the library versions it is trained under.
        store.record_configs({t.id: t.config() for t in trials})
        ran = _execute(store, run_dir, tasks, trials, executor, options, progress, keep)
        return _summary(store, trials, options.max_attempts, ran)


def _check_library_versions(store: RunStore, trials: Sequence[TrialSpec], retrain: bool) -> None:
    """Reuse (or, with ``retrain``, train again) finished trials of other library versions."""
    planned = {t.id: t for t in trials}
    done = {row.id: row for row in store.rows(status="done") if row.id in planned}
    changed = [
        row
        for row in done.values()
        if library_versions(row.config) != library_versions(planned[row.id].config())
    ]
    if not changed:
        return
    groups = Counter(_versions_text(library_versions(row.config)) for row in changed)
    trained = "; ".join(f"{count} under {text}" for text, count in groups.items())
    installed = _versions_text(library_versions(planned[changed[0].id].config()))
    if not retrain:
        logger.warning(
            "reusing %d finished trials trained under other library versions (%s; installed: "
            "%s): a trial's id does not depend on them, so none is trained again "
            "(--retrain-on-version-change trains them again)",
            len(changed),
            trained,
            installed,
        )
        return
    again = {row.id for row in changed}
    built_on = {
        trial.id
        for trial in trials
        if trial.id in done and trial.id not in again and again & set(_stage_ids(trial))
    }
    store.retrain({i: planned[i].config() for i in again | built_on})
    logger.warning(
        "training again %d finished trials trained under other library versions (%s; "
        "installed: %s)%s",
        len(changed),
        trained,
        installed,
        f", and {len(built_on)} finished trials built on them" if built_on else "",
    )


def _stage_ids(trial: TrialSpec) -> Iterator[str]:
    """The ids of a trial's source stages, last first."""
    stage = trial.source_trial
    while stage is not None:
        yield stage.id
        stage = stage.source_trial


def _versions_text(versions: dict[str, str]) -> str:
    if not versions:
        return "no recorded versions"
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


def _requeue_lost_models(
    store: RunStore, run_dir: Path, trials: Sequence[TrialSpec], keep: Collection[str]
) -> None:
    ids = {t.id for t in trials if t.kind == "single" or t.id in keep}
    lost = [
        row.id
        for row in store.rows(status="done")
        if row.id in ids and not model_path(run_dir, row.id).exists()
    ]
    if lost:
        logger.warning(
            "%d finished models are missing on disk; training them again (each trial keeps its "
            "first measured seconds)",
            len(lost),
        )
        store.requeue_lost_models(lost)


def _runnable(store: RunStore, trials: Sequence[TrialSpec], max_attempts: int) -> list[TrialSpec]:
    rows = {row.id: row for row in store.rows()}
    out = []
    for trial in trials:
        row = rows[trial.id]
        if row.status == "pending" or (row.status == "failed" and row.attempts < max_attempts):
            out.append(trial)
    return out


def _execute(
    store: RunStore,
    run_dir: Path,
    tasks: TaskSet,
    trials: Sequence[TrialSpec],
    executor: Executor | None,
    options: ExecutionOptions,
    progress: bool,
    keep: Collection[str],
) -> int:
    stages = [
        _runnable(store, [t for t in trials if t.kind == kind], options.max_attempts)
        for kind in KINDS
    ]
    if not any(stages):
        logger.info("nothing to run: every trial of the grid is finished")
        return 0
    if executor is not None:
        return _run_stages(store, run_dir, tasks, stages, executor, options, progress, keep)
    owned = make_executor(
        options.executor,
        workers=options.workers,
        threads_per_worker=options.threads_per_worker,
        address=options.ray_address,
    )
    try:
        return _run_stages(store, run_dir, tasks, stages, owned, options, progress, keep)
    finally:
        owned.close()


def _run_stages(
    store: RunStore,
    run_dir: Path,
    tasks: TaskSet,
    stages: list[list[TrialSpec]],
    executor: Executor,
    options: ExecutionOptions,
    progress: bool,
    keep: Collection[str],
) -> int:
    total = sum(len(stage) for stage in stages)
    counts = ", ".join(
        counted(len(s), f"{kind} trial") for kind, s in zip(KINDS, stages, strict=True) if s
    )
    # One trial at a time (a search's) is said by its caller; a batch is said here.
    logger.log(logging.INFO if total > 1 else logging.DEBUG, "running %s", counts)
    bar = progress_bar(enabled=progress, note=True)
    ran = 0
    failed = 0
    recreated: list[Recreation] = []
    with bar:
        bar_task = bar.add_task("trials", total=total, note="failed 0")
        if isinstance(executor, InProcessExecutor) and progress:
            step_task = bar.add_task("steps of this trial", total=None, note="")
            executor.on_step = lambda step, steps: bar.update(
                step_task, completed=step, total=steps
            )

        def on_start(payload: TrialPayload) -> None:
            store.start(payload.trial.id, worker=options.executor)
            crash_point("started")

        planned = 0
        for index, stage in enumerate(stages):
            if index:  # only now do we know which source stages finished
                stage = _ready_transfers(store, stage, options.max_attempts)
                bar.update(
                    bar_task, total=planned + len(stage) + sum(map(len, stages[index + 1 :]))
                )
            planned += len(stage)
            payloads = _payloads(store, stage, tasks, run_dir, options, keep)
            for outcome in executor.run(payloads, on_start):
                recreation = _record(store, run_dir, outcome)
                recreated += [recreation] if recreation is not None else []
                ran += 1
                failed += not outcome.ok
                bar.update(bar_task, advance=1, note=f"failed {failed}")
    if recreated:
        differ = sum(not r.same_metrics for r in recreated)
        logger.info(
            "recreated %d lost models in %.1f s of training (not charged: each trial keeps its "
            "first measured seconds); %d reproduced their first results exactly%s",
            len(recreated),
            sum(r.seconds or 0.0 for r in recreated),
            len(recreated) - differ,
            f", {differ} did NOT (see the warnings above)" if differ else "",
        )
    return ran


def _ready_transfers(
    store: RunStore, transfers: Sequence[TrialSpec], max_attempts: int
) -> list[TrialSpec]:
    """Trials whose source stage is done; those whose source stage failed are marked failed."""
    ready = []
    for trial in transfers:
        source = trial.source_trial
        assert source is not None
        row = store.row(source.id)
        if row is not None and row.status == "done":
            ready.append(trial)
        elif row is not None and row.status == "failed" and row.attempts >= max_attempts:
            store.fail(
                trial.id,
                f"its source stage ({source.kind} trial {source.id} on {source.target!r}) "
                f"failed: {row.error}",
            )
    return ready


def _payloads(
    store: RunStore,
    trials: Sequence[TrialSpec],
    tasks: TaskSet,
    run_dir: Path,
    options: ExecutionOptions,
    keep: Collection[str],
) -> Iterator[TrialPayload]:
    for trial in trials:
        weights = None
        if trial.source_trial is not None:
            weights = model_path(run_dir, trial.source_trial.id).read_bytes()
        row = store.row(trial.id)
        # A trial interrupted on its last attempt (requeued) still gets one more.
        attempts_left = max(1, options.max_attempts - (row.attempts if row else 0))
        yield TrialPayload(
            trial, tasks[trial.target], weights, options.device, trial.id in keep, attempts_left
        )


def _record(store: RunStore, run_dir: Path, outcome: TrialOutcome) -> Recreation | None:
    """Store an outcome; returns the recreation when the trial was trained again."""
    if not outcome.ok:
        store.fail(outcome.trial_id, outcome.error or "unknown error", outcome.traceback or "")
        return None
    assert outcome.metrics is not None and outcome.target_seconds is not None
    source_seconds = None
    row = store.row(outcome.trial_id)
    if row is not None and row.source_trial is not None:
        source_row = store.row(row.source_trial)
        # A recreated source keeps its first measured seconds, so these are those too.
        source_seconds = None if source_row is None else source_row.target_seconds
    if outcome.model_bytes is not None:
        _write_atomically(model_path(run_dir, outcome.trial_id), outcome.model_bytes)
        crash_point("model_written")
    recreation = store.finish(
        outcome.trial_id,
        metrics=outcome.metrics,
        source_seconds=source_seconds,
        target_seconds=outcome.target_seconds,
        examples_per_second=outcome.examples_per_second or float("nan"),
        device=outcome.device or "",
    )
    if recreation is not None and not recreation.same_metrics and row is not None:
        logger.warning(
            "%s trial %s on %r: the model trained again after its file was lost does NOT "
            "reproduce the first results (%s). The new results are kept (the model on disk is "
            "the new one); the first measured %.1f s are still charged (this training took "
            "%.1f s on %s). Recorded in the store's model_recreations",
            row.kind,
            row.id,
            row.target,
            _differences(recreation.first["metrics"] or {}, outcome.metrics),
            recreation.first["target_seconds"] or 0.0,
            outcome.target_seconds,
            outcome.device,
        )
    return recreation


def _differences(first: dict[str, object], new: dict[str, object], shown: int = 3) -> str:
    changed = [k for k in sorted(set(first) | set(new)) if first.get(k) != new.get(k)]
    text = ", ".join(f"{k} {first.get(k)} -> {new.get(k)}" for k in changed[:shown])
    return text + (f" and {len(changed) - shown} more" if len(changed) > shown else "")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _summary(
    store: RunStore, trials: Sequence[TrialSpec], max_attempts: int, ran: int
) -> GridSummary:
    ids = {t.id for t in trials}
    rows = [row for row in store.rows() if row.id in ids]
    done = sum(row.status == "done" for row in rows)
    failed = sum(row.status == "failed" for row in rows)
    retryable = sum(row.status == "failed" and 0 < row.attempts < max_attempts for row in rows)
    return GridSummary(len(rows), done, failed, len(rows) - done - failed, ran, retryable)
