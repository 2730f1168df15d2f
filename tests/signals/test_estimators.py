from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from transferscout.signals.estimators import (
    h_score,
    log_expected_empirical_prediction,
    log_maximum_evidence,
    log_maximum_evidence_regression,
    logme_evidence,
    negative_conditional_entropy,
    regularized_h_score,
    transrate,
)


def _data(n: int, d: int, seed: int = 0, signal: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    features = rng.normal(size=(n, d))
    features[:, 0] += signal * labels
    return features, labels


# -- slow references ---------------------------------------------------------------------


def _direct_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | f, α, β) from the d x d matrices, no SVD."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, log_det = np.linalg.slogdet(a)
    return (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - alpha / 2 * m @ m
        - beta / 2 * np.sum((f @ m - y) ** 2)
        - log_det / 2
        - n / 2 * np.log(2 * np.pi)
    )


def _logme_by_direct_maximisation(f: np.ndarray, labels: np.ndarray) -> float:
    values = []
    for c in np.unique(labels):
        y = (labels == c).astype(float)
        best = minimize(
            lambda p, y=y: -_direct_evidence(f, y, np.exp(p[0]), np.exp(p[1])),
            x0=[0.0, 0.0],
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
        )
        values.append(-best.fun)
    return float(np.mean(values) / len(f))


def _leep_loop(theta: np.ndarray, labels: np.ndarray) -> float:
    n, z = theta.shape
    classes = sorted(set(labels.tolist()))
    joint = {
        (y, j): sum(theta[i, j] for i in range(n) if labels[i] == y) / n
        for y in classes
        for j in range(z)
    }
    total = 0.0
    for i in range(n):
        expected = 0.0
        for j in range(z):
            marginal = sum(joint[(y, j)] for y in classes)
            expected += joint[(labels[i], j)] / marginal * theta[i, j]
        total += np.log(expected)
    return total / n


def _nce_loop(z: np.ndarray, y: np.ndarray) -> float:
    n = len(y)
    total = 0.0
    for a in set(y.tolist()):
        for b in set(z.tolist()):
            p_joint = np.sum((y == a) & (z == b)) / n
            p_z = np.sum(z == b) / n
            if p_joint > 0:
                total += p_joint * np.log(p_joint / p_z)
    return total


def _h_score_loop(f: np.ndarray, y: np.ndarray) -> float:
    n, d = f.shape
    mean = f.mean(axis=0)
    cov = sum(np.outer(f[i] - mean, f[i] - mean) for i in range(n)) / n
    class_mean = {c: f[y == c].mean(axis=0) for c in set(y.tolist())}
    between = sum(np.outer(class_mean[y[i]] - mean, class_mean[y[i]] - mean) for i in range(n)) / n
    return float(np.trace(np.linalg.pinv(cov) @ between))


def _transrate_by_eigenvalues(f: np.ndarray, y: np.ndarray, eps: float) -> float:
    def rate(z: np.ndarray) -> float:
        n, d = z.shape
        eigenvalues = np.linalg.eigvalsh(z.T @ z)
        return 0.5 * sum(np.log(1 + d / (n * eps**2) * max(e, 0.0)) for e in eigenvalues)

    f = f - f.mean(axis=0)
    return rate(f) - sum(np.mean(y == c) * rate(f[y == c]) for c in set(y.tolist()))


# -- LogME -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(60, 8), (12, 30)], ids=["n>d", "n<d"])
def test_logme_fixed_point_reaches_the_direct_maximum(n: int, d: int) -> None:
    f, y = _data(n, d, seed=n)
    fixed_point = log_maximum_evidence(f, y)
    direct = _logme_by_direct_maximisation(f, y)
    assert fixed_point == pytest.approx(direct, rel=1e-6, abs=1e-8)


def test_logme_when_the_fit_interpolates() -> None:
    # 32 examples of 128 features (a small derived pair-signal sample): the fixed point
    # drives β to infinity, where γ reached n and the β update divided by zero.
    rng = np.random.default_rng(101)
    f, y = rng.normal(size=(32, 128)), rng.integers(0, 2, 32)
    fixed_point = log_maximum_evidence(f, y)
    assert fixed_point == pytest.approx(_logme_by_direct_maximisation(f, y), rel=1e-6)


