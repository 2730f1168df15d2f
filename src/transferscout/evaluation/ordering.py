"""One ordering rule for every method, baseline and curve (SPEC §7), and exact expectations.

A target's candidates are trained in decreasing *predicted value*; candidates with the same
value go by increasing *predicted cost* (from the configuration: epochs × training examples ×
max length per stage — never the realised hours, which exist only after training); candidates
equal in both form a *tie block*, ordered by a seeded random key.

Wherever a quantity depends on the order only through sums over positions or the best value
among the first k, its expectation over the uniformly random orders inside every tie block is
computed exactly (no sampling) by the functions here.  A uniformly random order of all
candidates is the special case of a single block (a constant score and no cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import numpy.typing as npt

__all__ = [
    "best_of",
    "expected_at_positions",
    "expected_best_of_top",
    "expected_until_first",
    "lexicographic_score",
    "ranking_order",
    "tie_blocks",
]

Array = npt.NDArray[np.float64]


def _keys(score: npt.ArrayLike, cost: npt.ArrayLike | None) -> tuple[Array, Array]:
    value = np.asarray(score, dtype=np.float64)
    costs = np.zeros_like(value) if cost is None else np.asarray(cost, dtype=np.float64)
    if value.shape != costs.shape or value.ndim != 1:
        raise ValueError(
            f"score and cost must be 1-d of one length; got {value.shape}, {costs.shape}"
        )
    # NaN (a signal missing for a candidate) ranks last, like the lowest value.
    return np.where(np.isnan(value), -np.inf, value), np.nan_to_num(costs, nan=np.inf)


def best_of(score: npt.ArrayLike, keys: Sequence[tuple[object, ...]]) -> int:
    """The position of the one best candidate a table names: the highest score, then the key.

    Among candidates with the same score (NaN counts as the lowest) the one with the smallest
    ``keys`` entry wins — ``(source, source lr, epochs, batch, target lr, epochs, batch)``
    wherever a best transfer is named (Table 1, the run's summary of best sources), so
    every place that names a target's best source names the same one whatever the rows'
    order.  (Which is best is reported, never decided on: nothing is trained by it.)

    Example: scores ``[0.0, 0.0, 0.0]`` with sources ``b, a, c`` -> 1 (``a``).
    """
    value = np.asarray(score, dtype=np.float64)
    if value.ndim != 1 or len(value) != len(keys) or not len(value):
        raise ValueError("best_of needs one key per score, and at least one candidate")
    value = np.where(np.isnan(value), -np.inf, value)
    tied = [int(i) for i in np.flatnonzero(value == value.max())]
    return int(min(tied, key=lambda i: tuple(_comparable(k) for k in keys[i])))


def _comparable(value: object) -> tuple[int, float, str]:
    """A key part that compares alike wherever it was read (2, 2.0 and np.int64(2) are one)."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def ranking_order(
    score: npt.ArrayLike, cost: npt.ArrayLike | None = None, *, seed: int = 0
) -> npt.NDArray[np.intp]:
    """One concrete order: decreasing score, then increasing cost, then a seeded random key."""
    value, costs = _keys(score, cost)
    key = np.random.default_rng(seed).random(len(value))
    return np.lexsort((key, costs, -value))


def tie_blocks(
    score: npt.ArrayLike, cost: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The order up to ties, and the tie block of each position.

    Returns:
        ``order`` (indices by decreasing score, then increasing cost; equal candidates in index
        order) and ``block`` (for each position, the 0-based number of its tie block).
    """
    value, costs = _keys(score, cost)
    order = np.lexsort((np.arange(len(value)), costs, -value))
    changed = (np.diff(value[order]) != 0) | (np.diff(costs[order]) != 0)
    block = np.concatenate([[0], np.cumsum(changed)]).astype(np.intp)
    return order, block


def expected_at_positions(
    values: npt.ArrayLike, score: npt.ArrayLike, cost: npt.ArrayLike | None = None
) -> Array:
    """``E[values at position i]`` for each position ``i`` of the ranking.

    Inside a tie block every member is equally likely at every position of the block, so the
    expectation is the block's mean.  Any sum of ``weight_i × value at i`` (DCG, hours of the
    first k) has as its expectation the same sum over these means.
    """
    v = np.asarray(values, dtype=np.float64)
    order, block = tie_blocks(score, cost)
    ordered = v[order]
    sums = np.bincount(block, weights=ordered)
    sizes = np.bincount(block)
    return np.asarray((sums / sizes)[block], dtype=np.float64)


def _expected_max(sorted_values: Array, m: int, floor: float) -> float:
    """``E[max(floor, best of a random m-subset)]`` of increasingly sorted values.

    The best of a random m-subset of ``v_1 ≤ … ≤ v_g`` is ``v_i`` with probability
    ``C(i−1, m−1) / C(g, m)``.
    """
    g = len(sorted_values)
    total = comb(g, m)
    return float(
        sum(max(floor, float(sorted_values[i - 1])) * comb(i - 1, m - 1) for i in range(m, g + 1))
        / total
    )


def expected_best_of_top(
    values: npt.ArrayLike,
    score: npt.ArrayLike,
    ks: Sequence[int],
    cost: npt.ArrayLike | None = None,
) -> Array:
    """``E[max of values among the first k]`` for each ``k`` (k beyond the end: all)."""
    v = np.asarray(values, dtype=np.float64)
    order, block = tie_blocks(score, cost)
    ordered = v[order]
    n = len(v)
    results = []
    for k in ks:
        k = min(int(k), n)
        if k < 1:
            raise ValueError(f"k = {k}; expected at least 1")
        last = block[k - 1]
        start = int(np.searchsorted(block, last, side="left"))
        end = int(np.searchsorted(block, last, side="right"))
        floor = float(ordered[:start].max()) if start else -np.inf
        results.append(_expected_max(np.sort(ordered[start:end]), k - start, floor))
    return np.asarray(results, dtype=np.float64)


def expected_until_first(
    hit: npt.ArrayLike,
    weights: npt.ArrayLike,
    score: npt.ArrayLike,
    cost: npt.ArrayLike | None = None,
) -> float:
    """``E[sum of weights up to and including the first hit]`` (NaN if nothing is a hit).

    With unit weights this is the expected position of the first hit.  In the block holding
    the first hit, with ``b`` hits among its members, each non-hit comes before every hit with
    probability ``1/(b+1)`` and each hit is the first with probability ``1/b``.
    """
    h = np.asarray(hit, dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    if not h.any():
        return float("nan")
    order, block = tie_blocks(score, cost)
    first = block[int(np.flatnonzero(h[order])[0])]
    before = float(w[order][block < first].sum())
    members = order[block == first]
    hits = int(h[members].sum())
    inside = w[members][~h[members]].sum() / (hits + 1) + w[members][h[members]].sum() / hits
    return before + float(inside)


def lexicographic_score(primary: npt.ArrayLike, secondary: npt.ArrayLike) -> Array:
    """One score that orders by ``primary``, then by ``secondary`` (ties kept as ties).

    Both are replaced by their dense ranks (NaN lowest), so the result is exact for any scale.
    """
    first = _dense_rank(primary)
    second = _dense_rank(secondary)
    return np.asarray(first * (second.max() + 2) + second, dtype=np.float64)


def _dense_rank(values: npt.ArrayLike) -> Array:
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isnan(v), -np.inf, v)
    return np.unique(v, return_inverse=True)[1].astype(np.float64)
