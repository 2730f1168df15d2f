from __future__ import annotations

import math

import numpy as np

from transferscout.signals.completeness import median_upper_bound, summarize_completeness


def test_summary_skips_undefined_errors() -> None:
    summary = summarize_completeness([0.1, float("nan"), 0.3, 0.2])
    assert (summary.median, summary.max, summary.documents) == (0.2, 0.3, 3)
    empty = summarize_completeness([float("nan")])
    assert empty.documents == 0 and math.isnan(empty.median)


def _bound_by_counting(values: list[float], confidence: float) -> float:
    """The first order statistic X_(k) with P(Binomial(n, 1/2) <= k - 1) >= confidence."""
    ordered, n = sorted(values), len(values)
    for k in range(1, n + 1):
        if sum(math.comb(n, i) for i in range(k)) / 2**n >= confidence:
            return ordered[k - 1]
    return ordered[-1]


def test_median_upper_bound_is_the_binomial_order_statistic() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 4, 5, 8, 32, 123):
        values = rng.random(n).tolist()
        for confidence in (0.5, 0.9, 0.95):
            expected = _bound_by_counting(values, confidence)
            assert median_upper_bound(values, confidence) == expected, (n, confidence)
    assert median_upper_bound([0.3, float("nan"), 0.1], 0.95) == 0.3
    assert math.isnan(median_upper_bound([float("nan")], 0.95))


def test_median_upper_bound_covers_the_median_as_often_as_promised() -> None:
    """Samples of 32 from U(0, 1) (median 0.5): the bound is the 22nd value, which is at
    least the median with probability P(Binomial(32, 1/2) <= 21) = 0.975."""
    rng = np.random.default_rng(1)
    covered = [median_upper_bound(rng.random(32), 0.95) >= 0.5 for _ in range(4000)]
    assert abs(np.mean(covered) - 0.975) < 0.01
