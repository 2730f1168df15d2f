from __future__ import annotations

import itertools

import numpy as np
import pytest

from transferscout.evaluation.stats import sign_flip_test


def _reference(d: list[float]) -> float:
    """Loop over every sign vector."""
    observed = abs(np.mean(d))
    hits = 0
    total = 0
    for signs in itertools.product((-1, 1), repeat=len(d)):
        total += 1
        hits += abs(np.mean([s * x for s, x in zip(signs, d, strict=True)])) >= observed - 1e-12
    return hits / total


def test_three_positive_differences_by_hand() -> None:
    # Only all-plus and all-minus reach |mean| = 2: p = 2 / 8.
    assert sign_flip_test([1.0, 2.0, 3.0]) == pytest.approx(0.25)


def test_exact_test_equals_the_loop_reference() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 9):
        d = rng.normal(0.3, 1.0, size=n).round(2).tolist()
        assert sign_flip_test(d) == pytest.approx(_reference(d))


def test_edge_cases() -> None:
    assert sign_flip_test([0.0, 0.0, 0.0]) == 1.0
    assert np.isnan(sign_flip_test([np.nan]))
    assert sign_flip_test([1.0, np.nan, 2.0, 3.0]) == pytest.approx(0.25)  # NaN pair dropped


def test_sampled_test_is_close_to_the_exact_one() -> None:
    d = np.random.default_rng(1).normal(0.4, 1.0, size=12)
    exact = sign_flip_test(d)
    sampled = sign_flip_test(d, exact_limit=0, resamples=20000, seed=3)
    assert sampled == pytest.approx(exact, abs=0.01)
    assert sampled >= 1 / 20001
