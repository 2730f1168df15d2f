"""Ranking metrics of predicted transfer F1 against the real grid (SPEC §7).

Pure functions on arrays.  In each, a *ranking* of one target's candidates is the order of
decreasing predicted F1, ties broken by lower training cost, then by position.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from math import comb

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "bootstrap_interval",
    "expected_best_of_random",
    "kendall_tau",
    "ndcg_at_k",
    "rank_of_best",
    "ranking_order",
    "regret_at_k",
    "rmse_at_k",
    "spearman_rho",
]

Array = npt.NDArray[np.float64]


def ranking_order(
    predicted: npt.ArrayLike, cost: npt.ArrayLike | None = None
) -> npt.NDArray[np.intp]:
    """Indices in decreasing predicted value; ties by lower cost, then by index."""
    score = np.asarray(predicted, dtype=np.float64)
    costs = np.zeros_like(score) if cost is None else np.asarray(cost, dtype=np.float64)
    return np.lexsort((np.arange(len(score)), costs, -score))


def rmse_at_k(predicted: npt.ArrayLike, real: npt.ArrayLike, ks: Sequence[int]) -> Array:
    """RMSE between predicted and real F1 of the top K candidates pooled over targets.

    All candidates of all targets are sorted by predicted F1 (decreasing); for each K the RMSE
    of the first K is returned (K larger than the pool uses the whole pool).
    """
    p = np.asarray(predicted, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    order = ranking_order(p)
    squared = (p[order] - r[order]) ** 2
    cumulative = np.cumsum(squared)
    return np.array([np.sqrt(cumulative[min(k, len(p)) - 1] / min(k, len(p))) for k in ks])


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

    ``DCG@k = Σ_{i≤k} g(rel_i) / log2(i + 1)`` with ``rel`` the real F1 in [0, 1] and gain
    ``g(x) = 2^x − 1`` (exponential) or ``g(x) = x`` (linear; equals scikit-learn's
    ``ndcg_score`` when predictions have no ties).  1 for a perfect ranking; 0 when every
    real F1 is 0.
    """
    r = np.asarray(real, dtype=np.float64)
    gains = _gains(r, gain)
    discounts = 1.0 / np.log2(np.arange(2, len(r) + 2))
    top = min(k, len(r))
    dcg = float(np.sum(gains[ranking_order(predicted, cost)][:top] * discounts[:top]))
    ideal = float(np.sum(np.sort(gains)[::-1][:top] * discounts[:top]))
    return dcg / ideal if ideal > 0 else 0.0


def regret_at_k(
    real: npt.ArrayLike, predicted: npt.ArrayLike, k: int, *, cost: npt.ArrayLike | None = None
) -> float:
    """``(best − best among the top k) / best × 100``: percent of the best F1 lost (0 is best)."""
    r = np.asarray(real, dtype=np.float64)
    best = float(r.max())
    if best <= 0:
        return 0.0
    found = float(r[ranking_order(predicted, cost)][: min(k, len(r))].max())
    return (best - found) / best * 100.0


def rank_of_best(
    real: npt.ArrayLike, predicted: npt.ArrayLike, *, cost: npt.ArrayLike | None = None
) -> int:
    """1-based position of the truly best candidate (the first, if several tie) in the ranking."""
    r = np.asarray(real, dtype=np.float64)
    order = ranking_order(predicted, cost)
    positions = np.flatnonzero(r[order] == r.max())
    return int(positions[0]) + 1


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

    With values sorted increasingly ``v_1 ≤ … ≤ v_n``, the best of a random k-subset is
    ``v_i`` with probability ``C(i−1, k−1) / C(n, k)``.
    """
    values = np.sort(np.asarray(real, dtype=np.float64))
    n = len(values)
    k = min(k, n)
    total = comb(n, k)
    return float(sum(values[i - 1] * comb(i - 1, k - 1) for i in range(k, n + 1)) / total)


def bootstrap_interval(
    values: npt.ArrayLike,
    *,
    statistic: Callable[[Array], float] = lambda x: float(np.nanmean(x)),
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(estimate, low, high)``: the statistic and its percentile bootstrap interval.

    ``values`` are per-target results; targets are resampled with replacement.
    """
    x = np.asarray(values, dtype=np.float64)
    if np.all(np.isnan(x)):
        return float("nan"), float("nan"), float("nan")
    estimate = statistic(x)
    if len(x) < 2:
        return estimate, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # a resample of only NaNs gives NaN, which is skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        draws = np.array([statistic(x[rng.integers(0, len(x), len(x))]) for _ in range(resamples)])
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return estimate, float(low), float(high)
