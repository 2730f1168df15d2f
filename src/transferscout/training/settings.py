"""Hyperparameters of one fine-tuning stage, and the run-time options that go with them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from transferscout.errors import ConfigError

__all__ = ["Precision", "StageSettings"]

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
