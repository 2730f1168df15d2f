"""Paired comparisons of two methods across targets: the sign-flip permutation test.

Under the null hypothesis that two methods are exchangeable on every target, each per-target
difference is as likely to have either sign.  The test statistic is ``|mean difference|``; its
null distribution is that of ``|mean(s_i · d_i)|`` over all ``2^n`` sign vectors ``s``
(enumerated exactly when ``n`` is small, sampled otherwise).  Two-sided.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["sign_flip_test"]

#: Largest number of paired targets whose 2^n sign vectors are enumerated exactly.
EXACT_LIMIT = 16


def sign_flip_test(
    differences: npt.ArrayLike,
    *,
    exact_limit: int = EXACT_LIMIT,
    resamples: int = 20000,
    seed: int = 0,
) -> float:
    """Two-sided p-value that the mean paired difference is zero.

    Args:
        differences: Per-target differences ``a_i − b_i`` (NaN pairs are dropped).
        exact_limit: Enumerate all sign vectors when there are at most this many targets.
        resamples: Random sign vectors otherwise; the p-value is then ``(1 + hits) /
            (1 + resamples)``, which never understates it.
        seed: Seeds the random sign vectors.

    Returns:
        The share of sign vectors whose ``|mean|`` is at least the observed one (1 when every
        difference is zero; NaN when no pair remains).
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = len(d)
    if n == 0:
        return float("nan")
    observed = abs(float(d.mean()))
    # Differences of sums of the same numbers can disagree in the last bits.
    slack = 1e-12 * max(1.0, float(np.abs(d).max()))
    if n <= exact_limit:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        signs = 1 - 2 * bits
        null = np.abs(signs @ d) / n
        return float(np.mean(null >= observed - slack))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, n))
    hits = int(np.sum(np.abs(signs @ d) / n >= observed - slack))
    return (1 + hits) / (1 + resamples)
