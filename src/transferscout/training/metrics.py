"""Binary classification metrics, with the positive class (label 1) as the class of interest."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BinaryMetrics", "binary_metrics"]


@dataclass(frozen=True)
class BinaryMetrics:
    """Positive-class F1, precision and recall, and accuracy, on ``n`` examples.

    Precision (recall) is 0 when nothing is predicted (nothing is) positive, and F1 is 0 when
    precision + recall is 0 — the convention of scikit-learn's ``zero_division=0``.
    """

    f1: float
    precision: float
    recall: float
    accuracy: float
    n: int
    positives: int
    predicted_positives: int

    def as_dict(self, prefix: str = "") -> dict[str, float | int]:
        """The metrics as a flat dict, keys optionally prefixed (``"test_f1"``)."""
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}


def binary_metrics(
    labels: npt.ArrayLike,
    predictions: npt.ArrayLike,
) -> BinaryMetrics:
    """Compute :class:`BinaryMetrics` from gold labels and predicted labels (both 0/1).

    Shape:
        labels, predictions: ``(n,)``.
    """
    y = np.asarray(labels).astype(bool)
    p = np.asarray(predictions).astype(bool)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(
            f"labels and predictions must be 1-d of the same length; got {y.shape} and {p.shape}"
        )
    true_positives = int(np.sum(y & p))
    predicted = int(p.sum())
    actual = int(y.sum())
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float(np.mean(y == p)) if len(y) else 0.0
    return BinaryMetrics(f1, precision, recall, accuracy, len(y), actual, predicted)