def test_logme_of_a_column_the_features_fit_exactly_is_the_limit_of_infinite_beta() -> None:
    """n <= d and a column in the features' span: the fixed point drives γ -> n, β -> ∞.

    With every σ_i > 0 and no residual, the evidence tends, as β -> ∞, to
    ``n/2 log α − α/2 M − 1/2 Σ log σ_i − n/2 log 2π`` with ``M = Σ z_i²/σ_i``, largest at
    ``α = n/M``.  With no weights at all (α -> ∞) it is ``n/2 log β − n/2 − n/2 log 2π`` at
    ``β = n/‖y‖²``.  Here f = [diag(1, 2, 3, 4) | 0]: σ = (1, 4, 9, 16), z² = the column; the
    column (0, 1, 0, 1) is best fitted exactly, the column (1, 0, 1, 0) best not at all.
    """
    f = np.hstack([np.diag([1.0, 2.0, 3.0, 4.0]), np.zeros((4, 4))])
    n = 4
    fitted = (
        n / 2 * np.log(n / (1 / 4 + 1 / 16)) - n / 2 - np.log(576.0) / 2 - n / 2 * np.log(2 * np.pi)
    )
    unfitted = n / 2 * np.log(n / 2) - n / 2 - n / 2 * np.log(2 * np.pi)
    assert fitted > unfitted
    one = log_maximum_evidence_regression(f, [0.0, 1.0, 0.0, 1.0])
    assert one == pytest.approx(fitted / n, rel=1e-9)
    both = log_maximum_evidence(f, np.array([0, 1, 0, 1]))
    assert both == pytest.approx((fitted + unfitted) / 2 / n, rel=1e-9)


def test_logme_evidence_in_the_svd_basis_equals_the_direct_formula() -> None:
    for n, d in ((40, 6), (10, 25)):
        f, labels = _data(n, d, seed=d)
        y = (labels == 1).astype(float)
        u, s, _ = np.linalg.svd(f, full_matrices=False)
        z = u.T @ y
        value = logme_evidence(0.7, 1.9, s**2, z**2, float(y @ y - np.sum(z**2)), n, d)
        assert value == pytest.approx(_direct_evidence(f, y, 0.7, 1.9), rel=1e-10)


def test_logme_invariances_and_signal() -> None:
    f, y = _data(200, 10)
    permuted = f[:, np.random.default_rng(1).permutation(10)]
    assert log_maximum_evidence(permuted, y) == pytest.approx(log_maximum_evidence(f, y), rel=1e-10)
    noise, _ = _data(200, 10, seed=5, signal=0.0)
    assert log_maximum_evidence(f, y) > log_maximum_evidence(noise, y)


# -- LEEP and NCE ------------------------------------------------------------------------


def test_leep_matches_the_loop() -> None:
    rng = np.random.default_rng(0)
    theta = rng.dirichlet([1, 1, 1], size=40)
    labels = rng.integers(0, 2, size=40)
    assert log_expected_empirical_prediction(theta, labels) == pytest.approx(
        _leep_loop(theta, labels), rel=1e-12
    )


def test_leep_and_nce_of_a_deterministic_relabelling_are_zero() -> None:
    source = np.array([0, 1, 2, 2, 1, 0, 2])
    relabelled = np.array([5, 3, 5, 5, 3, 5, 5])  # a function of the source class
    theta = np.eye(3)[source]
    assert log_expected_empirical_prediction(theta, relabelled) == pytest.approx(0.0, abs=1e-12)
    assert negative_conditional_entropy(source, relabelled) == pytest.approx(0.0, abs=1e-12)


def test_nce_matches_the_loop_and_is_at_most_zero() -> None:
    rng = np.random.default_rng(3)
    z = rng.integers(0, 3, size=50)
    y = rng.integers(0, 2, size=50)
    assert negative_conditional_entropy(z, y) == pytest.approx(_nce_loop(z, y), rel=1e-12)
    assert negative_conditional_entropy(z, y) < 0


def test_informative_soft_labels_score_above_noise() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=300)
    informative = np.where(y[:, None] == 1, [0.2, 0.8], [0.8, 0.2])
    noise = rng.dirichlet([1, 1], size=300)
    assert log_expected_empirical_prediction(informative, y) > log_expected_empirical_prediction(
        noise, y
    )
    assert negative_conditional_entropy(informative.argmax(1), y) > negative_conditional_entropy(
        noise.argmax(1), y
    )


