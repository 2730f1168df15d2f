"""The completeness summary of a model: median and maximum error over its documents.

Each document's error is :func:`transferscout.signals.conductance.completeness_errors` (the
worst layer's relative gap between its summed conductance and ``F(x) − F(x')``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CompletenessSummary", "summarize_completeness"]


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
