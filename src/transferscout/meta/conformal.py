"""Split-conformal prediction intervals from leave-one-target-out residuals.

The meta-model's leave-one-target-out residuals are errors on targets it has not seen, as a
new target's will be.  With ``n`` absolute residuals, the ``⌈(n + 1)·level⌉``-th smallest is
a half-width that covers a new, exchangeable residual with probability at least ``level``
(Vovk et al.'s split conformal prediction; infinite when ``n`` is too small for the level).
Intervals are then clipped to the metric's range.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["conformal_halfwidth", "conformal_interval", "loto_coverage"]


def conformal_halfwidth(residuals: npt.ArrayLike, level: float = 0.95) -> float:
    """The split-conformal half-width of ``level`` from residuals (``inf`` if too few)."""
    if not 0 < level < 1:
        raise ValueError(f"level = {level}; expected a probability in (0, 1)")
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    rank = math.ceil((len(r) + 1) * level)
    return float(r[rank - 1]) if rank <= len(r) else math.inf


def conformal_interval(
    predicted: npt.ArrayLike, halfwidth: float, *, low: float = 0.0, high: float = 1.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``predicted ± halfwidth`` clipped to ``[low, high]`` (the metric's range)."""
    p = np.asarray(predicted, dtype=np.float64)
    return np.clip(p - halfwidth, low, high), np.clip(p + halfwidth, low, high)


def loto_coverage(residuals: npt.ArrayLike, groups: npt.ArrayLike, level: float = 0.95) -> float:
    """Empirical coverage when each target's interval comes from the *other* targets' residuals.

    For every target, the half-width is computed from the residuals of all other targets and
    the share of the target's own residuals inside it is counted; the result is the share over
    all rows — an honest estimate of how often a new target's interval holds its real value.
    """
    r = np.abs(np.asarray(residuals, dtype=np.float64))
    g = np.asarray(groups)
    covered = np.zeros(len(r), dtype=bool)
    for group in np.unique(g):
        own = g == group
        covered[own] = r[own] <= conformal_halfwidth(r[~own], level)
    return float(covered.mean())
