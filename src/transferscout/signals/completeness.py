"""The completeness summary of a model: median and maximum error over its documents.

Each document's error is :func:`transferscout.signals.conductance.completeness_errors` (the
worst layer's relative gap between its summed conductance and ``F(x) − F(x')``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import binom

__all__ = ["CompletenessSummary", "median_upper_bound", "summarize_completeness"]


@dataclass(frozen=True)
class CompletenessSummary:
    """Median and maximum completeness error over a model's documents (NaN if none)."""

    median: float
    max: float
    documents: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain values for a JSON record."""
        return {"median": self.median, "max": self.max, "documents": self.documents}


def summarize_completeness(errors: npt.ArrayLike) -> CompletenessSummary:
    """Median and maximum of the errors (NaN ones left out)."""
    values = np.asarray(errors, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return CompletenessSummary(float("nan"), float("nan"), 0)
    return CompletenessSummary(float(np.median(values)), float(values.max()), len(values))


def median_upper_bound(errors: npt.ArrayLike, confidence: float) -> float:
    """An upper confidence bound of the median of the set the errors are a sample of.

    Distribution-free: the ``k``-th smallest of ``n`` sampled values is at least the set's
    median with probability ``P(Binomial(n, ½) ≤ k − 1)``; the bound is the first order
    statistic whose probability reaches ``confidence`` (the largest value when none does, as
    with very few values).  NaN ones are left out; NaN if none is left.
    """
    values = np.sort(np.asarray(errors, dtype=np.float64))
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan")
    index = int(binom.ppf(confidence, len(values), 0.5))  # k − 1
    return float(values[min(index, len(values) - 1)])
