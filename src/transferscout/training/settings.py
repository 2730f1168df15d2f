"""Hyperparameters of one fine-tuning stage, and the run-time options that go with them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from transferscout.errors import ConfigError

__all__ = ["MIN_STEPS", "Precision", "StageSettings", "few_steps", "optimisation_steps"]

#: The fewest optimisation steps a stage should give a task before its model can be trusted
#: to have learnt.  Measured on a real six-task pool (issue 31; 200 training examples, batch
#: size 16, so 13 steps per epoch): at 2 epochs (26 steps) the multi-class task sat at chance
#: (macro-F1 0.028, loss ln 8), the binary one predicted no positive and NER tagged every
#: word O; at 8 epochs (104 steps) the same data reached macro-F1 0.615-0.799 and F1
#: 0.673-0.707.
MIN_STEPS = 100

Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class StageSettings:
    """Hyperparameters of one fine-tuning stage (encoder + task -> trained model).

    Attributes:
        learning_rate: Peak AdamW learning rate.
        epochs: Passes over the training split.
        batch_size: Training examples per optimisation step.
        max_length: Texts are truncated to this many tokens (special tokens included).
        warmup_ratio: Share of the steps over which the learning rate rises linearly from 0;
            it then decays linearly to 0.
        weight_decay: AdamW weight decay (not applied to biases and normalisation
            modules' weights).
        max_grad_norm: Gradients are clipped to this global norm.
    """

    learning_rate: float = 2e-5
    epochs: int = 1
    batch_size: int = 16
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        checks = [
            ("learning_rate", self.learning_rate > 0, "a positive number"),
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "an integer >= 1"),
            (
                "batch_size",
                isinstance(self.batch_size, int) and self.batch_size >= 1,
                "an integer >= 1",
            ),
            (
                "max_length",
                isinstance(self.max_length, int) and self.max_length >= 8,
                "an integer >= 8",
            ),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "a number in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, "a number >= 0"),
            ("max_grad_norm", self.max_grad_norm > 0, "a positive number"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{name} = {getattr(self, name)!r}; expected {expected}")

    def as_dict(self) -> dict[str, Any]:
        """Every field, for hashing and storing."""
        return asdict(self)

    @property
    def label(self) -> str:
        """A short human-readable label, e.g. ``lr=2e-05 ep=1 bs=16``."""
        return f"lr={self.learning_rate:g} ep={self.epochs} bs={self.batch_size}"


def optimisation_steps(examples: int, batch_size: int, epochs: int) -> int:
    """Optimisation steps a stage takes: ``ceil(examples / batch_size) × epochs``.

    As :func:`~transferscout.training.finetune.train_stage` counts them (per training
    feature: a QA question split into several windows takes more).
    """
    return math.ceil(examples / batch_size) * epochs


def few_steps(task: str, examples: int, settings: Sequence[StageSettings], key: str) -> str | None:
    """A warning when the fewest steps ``settings`` give ``task`` are under :data:`MIN_STEPS`.

    ``key`` is the settings' configuration section (``grid.target``); the message names the
    setting to change and the value that reaches :data:`MIN_STEPS`.  ``None``: enough.
    """
    if not settings or examples <= 0:
        return None
    fewest = min(settings, key=lambda s: optimisation_steps(examples, s.batch_size, s.epochs))
    steps = optimisation_steps(examples, fewest.batch_size, fewest.epochs)
    if steps >= MIN_STEPS:
        return None
    per_epoch = optimisation_steps(examples, fewest.batch_size, 1)
    epochs = math.ceil(MIN_STEPS / per_epoch)
    return (
        f"task {task!r}: {key} settings give {steps} optimisation steps ({examples} training "
        f"examples / batch size {fewest.batch_size} = {per_epoch} per epoch x {fewest.epochs} "
        f"epoch(s)), under {MIN_STEPS}: its models may learn nothing (predict one class). "
        f"Set {key}.epochs = {epochs} (or a smaller {key}.batch_size, or more data)"
    )
