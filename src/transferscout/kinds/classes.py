"""What binary and multi-class tasks share: class-id labels, a softmax head, cross-entropy."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from transferscout.kinds.base import DEGENERATE_RATIO, AttributionTarget, Labels, TaskKind

if TYPE_CHECKING:
    import torch

__all__ = ["ClassificationKind", "cap_by_class", "majority_class", "number_text"]

#: A number written in decimal: ``1``, ``-2``, ``+1.0``, ``.5``, ``1e3`` (not ``nan``/``inf``).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def number_text(text: str) -> str | None:
    """The canonical spelling of a number written as text, or ``None`` if it is not one.

    Spellings of the same number give the same text: ``"1"``, ``"1.0"``, ``"+1"``, ``"01"``
    and ``"1e0"`` give ``"1"``; ``"0.50"`` and ``".5"`` give ``"0.5"``; ``"-0"`` gives
    ``"0"``.  An integer is written without a fraction, any other number in plain decimal
    notation without trailing zeros (beyond 10^30: ``"1E+40"``).  Exact (``Decimal``):
    ``"0.1"`` and ``"0.10000000000000001"`` stay apart.
    """
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    number = Decimal(text)
    try:
        with localcontext() as context:  # as many digits as written: no rounding
            context.prec = max(len(number.as_tuple().digits), 1)
            number = number.normalize(context)
    except ArithmeticError:  # an exponent beyond Decimal's range
        return None
    if number.is_zero():
        return "0"
    if abs(number.adjusted()) > 30:  # 1E+40: not written out in full
        return str(number)
    if number == number.to_integral_value():
        return str(int(number))
    return format(number, "f")


class ClassificationKind(TaskKind):
    """A kind whose labels are class ids ``0 … k−1`` (one per example)."""

    has_classes: ClassVar[bool] = True
    degenerate_rule: ClassVar[str] = (
        "its most-predicted class leaves fewer other predictions than "
        f"{DEGENERATE_RATIO:g} x the validation examples of the other classes"
    )

    def label_tensor(self, labels: Labels) -> torch.Tensor:
        """Class ids as int64."""
        import torch

        return torch.tensor(labels, dtype=torch.long)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (as the sequence classifiers of transformers compute it)."""
        import torch

        return torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities (in the logits' dtype)."""
        import torch

        return torch.softmax(logits, dim=-1)

    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: Any, *, reference: Labels | None = None
    ) -> list[AttributionTarget]:
        """The gold class of a document of the model's task, else the predicted class."""
        if outputs is None:
            raise ValueError("class attribution targets need the model's predictions")
        predicted = np.asarray(outputs).argmax(axis=1)
        return [int(p) if g is None else int(g) for g, p in zip(gold, predicted, strict=True)]

    needs_predictions_for_attribution: ClassVar[bool] = True

    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """Documents not of the majority class of ``reference`` (the training labels)."""
        return np.asarray(np.asarray(labels) != majority_class(reference), dtype=np.bool_)


def majority_class(labels: Labels) -> int:
    """The most frequent class id (the lowest id among ties)."""
    values = np.asarray(labels, dtype=np.int64)
    return int(np.argmax(np.bincount(values))) if len(values) else 0


def cap_by_class(
    classes: npt.NDArray[np.int64],
    cap: int,
    strategy: str,
    minimum: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.intp]:
    """At most ``cap`` rows, sorted: per class in proportion (``stratified``) or equal shares.

    ``stratified`` gives each class its largest-remainder share of ``cap``, at least
    ``minimum`` (or all its rows when it has fewer); ``balanced`` gives every class
    ``min(cap // k, its rows)``.
    """
    present, counts = np.unique(classes, return_counts=True)
    cap = min(cap, len(classes))
    if strategy == "balanced":
        quotas = np.minimum(counts, cap // len(present))
    else:
        exact = cap * counts / len(classes)
        quotas = np.floor(exact).astype(np.int64)
        for i in np.argsort(-(exact - quotas), kind="stable")[: cap - int(quotas.sum())]:
            quotas[i] += 1
        quotas = np.minimum(np.maximum(quotas, minimum), counts)
        while quotas.sum() > cap:  # the minimums pushed past the cap: take from the largest
            quotas[int(np.argmax(quotas))] -= 1
    chosen = [
        rng.choice(np.flatnonzero(classes == c), int(q), replace=False)
        for c, q in zip(present, quotas, strict=True)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.intp)
