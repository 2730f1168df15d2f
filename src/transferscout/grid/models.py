"""Find and load the trained single-task models of a run (the inputs of every signal)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from transferscout.encoders import Encoder, EncoderSpec, load_encoder
from transferscout.errors import TransferScoutError
from transferscout.grid.runner import model_path
from transferscout.grid.spec import stage_head
from transferscout.grid.store import RunStore, TrialRow
from transferscout.kinds import TaskKind, get_kind
from transferscout.tasks.task import TaskSet

__all__ = [
    "ModelChoice",
    "best_single_task_rows",
    "degenerate_baselines",
    "load_trained_model",
    "matched_single_task_ids",
    "model_fingerprint",
    "select_single_task_models",
    "trial_degenerate",
    "trial_kind",
    "trial_score",
]

ModelChoice = Literal["best_validation", "first"]


def select_single_task_models(
    store: RunStore, tasks: TaskSet, *, choice: ModelChoice = "best_validation"
) -> dict[str, TrialRow]:
    """One finished *plain* single-task model per task of ``tasks``.

    Compute-matched single-task trials (:func:`matched_single_task_ids`) are left out: the
    signals read the grid's own single-task models, so ``grid.matched_single_task`` changes
    no signal.  ``best_validation`` takes the model with the highest validation score — the primary
    metric of the task's kind (never the test score, which the evaluation scores); ``first``
    the earliest planned one (first setting, first seed).

    Raises:
        TransferScoutError: A task has no finished single-task model in this run.
    """
    every = store.rows()
    matched = matched_single_task_ids(every)
    rows = [r for r in every if r.kind == "single" and r.status == "done" and r.id not in matched]
    chosen: dict[str, TrialRow] = {}
    for name, task in tasks.items():
        own = [r for r in rows if r.config["target"]["fingerprint"] == task.fingerprint]
        if not own:
            raise TransferScoutError(
                f"task {name!r} has no finished single-task model in {store.run_dir}; train the "
                f"grid first (transferscout grid run), or see why its trials failed "
                f"(transferscout status {store.run_dir})"
            )
        if choice == "best_validation":
            own = sorted(own, key=lambda r: -_or_zero(trial_score(r, "validation")))
        chosen[name] = own[0]
    return chosen


def _stage(config: Mapping[str, Any], part: str, epochs: int | None = None) -> str:
    """What makes a stage the same stage across trials: encoder, precision and settings."""
    settings = dict(config[part]["settings"])
    if epochs is not None:
        settings["epochs"] = epochs
    identity = [(config.get("encoder") or {}).get("fingerprint"), config.get("precision"), settings]
    return json.dumps(identity, sort_keys=True)


def matched_single_task_ids(rows: Iterable[TrialRow]) -> set[str]:
    """The ids of the compute-matched single-task trials among a run's stored trials.

    A transfer trial trains its encoder for ``source epochs + target epochs``; its
    compute-matched single-task setting is the target setting with that many epochs
    (``grid.matched_single_task``, :func:`transferscout.grid.spec.matched_settings`).  A
    single-task trial is *matched* when its setting is one of those of the transfers in
    ``rows`` and *plain* otherwise: a setting the grid trains single-task models with anyway
    (any transfer's target setting, or a source setting of a transfer from that task) is
    plain — it is the same trial.  Decided from the stored configurations alone (no marker:
    ids stay as they were), so it holds for a store, its exported tables, and a new target
    that ``rank`` or ``search`` trained into the run; pass every stored row (any status).
    """
    rows = list(rows)
    transfers = [r.config for r in rows if r.kind == "transfer"]
    matched = {
        _stage(c, "target", c["source"]["settings"]["epochs"] + c["target"]["settings"]["epochs"])
        for c in transfers
    }
    targets = {_stage(c, "target") for c in transfers}
    sources: dict[str, set[str]] = {}
    for config in transfers:
        task = config["source"].get("fingerprint")
        sources.setdefault(task, set()).add(_stage(config, "source"))
    out = set()
    for row in rows:
        if row.kind != "single":
            continue
        stage = _stage(row.config, "target")
        plain = targets | sources.get(row.config["target"].get("fingerprint"), set())
        if stage in matched and stage not in plain:
            out.add(row.id)
    return out


def trial_kind(row: TrialRow) -> TaskKind:
    """The kind of a stored trial's target task."""
    return get_kind(stage_head(row.config["target"])[0])


def trial_score(row: TrialRow, split: str = "test") -> float:
    """A finished trial's primary metric on ``split`` (NaN when it has none).

    The primary metric is the target kind's: positive-class F1 (binary), macro-F1
    (multi-class), Spearman's ρ (regression).
    """
    value = (row.metrics or {}).get(f"{split}_{trial_kind(row).primary_metric}")
    return float("nan") if value is None else float(value)


def trial_degenerate(row: TrialRow) -> str | None:
    """Why a finished trial's model is degenerate on its validation split, else ``None``.

    The target kind's rule (:meth:`~transferscout.kinds.TaskKind.degenerate`) on the stored
    metrics: a model predicting one class for (nearly) every validation example, or a
    constant.  Derived, never stored apart, so old runs and imported tables are judged too.
    """
    if row.metrics is None:
        return None
    return trial_kind(row).degenerate(row.metrics)


def degenerate_baselines(singles: Sequence[TrialRow]) -> dict[str, str]:
    """The targets whose single-task baseline is degenerate, each with the reason.

    A target's baseline is its finished single-task model with the best validation score
    (the first among ties, in ``singles``' order) — the model a transfer's gain is measured
    against (:func:`~transferscout.meta.features.target_scores`).
    """
    done = [
        r for r in singles if r.kind == "single" and r.status == "done" and r.metrics is not None
    ]
    reasons = {name: trial_degenerate(row) for name, row in best_single_task_rows(done).items()}
    return {name: reason for name, reason in sorted(reasons.items()) if reason is not None}


def best_single_task_rows(singles: Iterable[TrialRow]) -> dict[str, TrialRow]:
    """Each target's single-task model with the best validation score (never test).

    Among every single-task trial given: a run's plain ones and, with
    ``grid.matched_single_task``, its compute-matched ones (trained for a transfer's source +
    target epochs), so a gain is never credited to transfer that more training alone gives.
    The signals read the plain ones only (:func:`select_single_task_models`, with
    ``model_choice = "best_validation"``).  Ties keep the earlier row.
    """
    best: dict[str, TrialRow] = {}
    for row in singles:
        old = best.get(row.target)
        if old is None or _validation(row) > _validation(old):
            best[row.target] = row
    return best


def _validation(row: TrialRow) -> float:
    value = trial_score(row, "validation")
    return -math.inf if math.isnan(value) else value


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def load_trained_model(run_dir: str | Path, row: TrialRow, *, device: str = "cpu") -> Encoder:
    """Load a stored single-task model: its encoder architecture with the trained weights.

    The model is put on ``device`` (``auto``: CUDA when available) in eval mode.
    """
    from safetensors.torch import load_file

    from transferscout.training.finetune import resolve_device

    path = model_path(run_dir, row.id)
    if not path.exists():
        raise TransferScoutError(f"{path}: the model file of trial {row.id} is missing")
    encoder_config = row.config["encoder"]
    _, outputs = stage_head(row.config["target"])
    encoder = load_encoder(
        EncoderSpec(encoder_config["source"], encoder_config["num_layers"]),
        num_labels=outputs,
        head=trial_kind(row).head,
    )
    encoder.model.load_state_dict(load_file(path), strict=True)
    encoder.model.to(resolve_device(device))  # type: ignore[arg-type]
    encoder.model.eval()  # type: ignore[no-untyped-call]
    return encoder


def model_fingerprint(run_dir: str | Path, row: TrialRow) -> str:
    """A content hash of a stored model file."""
    digest = hashlib.sha256()
    with model_path(run_dir, row.id).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
