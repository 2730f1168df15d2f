"""Model-based transferability estimators: pure functions of arrays (SPEC §5.3).

Conventions: ``features`` ``(n, d)`` are a source model's pooled encoder outputs on the target
task's texts; ``labels`` ``(n,)`` are the target labels (any integer class ids);
``source_probabilities`` ``(n, z)`` are the source model's class probabilities on those texts.
Every score is maximised: higher means the source is predicted to transfer better.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "h_score",
    "log_expected_empirical_prediction",
    "log_maximum_evidence",
    "logme_evidence",
    "negative_conditional_entropy",
    "log_maximum_evidence_regression",
    "regularized_h_score",
    "transrate",
]

Array = npt.NDArray[np.float64]


def _check(features: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Array, npt.NDArray[np.int64]]:
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if f.ndim != 2 or y.ndim != 1 or len(f) != len(y):
        raise ValueError(
            f"features must be (n, d) and labels (n,) with the same n; got {f.shape} and {y.shape}"
        )
    if len(y) < 2:
        raise ValueError(f"need at least 2 examples; got {len(y)}")
    _, codes = np.unique(y, return_inverse=True)
    return f, codes.astype(np.int64)


def logme_evidence(
    alpha: float, beta: float, sigma: Array, z2: Array, outside: float, n: int, d: int
) -> float:
    """Log evidence of Bayesian linear regression ``y = f·w + ε`` in the SVD basis of ``f``.

    With prior ``w ~ N(0, α⁻¹I)`` and noise ``ε ~ N(0, β⁻¹)``, ``A = αI + β fᵀf`` and the
    posterior mean ``m = β A⁻¹ fᵀy``::

        log p(y|f, α, β) = d/2 log α + n/2 log β − α/2 ‖m‖² − β/2 ‖f m − y‖²
                           − ½ log|A| − n/2 log 2π

    where ``log|A| = Σ_i log(α + β σ_i) + (d − k) log α`` over the ``k`` non-zero eigenvalues
    ``σ_i`` of ``fᵀf``.  The ``(d − k)`` term matters when ``n < d``.

    Shape:
        sigma, z2: ``(k,)`` — squared singular values of ``f`` and squared projections of
        ``y`` on its left singular vectors; ``outside`` is ``‖y‖²`` minus ``Σ z2``.
    """
    t = alpha / beta
    m2 = float(np.sum(sigma * z2 / (sigma + t) ** 2))
    residual = float(np.sum(z2 * (t / (sigma + t)) ** 2)) + outside
    log_det = float(np.sum(np.log(alpha + beta * sigma))) + (d - len(sigma)) * np.log(alpha)
    return float(
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - alpha / 2 * m2
        - beta / 2 * residual
        - log_det / 2
        - n / 2 * np.log(2 * np.pi)
    )


def log_maximum_evidence(
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    max_iterations: int = 1000,
    tolerance: float = 1e-8,
) -> float:
    """LogME: the maximum log evidence of a linear model on the features, per example.

    For each class a one-hot target column ``y`` is regressed on ``f``; ``α`` and ``β`` are
    set by MacKay's fixed point ``γ = Σ βσ_i/(α+βσ_i)``, ``α = γ/‖m‖²``,
    ``β = (n − γ)/‖fm − y‖²`` (computed on the SVD of ``f``, so each step costs ``O(k)``);
    the evidence (see :func:`logme_evidence`, which keeps the ``(d − k) log α`` term the
    reference implementation drops for ``n < d``) is averaged over the classes and divided by
    ``n``.  A column the features fit exactly (``n <= d``, ``γ -> n``) drives ``β`` to
    infinity while the evidence converges: the iteration stops at its last finite step.

    Shape:
        features ``(n, d)``, labels ``(n,)``.

    Reference:
        You, Liu, Wang, Long (2021), *LogME: Practical Assessment of Pre-trained Models for
        Transfer Learning*, ICML.
    """
    f, y = _check(features, labels)
    columns = [(y == c).astype(np.float64) for c in range(int(y.max()) + 1)]
    return _mean_evidence(f, columns, max_iterations, tolerance)


def log_maximum_evidence_regression(
    features: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    max_iterations: int = 1000,
    tolerance: float = 1e-8,
) -> float:
    """LogME of a regression target: the same evidence with ``y`` the values themselves.

    LogME is a Bayesian linear regression, so a real-valued target is its native case (You
    et al. 2021, §4.2, score the same way).  The values are used as given (no scaling), so
    the score is comparable between sources for one target, not between targets.

    Shape:
        features ``(n, d)``, values ``(n,)``.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if f.ndim != 2 or y.ndim != 1 or len(f) != len(y) or len(y) < 2:
        raise ValueError(
            f"features must be (n, d) and values (n,) with the same n >= 2; got {f.shape} and "
            f"{y.shape}"
        )
    return _mean_evidence(f, [y], max_iterations, tolerance)


