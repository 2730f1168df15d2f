from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferscout.evaluation.curves import (
    budget_curve,
    oracle_curve,
    random_curve,
    target_time_saved,
    time_saved,
)


def _grid() -> pd.DataFrame:
    # Two targets with three candidates each, one hour per candidate.
    return pd.DataFrame(
        {
            "target": ["a", "a", "a", "b", "b", "b"],
            "real_f1": [0.5, 0.9, 0.7, 0.2, 0.4, 0.3],
            "hours": [1.0] * 6,
            "good": [0.1, 0.9, 0.5, 0.0, 0.8, 0.3],
            "bad": [0.9, 0.1, 0.5, 0.8, 0.0, 0.3],
        }
    )


def test_oracle_finds_the_best_at_depth_one() -> None:
    curve = oracle_curve(_grid(), [1, 2, 3])
    assert curve["best_f1"].tolist() == pytest.approx([0.65, 0.65, 0.65])
    assert curve["hours"].tolist() == [2.0, 4.0, 6.0]


def test_perfect_predictor_equals_the_oracle_and_reversed_is_worst() -> None:
    grid = _grid()
    good = budget_curve(grid, "good", [1, 2, 3])
    bad = budget_curve(grid, "bad", [1, 2, 3], signal_hours=0.5)
    assert good["best_f1"].tolist() == oracle_curve(grid, [1, 2, 3])["best_f1"].tolist()
    assert bad["best_f1"].tolist() == pytest.approx([0.35, 0.5, 0.65])
    assert bad["hours"].tolist() == [2.5, 4.5, 6.5]  # the signals' cost is charged


def test_random_curve_is_the_exact_expectation() -> None:
    curve = random_curve(_grid(), [1, 2, 3])
    # target a: E[max of 1] = 0.7, of 2 = (0.9 + 0.9 + 0.7)/3; target b similarly.
    assert curve["best_f1"].tolist() == pytest.approx(
        [(0.7 + 0.3) / 2, ((0.9 + 0.9 + 0.7) / 3 + (0.4 + 0.4 + 0.3) / 3) / 2, 0.65]
    )
    assert curve["hours"].tolist() == [2.0, 4.0, 6.0]


def test_time_saved_at_each_tolerance() -> None:
    grid = _grid()
    bad = budget_curve(grid, "bad", [1, 2, 3])
    saved = time_saved(bad, grid, tolerances=(0.01, 0.15, 0.35))
    assert saved["k"].tolist() == [3, 2, 1]
    assert saved["f1_loss"].tolist() == pytest.approx([0.0, 0.15, 0.3])
    assert saved["saved_percent"].tolist() == pytest.approx([0.0, 100 / 3, 200 / 3])
    assert np.all(saved["hours"].to_numpy() == [6.0, 4.0, 2.0])


def test_ties_go_by_planned_cost_never_by_realised_hours() -> None:
    grid = _grid().assign(
        tied=0.0,
        hours=[3.0, 1.0, 2.0, 1.0, 1.0, 1.0],  # realised: the best of a (0.9) ran fastest
        planned=[1.0, 2.0, 2.0, 1.0, 1.0, 1.0],  # planned: candidate 0 of a is cheapest
    )
    curve = budget_curve(grid, "tied", [1, 2], cost="planned")
    # a: candidate 0 (0.5, 3 h) first, then 1 and 2 in random order; b: one block of three.
    best_b = [0.3, (0.4 + 0.4 + 0.3) / 3]
    assert curve["best_f1"].tolist() == pytest.approx(
        [(0.5 + best_b[0]) / 2, ((0.9 + 0.7) / 2 + best_b[1]) / 2]
    )
    assert curve["hours"].tolist() == pytest.approx([3.0 + 1.0, 3.0 + 1.5 + 2.0])


def test_time_saved_per_target_by_hand() -> None:
    real = np.array([0.5, 0.9, 0.7])
    hours = np.array([1.0, 2.0, 1.0])
    # By "bad" (0.9, 0.1, 0.5): 0 then 2 then 1; within 0.25 of 0.9 is 0.7 (candidate 2).
    bad = np.array([0.9, 0.1, 0.5])
    assert target_time_saved(real, hours, bad, 0.25) == pytest.approx(50.0)
    assert target_time_saved(real, hours, bad, 0.0, charge=1.0) == pytest.approx(-25.0)
    # Tied scores: the first near-best (0.9 or 0.7, b = 2 of 3) after E = 1/3 of 0.5's hour
    # plus half of each hit's hours.
    tied = np.zeros(3)
    expected = 1.0 / 3 + (2.0 + 1.0) / 2
    assert target_time_saved(real, hours, tied, 0.25) == pytest.approx((1 - expected / 4) * 100)
