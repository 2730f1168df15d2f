from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferscout.evaluation.curves import budget_curve, oracle_curve, random_curve, time_saved


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
