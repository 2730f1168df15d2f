"""How far a conductance result is from completeness: the check of its integration error.

By completeness, the conductance of every layer's output sums, over tokens and hidden units,
to ``F(x) − F(x')`` (the target logit at the input minus at the baseline) as the number of
integration points grows.  The relative gap measures the numerical error of a finite number
of points::

    error_{l,d} = |Σ_t cond_l(d, t) − (F(x_d) − F(x'_d))| / |F(x_d) − F(x'_d)|

A document's error is its worst layer's.  A document whose endpoints give the same logit has
no defined relative error (NaN) and is left out of the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CompletenessSummary", "completeness_errors", "summarize_completeness"]


def completeness_errors(
    scores: npt.ArrayLike, endpoint_difference: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Relative completeness error of each document (its worst layer).

    Shape:
        scores: ``(n_layers, n_documents, tokens)`` (padding positions 0);
        endpoint_difference: ``(n_documents,)``; returns ``(n_documents,)``.
    """
    values = np.asarray(scores, dtype=np.float64)
    difference = np.asarray(endpoint_difference, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] != difference.shape[0]:
        raise ValueError(
            f"scores must be (layers, documents, tokens) and endpoint_difference (documents,); "
            f"got {values.shape} and {difference.shape}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.abs(values.sum(axis=2) - difference[None, :]) / np.abs(difference)[None, :]
    gap[:, difference == 0] = np.nan
    result: npt.NDArray[np.float64] = (
        gap.max(axis=0) if len(gap) else np.full(len(difference), np.nan)
    )
    return result


@dataclass(frozen=True)
class CompletenessSummary:
    """Median and maximum completeness error over a model's documents (NaN if none defined)."""

    median: float
    max: float
    documents: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain values for a JSON record."""
        return {"median": self.median, "max": self.max, "documents": self.documents}


def summarize_completeness(errors: npt.ArrayLike) -> CompletenessSummary:
    """Median and maximum of the defined (non-NaN) errors."""
    values = np.asarray(errors, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return CompletenessSummary(float("nan"), float("nan"), 0)
    return CompletenessSummary(float(np.median(values)), float(values.max()), len(values))
