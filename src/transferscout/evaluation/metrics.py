"""Ranking metrics of predicted transfer results against the real grid (SPEC §7).

Pure functions on arrays.  In each, a *ranking* of one target's candidates follows the rule of
:mod:`transferscout.evaluation.ordering` (predicted value, then predicted cost, then a random
key), and every metric is its exact expectation over the random orders inside tie blocks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

from transferscout.evaluation.ordering import (
    expected_at_positions,
    expected_best_of_top,
    expected_until_first,
)

__all__ = [
    "bootstrap_interval",
    "expected_best_of_random",
    "kendall_tau",
    "ndcg_at_k",
    "rank_of_best",
    "regret_at_k",
    "rmse_at_k",
    "spearman_rho",
]

Array = npt.NDArray[np.float64]


def rmse_at_k(
    predicted: npt.ArrayLike,
    real: npt.ArrayLike,
    ks: Sequence[int],
    *,
    cost: npt.ArrayLike | None = None,
) -> Array:
    """RMSE between predicted and real F1 of the top K candidates pooled over targets.

    All candidates of all targets are sorted by predicted F1 (decreasing, then by ``cost``);
    for each K the root of the expected mean squared error of the first K is returned (K
    larger than the pool uses the whole pool).
    """
    p = np.asarray(predicted, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    cumulative = np.cumsum(expected_at_positions((p - r) ** 2, p, cost))
    return np.array([np.sqrt(cumulative[min(k, len(p)) - 1] / min(k, len(p))) for k in ks])


def _relevance(real: npt.ArrayLike) -> Array:
    r = np.asarray(real, dtype=np.float64)
    outside = r[(r < 0) | (r > 1)]
    if outside.size:
        raise ValueError(
            f"relevance {outside[0]:g} is outside [0, 1]; map a metric onto [0, 1] first "
            "(TaskKind.relevance)"
        )
    return r


def _gains(real: Array, gain: str) -> Array:
    if gain == "exponential":
        return np.power(2.0, real) - 1.0
    if gain == "linear":
        return real
    raise ValueError(f"gain = {gain!r}; expected 'exponential' or 'linear'")


def ndcg_at_k(
    real: npt.ArrayLike,
    predicted: npt.ArrayLike,
    k: int,
    *,
    gain: str = "exponential",
    cost: npt.ArrayLike | None = None,
) -> float:
    """NDCG@k of one target's ranking: ``DCG@k / ideal DCG@k``.

    ``DCG@k = Σ_{i≤k} g(rel_i) / log2(i + 1)`` with ``rel`` the candidates' relevance in
    [0, 1] and gain ``g(x) = 2^x − 1`` (exponential) or ``g(x) = x`` (linear; equals
    scikit-learn's ``ndcg_score`` when predictions have no ties).  The evaluation passes the
    target's real primary metric mapped onto [0, 1] by its kind
    (:meth:`~transferscout.kinds.TaskKind.relevance`: an F1 as it is, Spearman's ρ as
    ``(ρ + 1) / 2``), so every gain is non-negative.  1 for a perfect ranking; 0 when every
    relevance is 0.

    Raises:
        ValueError: A relevance outside [0, 1] (a negative gain would make NDCG meaningless).

    Tied candidates (equal prediction and cost) count in expectation over
    their random order: each position of a tie block holds the block's mean gain.
    """
    r = _relevance(real)
    gains = _gains(r, gain)
    discounts = 1.0 / np.log2(np.arange(2, len(r) + 2))
    top = min(k, len(r))
    expected = expected_at_positions(gains, predicted, cost)
    dcg = float(np.sum(expected[:top] * discounts[:top]))
    ideal = float(np.sum(np.sort(gains)[::-1][:top] * discounts[:top]))
    return dcg / ideal if ideal > 0 else 0.0


def regret_at_k(
    real: npt.ArrayLike, predicted: npt.ArrayLike, k: int, *, cost: npt.ArrayLike | None = None
) -> float:
    """``(best − best among the top k) / best × 100``: percent of the best relevance lost.

    0 is best.  ``real`` are relevances in [0, 1] as for :func:`ndcg_at_k` (an F1 as it is,
    Spearman's ρ as ``(ρ + 1) / 2``); 0 when the best relevance is 0.  The expectation over
    random orders inside tie blocks.

    Raises:
        ValueError: A relevance outside [0, 1].
    """
    r = _relevance(real)
    best = float(r.max())
    if best <= 0:
        return 0.0
    found = float(expected_best_of_top(r, predicted, [k], cost)[0])
    return (best - found) / best * 100.0


def rank_of_best(
    real: npt.ArrayLike, predicted: npt.ArrayLike, *, cost: npt.ArrayLike | None = None
) -> float:
    """Expected 1-based position at which a truly best candidate is first reached.

    When several candidates share the best real F1, reaching any of them is enough; when the
    ranking ties (equal prediction and cost), the position is the expectation over the random
    order: ``(g + 1) / (b + 1)`` into a block of ``g`` members holding ``b`` best ones.
    """
    r = np.asarray(real, dtype=np.float64)
    return expected_until_first(r == r.max(), np.ones_like(r), predicted, cost)


def spearman_rho(real: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Spearman's rank correlation (nan when either side is constant)."""
    r, p = np.asarray(real, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if np.ptp(r) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(stats.spearmanr(r, p).statistic)


def kendall_tau(real: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Kendall's tau-b (nan when either side is constant)."""
    r, p = np.asarray(real, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if np.ptp(r) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(stats.kendalltau(r, p).statistic)


def expected_best_of_random(real: npt.ArrayLike, k: int) -> float:
    """Exact expectation of the best real F1 among ``k`` candidates drawn without replacement.

    With values sorted increasingly ``v_1 ≤ … ≤ v_g``, the best of a random k-subset is
    ``v_i`` with probability ``C(i−1, k−1) / C(g, k)`` (one tie block holding everything).
    """
    r = np.asarray(real, dtype=np.float64)
    return float(expected_best_of_top(r, np.zeros_like(r), [k])[0])


def bootstrap_interval(
    values: npt.ArrayLike,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(estimate, low, high)``: the mean (NaN skipped) and its percentile bootstrap interval.

    ``values`` are per-target results; targets are resampled with replacement, all resamples
    drawn at once.
    """
    x = np.asarray(values, dtype=np.float64)
    if np.all(np.isnan(x)):
        return float("nan"), float("nan"), float("nan")
    estimate = float(np.nanmean(x))
    if len(x) < 2:
        return estimate, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # a resample of only NaNs gives NaN, which is skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        draws = np.nanmean(x[rng.integers(0, len(x), (resamples, len(x)))], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return estimate, float(low), float(high)