def _mean_evidence(f: Array, columns: list[Array], max_iterations: int, tolerance: float) -> float:
    """Maximum evidence of each target column (MacKay's fixed point), averaged, over ``n``."""
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > s.max() * max(n, d) * np.finfo(np.float64).eps if s.size and s.max() > 0 else []
    u, sigma = u[:, keep], s[keep] ** 2
    evidences = []
    for column in columns:
        z = u.T @ column
        z2 = z**2
        outside = max(float(column @ column - z2.sum()), 0.0)
        alpha, beta = 1.0, 1.0
        for _ in range(max_iterations):
            t = alpha / beta
            gamma = float(np.sum(sigma / (sigma + t)))
            m2 = float(np.sum(sigma * z2 / (sigma + t) ** 2))
            residual = float(np.sum(z2 * (t / (sigma + t)) ** 2)) + outside
            tiny = np.finfo(np.float64).tiny
            next_beta = (n - gamma) / max(residual, tiny)
            if next_beta <= 0:
                # γ = n: the features fit the column exactly (n <= d).  β grows without bound
                # while the evidence converges to its limit; the last finite step is it.
                break
            alpha = gamma / max(m2, tiny) if gamma > 0 else alpha
            beta = next_beta
            if abs(alpha / beta - t) <= tolerance * t:
                break
        evidences.append(logme_evidence(alpha, beta, sigma, z2, outside, n, d))
    return float(np.mean(evidences) / n)


def log_expected_empirical_prediction(
    source_probabilities: npt.ArrayLike, labels: npt.ArrayLike
) -> float:
    """LEEP: how well the source's soft labels, re-mapped empirically, predict the target.

    ``P̂(y, z) = (1/n) Σ_i θ_i(z)·[y_i = y]``, ``P̂(y|z) = P̂(y, z)/P̂(z)``, and
    ``LEEP = (1/n) Σ_i log Σ_z P̂(y_i|z) θ_i(z)``.  At most 0; 0 when the source's classes
    determine the target labels.

    Shape:
        source_probabilities ``(n, z)`` rows summing to 1, labels ``(n,)``.

    Reference:
        Nguyen, Hassner, Seeger, Archambeau (2020), *LEEP: A New Measure to Evaluate
        Transferability of Learned Representations*, ICML.
    """
    theta, y = _check(source_probabilities, labels)
    joint = np.zeros((int(y.max()) + 1, theta.shape[1]), dtype=np.float64)
    np.add.at(joint, y, theta)
    joint /= len(y)
    marginal = joint.sum(axis=0, keepdims=True)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    expected = np.sum(theta * conditional[y], axis=1)
    return float(np.mean(np.log(np.maximum(expected, np.finfo(np.float64).tiny))))


