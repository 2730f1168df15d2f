from __future__ import annotations

import numpy as np
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


def test_multiclass_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from transferscout.training.metrics import multiclass_metrics

    rng = np.random.default_rng(0)
    for trial in range(20):
        k = 2 + trial % 4
        y = rng.integers(0, k, 30)
        p = rng.integers(0, k, 30)
        got = multiclass_metrics(y, p, k)
        labels = list(range(k))
        assert got["macro_f1"] == pytest.approx(
            f1_score(y, p, average="macro", labels=labels, zero_division=0), abs=1e-12
        )
        assert got["micro_f1"] == pytest.approx(f1_score(y, p, average="micro"), abs=1e-12)
        assert got["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)


def test_multiclass_hand_example_counts_an_unpredicted_class_as_zero() -> None:
    from transferscout.training.metrics import multiclass_metrics

    # class 0: tp 2 -> F1 1; class 1: tp 1, fn 1 -> P 1, R 1/2, F1 2/3; class 2: 1 fp -> 0.
    got = multiclass_metrics([0, 0, 1, 1], [0, 0, 1, 2], 3)
    assert got["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert got["accuracy"] == 0.75 == got["micro_f1"]


def test_regression_metrics_match_scipy() -> None:
    from scipy.stats import pearsonr, spearmanr

    from transferscout.training.metrics import regression_metrics

    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 5, 25).astype(float)  # ties on purpose
        p = y + rng.normal(0, 2, 25)
        p[:5] = p[5]  # tied predictions too
        got = regression_metrics(y, p)
        assert got["spearman"] == pytest.approx(spearmanr(y, p).statistic, abs=1e-12)
        assert got["pearson"] == pytest.approx(pearsonr(y, p).statistic, abs=1e-12)
        assert got["mse"] == pytest.approx(np.mean((y - p) ** 2), abs=1e-12)


def test_regression_correlation_of_a_constant_prediction_is_zero() -> None:
    from transferscout.training.metrics import regression_metrics

    got = regression_metrics([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    assert (got["spearman"], got["pearson"], got["mse"]) == (0.0, 0.0, pytest.approx(29 / 3))
