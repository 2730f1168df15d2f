"""Fine-tune an encoder with a head on one task split, and predict/evaluate with it.

One *stage* is: a model (encoder + head) + a training split + :class:`StageSettings` -> the
trained model.  The task's kind gives the loss (cross-entropy, squared error) and the metrics;
text pairs go in as the tokenizer's sentence pairs.  AdamW with linear warm-up and decay,
gradient clipping, dynamic padding, and an opt-in bf16 autocast.  A non-finite loss stops
the stage with :class:`NonFiniteLossError`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

from transferscout.encoders.adapter import EncoderFamily, family_of
from transferscout.errors import TransferScoutError
from transferscout.kinds import BINARY, TaskKind
from transferscout.tasks.task import Split
from transferscout.training.data import (
    EncodedExamples,
    encode_texts,
    example_batches,
    padded_batches,
)
from transferscout.training.settings import Precision, StageSettings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "NonFiniteLossError",
    "StageStats",
    "evaluate",
    "predict",
    "predict_proba",
    "resolve_device",
    "train_stage",
]

logger = logging.getLogger(__name__)


class NonFiniteLossError(TransferScoutError, FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class StageStats:
    """What one training stage cost and how it ended."""

    seconds: float
    examples: int
    steps: int
    final_loss: float

    @property
    def examples_per_second(self) -> float:
        """Training throughput (examples seen per wall-clock second)."""
        return self.examples / self.seconds if self.seconds > 0 else float("nan")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``/``"cuda"``/``"cuda:1"`` as is.

    Raises:
        TransferScoutError: Not a device name, or a CUDA device this machine does not have.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise TransferScoutError(
            f"device {device!r} is not a device name; expected auto, cpu, cuda or cuda:N"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise TransferScoutError(f"device {device!r} asked for, but CUDA is not available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise TransferScoutError(
                f"device {device!r} asked for, but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    return resolved


def _autocast(
    device: torch.device, precision: Precision
) -> contextlib.AbstractContextManager[None]:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_stage(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    settings: StageSettings,
    *,
    seed: int,
    device: torch.device,
    precision: Precision = "fp32",
    on_step: Callable[[int, int], None] | None = None,
    kind: TaskKind = BINARY,
) -> StageStats:
    """Fine-tune ``model`` in place on ``split``.

    The seed fixes the batch order and dropout, so the same inputs give the same weights on
    the same device and thread count.

    Args:
        model: A sequence classifier (e.g. from :func:`transferscout.encoders.load_encoder`).
        tokenizer: Its tokenizer.
        split: The training examples.
        settings: The stage's hyperparameters.
        seed: Seeds batch order and dropout.
        device: Where to train.
        precision: ``"bf16"`` trains under bfloat16 autocast (faster on recent CPUs/GPUs).
        on_step: Called as ``on_step(step, total_steps)`` after every optimisation step.
        kind: The task's kind: its loss and label type.

    Raises:
        NonFiniteLossError: The loss became NaN or infinite.
    """
    from transformers import get_linear_schedule_with_warmup

    start = time.perf_counter()
    encoded = kind.encode(tokenizer, split, settings.max_length)
    steps_per_epoch = math.ceil(len(encoded) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, settings.weight_decay), lr=settings.learning_rate
    )
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, int(settings.warmup_ratio * total), total
    )
    family = family_of(model)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    step = 0
    losses: list[float] = []
    for epoch in range(settings.epochs):
        order = torch.randperm(len(encoded), generator=generator).numpy()
        for _, batch in example_batches(encoded, order, settings.batch_size, kind.collate):
            labels = batch.pop("labels").to(device)
            batch = {key: value.to(device) for key, value in family.model_inputs(batch).items()}
            with _autocast(device, precision):
                loss = kind.loss(kind.logits(model(**batch)), labels)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"the training loss is {value} at step {step + 1} of {total} (epoch "
                    f"{epoch + 1}); try a lower learning rate"
                )
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(value)
            if on_step is not None:
                on_step(step, total)
    model.eval()
    tail = losses[-steps_per_epoch:]
    return StageStats(
        seconds=time.perf_counter() - start,
        examples=len(encoded) * settings.epochs,
        steps=step,
        final_loss=float(np.mean(tail)) if tail else float("nan"),
    )


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Biases and the parameters of normalisation modules (by module type) get no decay."""
    norms = family_of(model).norm_parameters(model)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if name.endswith("bias") or id(parameter) in norms else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@torch.no_grad()
