"""Run one trial where a worker runs it (in-process, in a pool process, or on a Ray node).

:func:`execute_trial` never raises for a failing trial: it returns a :class:`TrialOutcome`
with the error and traceback, so the driver can record it and go on.  Results travel back to
the driver (the only process that writes the store), including, for single-task trials, the
trained weights as safetensors bytes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from transferscout.encoders import load_encoder
from transferscout.errors import TransferScoutError
from transferscout.grid.faults import trial_fault
from transferscout.grid.spec import TrialSpec
from transferscout.tasks.task import Task
from transferscout.training.checks import check_finite_model
from transferscout.training.finetune import evaluate, resolve_device, train_stage

__all__ = [
    "OnStart",
    "TrialOutcome",
    "TrialPayload",
    "execute_trial",
    "run_trial",
    "set_threads",
    "worker_died",
    "worker_name",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialPayload:
    """Everything a worker needs to run a trial, with no access to the run folder.

    ``attempts_left`` is how many times an executor may start the trial in this run: a trial
    whose worker process dies under it (killed, out of memory, crashed) is started again on a
    fresh worker until it has been started that many times.  A trial that raises is not
    started again in the same run: the same seed and data would raise again.
    """

    trial: TrialSpec
    target_task: Task
    source_weights: bytes | None = None
    device: str = "auto"
    keep_model: bool = False
    attempts_left: int = 1


#: Called by an executor each time it hands a payload to a worker (the runner marks the trial
#: running and counts the attempt).
OnStart = Callable[[TrialPayload], None]


@dataclass(frozen=True)
class TrialOutcome:
    """What a worker sends back: results, or the error that stopped the trial."""

    trial_id: str
    worker: str
    metrics: dict[str, Any] | None = None
    target_seconds: float | None = None
    examples_per_second: float | None = None
    device: str | None = None
    model_bytes: bytes | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the trial finished."""
        return self.error is None


