from __future__ import annotations

import pytest

from transferscout.training.metrics import binary_metrics


def test_hand_computed_metrics() -> None:
    # tp=2 (rows 0, 1), fp=1 (row 2), fn=1 (row 3), tn=2.
    metrics = binary_metrics([1, 1, 0, 1, 0, 0], [1, 1, 1, 0, 0, 0])
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(2 / 3)
    assert metrics.accuracy == pytest.approx(4 / 6)
    assert (metrics.n, metrics.positives, metrics.predicted_positives) == (6, 3, 3)


def test_no_predicted_positive_gives_zero_not_nan() -> None:
    metrics = binary_metrics([1, 0, 0], [0, 0, 0])
    assert (metrics.precision, metrics.recall, metrics.f1) == (0.0, 0.0, 0.0)
    assert metrics.accuracy == pytest.approx(2 / 3)


def test_perfect() -> None:
    metrics = binary_metrics([0, 1, 1], [0, 1, 1])
    assert (metrics.f1, metrics.accuracy) == (1.0, 1.0)
    assert metrics.as_dict("test_")["test_f1"] == 1.0


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same length"):
        binary_metrics([0, 1], [0])
