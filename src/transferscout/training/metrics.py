"""Metrics of each task kind: binary (positive-class F1), multi-class, regression."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BinaryMetrics", "binary_metrics", "multiclass_metrics", "regression_metrics"]


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


def multiclass_metrics(
    labels: npt.ArrayLike, predictions: npt.ArrayLike, n_classes: int
) -> dict[str, float]:
    """Macro-F1 (primary), micro-F1 and accuracy of predicted class ids.

    Macro-F1 is the unweighted mean of the per-class F1 over all ``n_classes`` classes (a
    class neither present nor predicted scores 0, scikit-learn's ``zero_division=0`` with
    ``labels=range(n_classes)``); micro-F1 pools every class's counts, which for single-label
    predictions equals accuracy.

    Shape:
        labels, predictions: ``(n,)`` class ids in ``[0, n_classes)``.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predictions, dtype=np.int64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(
            f"labels and predictions must be 1-d of the same length; got {y.shape} and {p.shape}"
        )
    f1s = []
    true_positives = 0
    for c in range(n_classes):
        tp = int(np.sum((y == c) & (p == c)))
        predicted = int(np.sum(p == c))
        actual = int(np.sum(y == c))
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        true_positives += tp
    micro = true_positives / len(y) if len(y) else 0.0
    return {
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "micro_f1": micro,
        "accuracy": float(np.mean(y == p)) if len(y) else 0.0,
        "n": len(y),
    }


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Average ranks (1-based; ties share the mean of their ranks)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1, dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse], dtype=np.float64)


def _pearson(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    norm = float(np.sqrt((dx @ dx) * (dy @ dy)))
    return float(dx @ dy / norm) if norm > 0 else 0.0


def regression_metrics(values: npt.ArrayLike, predictions: npt.ArrayLike) -> dict[str, float]:
    """Spearman's ρ (primary), Pearson's r and the mean squared error of predicted values.

    A correlation is 0.0 when the gold values or the predictions are constant (it is
    undefined there; a model that predicts one value ranks nothing, as ``zero_division=0``
    scores a classifier that predicts no positive).

    Shape:
        values, predictions: ``(n,)``.
    """
    y = np.asarray(values, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(
            f"values and predictions must be 1-d of the same length; got {y.shape} and {p.shape}"
        )
    return {
        "spearman": _pearson(_ranks(y), _ranks(p)) if len(y) > 1 else 0.0,
        "pearson": _pearson(y, p) if len(y) > 1 else 0.0,
        "mse": float(np.mean((y - p) ** 2)) if len(y) else 0.0,
        "n": len(y),
    }