def predict_proba(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: tuple[str, ...] | list[str],
    *,
    max_length: int,
    batch_size: int = 64,
    device: torch.device | None = None,
    precision: Precision = "fp32",
    pairs: tuple[str, ...] | list[str] | None = None,
    kind: TaskKind = BINARY,
) -> npt.NDArray[np.float64]:
    """The kind's outputs for ``texts``, in the order given.

    Class probabilities ``(n, n_classes)``, or values ``(n, 1)`` for regression.  Texts (with
    their second texts ``pairs``) are batched by length (less padding); the model is put in
    eval mode.
    """
    device = device or next(model.parameters()).device
    model.eval()
    family = family_of(model)
    encoded = encode_texts(tokenizer, texts, max_length, pairs)
    order = np.argsort(encoded.lengths, kind="stable")
    out: npt.NDArray[np.float64] | None = None
    for index, batch in padded_batches(encoded, order, batch_size):
        batch = {key: value.to(device) for key, value in family.model_inputs(batch).items()}
        with _autocast(device, precision):
            logits = kind.logits(model(**batch))
        outputs = kind.outputs(logits.float())
        if out is None:
            out = np.zeros((len(encoded), outputs.shape[-1]), dtype=np.float64)
        out[index] = outputs.cpu().numpy()
    if out is None:
        raise ValueError("no texts to predict")
    return out


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    *,
    max_length: int,
    batch_size: int = 64,
    device: torch.device | None = None,
    precision: Precision = "fp32",
    kind: TaskKind = BINARY,
) -> Any:
    """The kind's per-example predictions on ``split`` (its labels are not read).

    Sequence-level kinds: the ``(n, k)`` outputs of :func:`predict_proba`; other kinds: what
    their :meth:`~transferscout.kinds.TaskKind.predictions` make of each feature's outputs.
    Features are batched by length (less padding); the model is put in eval mode.
    """
    device = device or next(model.parameters()).device
    model.eval()
    family = family_of(model)
    encoded = kind.encode(tokenizer, split, max_length, labelled=False)
    return kind.predictions(
        encoded, feature_outputs(model, encoded, kind, batch_size, device, precision, family)
    )


@torch.no_grad()
def feature_outputs(
    model: torch.nn.Module,
    encoded: EncodedExamples,
    kind: TaskKind,
    batch_size: int,
    device: torch.device,
    precision: Precision,
    family: EncoderFamily,
) -> list[npt.NDArray[np.float64]]:
    """Each feature's :meth:`~transferscout.kinds.TaskKind.outputs`, as float64 arrays.

    Outputs with a piece axis are cut to the feature's own pieces (no padding).
    """
    out: list[npt.NDArray[np.float64]] = [np.zeros(0)] * len(encoded)
    order = np.argsort(encoded.lengths, kind="stable")
    for index, batch in example_batches(encoded, order, batch_size):
        batch = {key: value.to(device) for key, value in family.model_inputs(batch).items()}
        with _autocast(device, precision):
            logits = kind.logits(model(**batch))
        outputs = kind.outputs(logits.float()).double().cpu().numpy()
        for r, i in enumerate(index):
            row = outputs[r]
            out[i] = row[: len(encoded.texts.input_ids[i])] if row.ndim > 1 else row
    return out


def evaluate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    *,
    max_length: int,
    batch_size: int = 64,
    device: torch.device | None = None,
    precision: Precision = "fp32",
    kind: TaskKind = BINARY,
    classes: tuple[str, ...] = (),
) -> dict[str, float]:
    """The kind's metrics of the model on ``split`` (``classes``: the task's class names).

    Binary: positive-class F1, precision, recall, accuracy and counts of the arg-max class.
    """
    predictions = predict(
        model,
        tokenizer,
        split,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        precision=precision,
        kind=kind,
    )
    return kind.metrics(split.labels, predictions, classes=classes)