# -- H-score and TransRate ---------------------------------------------------------------


def test_h_score_matches_the_loop_and_is_invariant_to_invertible_maps() -> None:
    f, y = _data(80, 5)
    assert h_score(f, y) == pytest.approx(_h_score_loop(f, y), rel=1e-9)
    mixing = np.random.default_rng(4).normal(size=(5, 5)) + 3 * np.eye(5)
    assert h_score(f @ mixing, y) == pytest.approx(h_score(f, y), rel=1e-8)
    noise, _ = _data(80, 5, seed=9, signal=0.0)
    assert h_score(f, y) > h_score(noise, y)


@pytest.mark.parametrize(("n", "d", "classes"), [(10, 9, 2), (8, 20, 2), (12, 20, 3)])
def test_h_score_is_missing_when_examples_do_not_exceed_dimensions_plus_one(
    n: int, d: int, classes: int
) -> None:
    """With n ≤ d + 1 the formula gives C − 1 whatever the features: no information."""
    rng = np.random.default_rng(n + d)
    labels = np.arange(n) % classes
    informative = rng.normal(size=(n, d))
    informative[:, 0] += 5.0 * labels
    noise = rng.normal(size=(n, d))
    assert _h_score_loop(informative, labels) == pytest.approx(classes - 1, abs=1e-6)
    assert _h_score_loop(noise, labels) == pytest.approx(classes - 1, abs=1e-6)
    assert np.isnan(h_score(informative, labels))
    assert np.isfinite(regularized_h_score(informative, labels))
    f, y = _data(d + 2, d)  # one example more: defined, and below C − 1
    assert h_score(f, y) == pytest.approx(_h_score_loop(f, y), rel=1e-6)
    assert h_score(f, y) < 1.0


def test_regularized_h_score_is_finite_when_n_is_below_d_and_ranks_signal() -> None:
    f, y = _data(15, 40, signal=4.0)
    noise, _ = _data(15, 40, seed=8, signal=0.0)
    assert np.isfinite(regularized_h_score(f, y))
    assert regularized_h_score(f, y) > regularized_h_score(noise, y)
    big, labels = _data(2000, 4)  # with plenty of data shrinkage vanishes
    assert regularized_h_score(big, labels) == pytest.approx(h_score(big, labels), rel=0.02)


def test_transrate_matches_eigenvalues_and_rewards_class_subspaces() -> None:
    f, y = _data(100, 6)
    assert transrate(f, y, eps=0.5) == pytest.approx(_transrate_by_eigenvalues(f, y, 0.5), rel=1e-9)
    # Informative: each class varies in its own three dimensions (compressible per class);
    # noise: both classes spread over all six.
    rng = np.random.default_rng(7)
    labels = np.repeat([0, 1], 100)
    informative = rng.normal(size=(200, 6)) * 0.05
    informative[:100, :3] += rng.normal(size=(100, 3))
    informative[100:, 3:] += rng.normal(size=(100, 3))
    noise = rng.normal(size=(200, 6)) / np.sqrt(2)
    assert transrate(informative, labels) > transrate(noise, labels) + 1.0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="same n"):
        h_score(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least 2"):
        transrate(np.zeros((1, 2)), np.zeros(1))


@pytest.mark.parametrize(("n", "d"), [(60, 8), (12, 30)], ids=["n>d", "n<d"])
def test_logme_of_a_regression_target_reaches_the_direct_maximum(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    f = rng.normal(size=(n, d))
    values = 0.8 * f[:, 0] - 0.3 * f[:, 1] + rng.normal(0, 0.5, n)
    best = minimize(
        lambda p: -_direct_evidence(f, values, np.exp(p[0]), np.exp(p[1])),
        x0=[0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
    )
    assert log_maximum_evidence_regression(f, values) == pytest.approx(
        -best.fun / n, rel=1e-6, abs=1e-8
    )
    # the class version is the regression evidence of each one-hot column, averaged
    labels = (values > np.median(values)).astype(int)
    columns = [log_maximum_evidence_regression(f, (labels == c).astype(float)) for c in (0, 1)]
    assert log_maximum_evidence(f, labels) == pytest.approx(np.mean(columns), rel=1e-12)
    # features that explain the values score higher than noise
    noise = rng.normal(size=(n, d))
    assert log_maximum_evidence_regression(f, values) > log_maximum_evidence_regression(
        noise, values
    )
