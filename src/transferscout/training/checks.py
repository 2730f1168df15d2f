"""Checks that a trained model is usable before its trial counts as done.

The training loop stops on a non-finite loss, but the loss is seen *before* each step: a step
can still leave NaN or infinite weights (the last step above all), and such a model predicts
one class for everything — an F1 of 0 that looks like a real result.  A trial is done only if
its model's weights are finite and it gives finite outputs on a validation batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from transferscout.encoders.adapter import family_of
from transferscout.errors import TransferScoutError
from transferscout.kinds import BINARY, TaskKind
from transferscout.tasks.task import Split
from transferscout.training.finetune import feature_outputs
from transferscout.training.settings import Precision

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["NonFiniteModelError", "check_finite_model"]

#: Validation examples the outputs are checked on.
CHECK_BATCH = 32


class NonFiniteModelError(TransferScoutError, FloatingPointError):
    """A trained model has NaN or infinite weights or outputs."""


def check_finite_model(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    *,
    max_length: int,
    device: torch.device | None = None,
    precision: Precision = "fp32",
    kind: TaskKind = BINARY,
) -> None:
    """Raise :class:`NonFiniteModelError` unless ``model`` is finite, weights and outputs.

    The outputs are the kind's outputs of every feature of the first :data:`CHECK_BATCH`
    examples of ``split`` (a validation split: never the test split the trial is scored on).
    """
    advice = "the training diverged; try a lower learning rate"
    bad = [
        (name, int((~torch.isfinite(p)).sum()))
        for name, p in model.named_parameters()
        if not bool(torch.isfinite(p).all())
    ]
    if bad:
        count = sum(n for _, n in bad)
        names = ", ".join(name for name, _ in bad[:3])
        raise NonFiniteModelError(
            f"the trained model has non-finite weights ({count} values, e.g. in {names}): " + advice
        )
    head = split.subset(range(min(CHECK_BATCH, len(split))))
    encoded = kind.encode(tokenizer, head, max_length, labelled=False)
    outputs = feature_outputs(
        model,
        encoded,
        kind,
        64,
        device or next(model.parameters()).device,
        precision,
        family_of(model),
    )
    if not all(np.isfinite(o).all() for o in outputs):
        raise NonFiniteModelError(
            f"the trained model gives non-finite outputs on {len(head)} validation texts: " + advice
        )
