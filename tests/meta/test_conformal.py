from __future__ import annotations

import math

import numpy as np
import pytest

from transferscout.meta.conformal import conformal_halfwidth, conformal_interval, loto_coverage


def test_halfwidth_is_the_conformal_rank_of_the_absolute_residuals() -> None:
    residuals = np.array([(-1) ** i * 0.1 * i for i in range(1, 20)])  # |r| = 0.1 ... 1.9
    # ceil((19 + 1) * 0.9) = 18th smallest.
    assert conformal_halfwidth(residuals, 0.9) == pytest.approx(1.8)
    assert conformal_halfwidth(residuals, 0.5) == pytest.approx(1.0)  # ceil(10) = 10th
    assert conformal_halfwidth(residuals[:5], 0.95) == math.inf  # ceil(6 * 0.95) = 6 > 5
    with pytest.raises(ValueError, match="level"):
        conformal_halfwidth(residuals, 1.0)


def test_interval_is_clipped_to_the_metric_range() -> None:
    low, high = conformal_interval([0.05, 0.5, 0.97], 0.1)
    assert low.tolist() == pytest.approx([0.0, 0.4, 0.87])
    assert high.tolist() == pytest.approx([0.15, 0.6, 1.0])


def test_leave_one_target_out_coverage_by_hand() -> None:
    residuals = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    groups = np.array(["a"] * 5 + ["b"] * 5)
    # level 0.5: from 5 residuals of the other group, the ceil(6 * 0.5) = 3rd smallest.
    # a judged by b's (0.6..1.0): 0.8 -> all of a covered; b judged by a's: 0.3 -> none of b.
    assert loto_coverage(residuals, groups, 0.5) == pytest.approx(0.5)


def test_coverage_is_near_nominal_for_exchangeable_errors() -> None:
    rng = np.random.default_rng(0)
    residuals = rng.normal(size=2000)
    groups = np.repeat(np.arange(20), 100)
    assert loto_coverage(residuals, groups, 0.9) == pytest.approx(0.9, abs=0.02)