def negative_conditional_entropy(source_labels: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """NCE: ``−H(Y|Z)`` of the target labels given the source's hard predictions ``Z``.

    ``−H(Y|Z) = Σ_{y,z} P̂(y, z) log P̂(y|z)`` from the empirical joint of ``(y_i, z_i)``.
    At most 0; 0 when ``Z`` determines ``Y``.

    Shape:
        source_labels ``(n,)`` (e.g. ``argmax θ``), labels ``(n,)``.

    Reference:
        Tran, Nguyen, Hassner (2019), *Transferability and Hardness of Supervised
        Classification Tasks*, ICCV.
    """
    z = np.asarray(source_labels)
    _, y = _check(np.zeros((len(z), 1)), labels)
    _, z_codes = np.unique(z, return_inverse=True)
    joint = np.zeros((int(y.max()) + 1, int(z_codes.max()) + 1), dtype=np.float64)
    np.add.at(joint, (y, z_codes), 1.0)
    joint /= len(y)
    marginal = joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    return float(np.sum(joint[mask] * np.log((joint / marginal)[mask])))


def _class_means(f: Array, y: npt.NDArray[np.int64]) -> Array:
    means = np.zeros((int(y.max()) + 1, f.shape[1]), dtype=np.float64)
    np.add.at(means, y, f)
    means /= np.bincount(y)[:, None]
    return means[y]


def h_score(features: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """H-score: ``tr(cov(f)⁺ · cov(E[f|y]))`` — class separation relative to feature spread.

    Invariant under any invertible linear map of the features.  Undefined (NaN) unless there
    are more examples than feature dimensions plus one: with ``n ≤ d + 1`` the centred
    features of ``n`` examples in general position span all ``n − 1`` directions any
    labelling can use, so the score is ``C − 1`` (``C`` classes) for *every* source — what
    differs between sources is rounding.  :func:`regularized_h_score` is the estimator for
    that regime.

    Shape:
        features ``(n, d)``, labels ``(n,)``.

    Reference:
        Bao, Li, Huang, Wang, Zhao, Zheng, Hong (2019), *An Information-Theoretic Approach to
        Transferability in Task Transfer Learning*, ICIP.
    """
    f, y = _check(features, labels)
    if len(f) <= f.shape[1] + 1:
        return float("nan")
    f = f - f.mean(axis=0)
    covariance = f.T @ f / len(f)
    g = _class_means(f, y)
    between = g.T @ g / len(f)
    return float(np.trace(np.linalg.pinv(covariance, rcond=1e-10, hermitian=True) @ between))


def regularized_h_score(features: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """H-score with a Ledoit–Wolf shrinkage estimate of the feature covariance.

    With shrinkage ``λ`` (Ledoit–Wolf) and ``μ = tr(cov)/d``:
    ``tr(((1−λ)·cov + λμI)⁻¹ · (1−λ)·cov(E[f|y]))`` — stable when ``n`` is small next to ``d``.

    Shape:
        features ``(n, d)``, labels ``(n,)``.

    Reference:
        Ibrahim, Ponomareva, Mazumder (2022), *Newer is not always better: Rethinking
        transferability metrics, their peculiarities, stability and performance*.
    """
    from sklearn.covariance import ledoit_wolf_shrinkage

    f, y = _check(features, labels)
    f = f - f.mean(axis=0)
    shrinkage = float(ledoit_wolf_shrinkage(f, assume_centered=True))
    covariance = f.T @ f / len(f)
    mu = np.trace(covariance) / f.shape[1]
    regularized = (1 - shrinkage) * covariance + shrinkage * mu * np.eye(f.shape[1])
    g = _class_means(f, y)
    between = (1 - shrinkage) * (g.T @ g / len(f))
    return float(np.trace(np.linalg.solve(regularized, between)))


def _coding_rate(z: Array, eps: float) -> float:
    n, d = z.shape
    _, log_det = np.linalg.slogdet(np.eye(d) + d / (n * eps**2) * (z.T @ z))
    return float(log_det / 2)


def transrate(features: npt.ArrayLike, labels: npt.ArrayLike, *, eps: float = 1e-2) -> float:
    """TransRate: coding rate of the features minus their class-conditional coding rate.

    With centred features ``f`` and ``R(z) = ½ logdet(I + d/(n_z ε²) zᵀz)``:
    ``TransRate = R(f) − Σ_c (n_c/n) R(f_c)``.  ``eps`` is the distortion ε (default
    ``1e-2``).  The features are centred once, over all classes, as in the reference: the score
    rewards features in which each class fills less of the space than all classes together.

    Shape:
        features ``(n, d)``, labels ``(n,)``.

    Reference:
        Huang, Huang, Chen, Zhao, Li, Guo (2022), *Frustratingly Easy Transferability
        Estimation*, ICML.
    """
    f, y = _check(features, labels)
    f = f - f.mean(axis=0)
    total = _coding_rate(f, eps)
    n = len(f)
    conditional = sum(
        (np.sum(y == c) / n) * _coding_rate(f[y == c], eps) for c in range(int(y.max()) + 1)
    )
    return float(total - conditional)