def worker_name(pid: int | None = None) -> str:
    """``host:pid`` of this process (or of process ``pid`` on this host)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def set_threads(threads: int | None) -> None:
    """Give torch ``threads`` threads in this process (``None`` leaves torch's default)."""
    if threads is not None:
        torch.set_num_threads(threads)


def worker_died(payload: TrialPayload, worker: str, attempts: int, reason: str) -> TrialOutcome:
    """The failed outcome of a trial whose worker process died on each of its ``attempts``."""
    each = "its only attempt" if attempts == 1 else f"each of its {attempts} attempts"
    each += " in this run"
    return TrialOutcome(
        trial_id=payload.trial.id,
        worker=worker,
        error=f"its worker process died while running it, on {each} (last: {reason})",
    )


def execute_trial(
    payload: TrialPayload, on_step: Callable[[int, int], None] | None = None
) -> TrialOutcome:
    """Run a trial and report its outcome; exceptions become a failed outcome.

    ``on_step(step, total)`` is called after each training step (in-process progress).
    """
    trial = payload.trial
    try:
        metrics, seconds, throughput, device, model = run_trial(
            trial,
            payload.target_task,
            source_weights=payload.source_weights,
            device=payload.device,
            on_step=on_step,
        )
        keep = trial.kind == "single" or payload.keep_model
        model_bytes = _model_bytes(model, trial) if keep else None
        return TrialOutcome(
            trial_id=trial.id,
            worker=worker_name(),
            metrics=metrics,
            target_seconds=seconds,
            examples_per_second=throughput,
            device=device,
            model_bytes=model_bytes,
        )
    except Exception as error:  # failure isolation: any error fails this trial only
        logger.warning("trial %s failed: %s", trial.id, error)
        return TrialOutcome(
            trial_id=trial.id,
            worker=worker_name(),
            error=f"{type(error).__name__}: {error}",
            traceback=traceback.format_exc(),
        )


def run_trial(
    trial: TrialSpec,
    target_task: Task,
    *,
    source_weights: bytes | None = None,
    device: str = "auto",
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], float, float, str, torch.nn.Module]:
    """Train and evaluate one trial; returns ``(metrics, seconds, examples/s, device, model)``.

    A transfer or chained trial starts from the source stage's weights (``source_weights``,
    safetensors bytes of the model of its source stage) with a fresh head of the target's kind.
    """
    if target_task.fingerprint != trial.target_fingerprint:
        raise TransferScoutError(
            f"task {target_task.name!r} does not hold the data this trial was planned with "
            "(fingerprint differs)"
        )
    trial_fault(trial.target)
    torch_device = resolve_device(device)
    torch.manual_seed(trial.seed)  # the fresh head's initial weights
    encoder = load_encoder(
        trial.encoder, num_labels=target_task.num_outputs, head=target_task.kind.head
    )
    model: torch.nn.Module = encoder.model
    if trial.kind != "single":
        if source_weights is None:
            raise TransferScoutError(f"transfer trial {trial.id} needs its source model weights")
        _load_encoder_weights(model, source_weights)
    settings = trial.target_settings
    stats = train_stage(
        model,
        encoder.tokenizer,
        target_task.train,
        settings,
        seed=trial.seed,
        device=torch_device,
        precision=trial.precision,
        on_step=on_step,
        kind=target_task.kind,
    )
    check_finite_model(  # a model with NaN weights is a failed trial, not an F1 of 0
        model,
        encoder.tokenizer,
        target_task.validation,
        max_length=settings.max_length,
        device=torch_device,
        precision=trial.precision,
        kind=target_task.kind,
    )
    metrics: dict[str, Any] = {"train_loss": stats.final_loss, "train_steps": stats.steps}
    for split_name, split in (("validation", target_task.validation), ("test", target_task.test)):
        result = evaluate(
            model,
            encoder.tokenizer,
            split,
            max_length=settings.max_length,
            device=torch_device,
            precision=trial.precision,
            kind=target_task.kind,
            classes=target_task.classes,
        )
        metrics.update({f"{split_name}_{key}": value for key, value in result.items()})
    model.to("cpu")
    return metrics, stats.seconds, stats.examples_per_second, str(torch_device), model


def _load_encoder_weights(model: torch.nn.Module, weights: bytes) -> None:
    """Load the encoder's weights from a safetensors blob; the head stays freshly initialised.

    The encoder is the model's base model (``base_model_prefix``: BERT's pooler belongs to
    it); everything else — the head of any family and kind — is not transferred.  Heads of
    different kinds carry different parts of the base model: a token or span model has no
    pooler.  A part of the base model (``bert.pooler``) that only one side has is left as
    the target loaded it (the pretrained pooler) or dropped; every part both have must match
    weight for weight.
    """
    from safetensors.torch import load

    prefix = f"{getattr(model, 'base_model_prefix')}."  # noqa: B009
    state = {k: v for k, v in load(weights).items() if k.startswith(prefix)}
    own = [k for k in model.state_dict() if k.startswith(prefix)]
    shared = {_part(k, prefix) for k in state} & {_part(k, prefix) for k in own}
    state = {k: v for k, v in state.items() if _part(k, prefix) in shared}
    missing, unexpected = model.load_state_dict(state, strict=False)
    wrong = [k for k in missing if _part(k, prefix) in shared] + list(unexpected)
    if wrong or not state:
        raise TransferScoutError(
            f"the source model does not fit the encoder: {len(wrong)} mismatched weights, "
            f"e.g. {wrong[:3]}"
        )


def _part(key: str, prefix: str) -> str:
    """The base model's top-level part a weight belongs to (``bert.encoder``, ``bert.pooler``)."""
    return key[len(prefix) :].split(".", 1)[0]


def _model_bytes(model: torch.nn.Module, trial: TrialSpec) -> bytes:
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    return bytes(save(state, metadata={"trial": trial.id, "config": json.dumps(trial.config())}))
