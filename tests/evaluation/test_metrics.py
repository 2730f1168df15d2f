from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from transferscout.evaluation.metrics import (
    bootstrap_interval,
    expected_best_of_random,
    kendall_tau,
    ndcg_at_k,
    rank_of_best,
    regret_at_k,
    rmse_at_k,
    spearman_rho,
)

REAL = np.array([0.30, 0.80, 0.55, 0.10, 0.62])


def _tie_orders(predicted: np.ndarray, cost: np.ndarray | None = None) -> list[list[int]]:
    """Every order the rule allows: by prediction, then cost, ties in any order (reference)."""
    costs = np.zeros_like(predicted) if cost is None else cost
    keys = sorted({(-p, c) for p, c in zip(predicted, costs, strict=True)})
    blocks = [
        [i for i in range(len(predicted)) if (-predicted[i], costs[i]) == key] for key in keys
    ]
    return [
        [i for block in chosen for i in block]
        for chosen in itertools.product(*(itertools.permutations(b) for b in blocks))
    ]


def test_tied_predictions_count_in_expectation_over_their_orders() -> None:
    real = np.array([0.9, 0.9, 0.1])
    tied = np.zeros(3)
    # Two of three equally likely first candidates are best: reached at (3 + 1) / (2 + 1).
    assert rank_of_best(real, tied) == pytest.approx(4 / 3)
    # Regret@1: E[found] = (0.9 + 0.9 + 0.1) / 3.
    assert regret_at_k(real, tied, 1) == pytest.approx((0.9 - 1.9 / 3) / 0.9 * 100)
    # A cheaper candidate goes first among equal predictions.
    assert regret_at_k(real, tied, 1, cost=[2.0, 2.0, 1.0]) == pytest.approx(
        (0.9 - 0.1) / 0.9 * 100
    )
    assert rank_of_best(real, tied, cost=[2.0, 2.0, 1.0]) == pytest.approx(2.0)
    # The earlier of two tied bests in the ranking is the one reached.
    assert rank_of_best(real, [0.5, 0.2, 0.9]) == 2


def fixed(order: list[int] | tuple[int, ...]) -> np.ndarray:
    """A strictly decreasing score in a given order: no ties, the reference ranking."""
    score = np.empty(len(order))
    score[list(order)] = np.arange(len(order), 0, -1)
    return score


def test_metrics_equal_the_mean_over_every_tie_order() -> None:
    rng = np.random.default_rng(3)
    for _ in range(15):
        n = 6
        real = rng.choice([0.1, 0.4, 0.4, 0.7], size=n)
        predicted = rng.choice([0.0, 0.5, 1.0], size=n)
        cost = rng.choice([1.0, 2.0], size=n)
        orders = _tie_orders(predicted, cost)
        for k in (1, 2, 4):
            assert ndcg_at_k(real, predicted, k, cost=cost) == pytest.approx(
                np.mean([ndcg_at_k(real, fixed(o), k) for o in orders]), rel=1e-12
            )
            assert regret_at_k(real, predicted, k, cost=cost) == pytest.approx(
                np.mean([regret_at_k(real, fixed(o), k) for o in orders]), rel=1e-12
            )
        reference = np.mean(
            [1 + min(o.index(i) for i in np.flatnonzero(real == real.max())) for o in orders]
        )
        assert rank_of_best(real, predicted, cost=cost) == pytest.approx(reference, rel=1e-12)


def test_a_constant_prediction_is_the_exact_random_baseline() -> None:
    orders = list(itertools.permutations(range(5)))
    constant = np.zeros(5)
    assert ndcg_at_k(REAL, constant, 3) == pytest.approx(
        np.mean([ndcg_at_k(REAL, fixed(o), 3) for o in orders])
    )
    assert regret_at_k(REAL, constant, 2) == pytest.approx(
        np.mean([regret_at_k(REAL, fixed(o), 2) for o in orders])
    )
    assert rank_of_best(REAL, constant) == pytest.approx(3.0)  # (5 + 1) / 2


def test_perfect_predictor_has_ndcg_one_regret_zero_rank_one() -> None:
    for k in (1, 3, 5):
        assert ndcg_at_k(REAL, REAL, k) == pytest.approx(1.0)
        assert regret_at_k(REAL, REAL, k) == 0.0
    assert rank_of_best(REAL, REAL) == 1
    assert spearman_rho(REAL, REAL) == pytest.approx(1.0)
    assert kendall_tau(REAL, REAL) == pytest.approx(1.0)


def test_reversed_predictor_is_worst() -> None:
    reverse = -REAL
    assert rank_of_best(REAL, reverse) == 5
    assert regret_at_k(REAL, reverse, 1) == pytest.approx((0.80 - 0.10) / 0.80 * 100)
    assert spearman_rho(REAL, reverse) == pytest.approx(-1.0)
    worst = min(ndcg_at_k(REAL, list(p), 3) for p in itertools.permutations(range(5)))
    assert ndcg_at_k(REAL, reverse, 3) == pytest.approx(worst)


def test_linear_ndcg_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        real = rng.random(7)
        predicted = rng.random(7)  # continuous: no ties
        for k in (1, 3, 7):
            expected = ndcg_score([real], [predicted], k=k)
            assert ndcg_at_k(real, predicted, k, gain="linear") == pytest.approx(
                expected, rel=1e-12
            )


def test_ndcg_by_hand_with_exponential_gain() -> None:
    real = np.array([1.0, 0.0, 0.5])
    predicted = np.array([0.1, 0.9, 0.5])  # order: 1, 2, 0
    dcg = (2**0 - 1) / np.log2(2) + (2**0.5 - 1) / np.log2(3) + (2**1 - 1) / np.log2(4)
    ideal = 1 / np.log2(2) + (2**0.5 - 1) / np.log2(3)
    assert ndcg_at_k(real, predicted, 3) == pytest.approx(dcg / (ideal + 0))


def test_ndcg_is_invariant_to_adding_a_constant_to_predictions() -> None:
    predicted = np.array([0.2, 0.4, 0.3, 0.9, 0.1])
    assert ndcg_at_k(REAL, predicted + 7.0, 3) == ndcg_at_k(REAL, predicted, 3)


def test_rmse_at_k_uses_the_pooled_top_k_by_prediction() -> None:
    predicted = np.array([0.9, 0.1, 0.5, 0.7])
    real = np.array([0.8, 0.0, 0.1, 0.7])
    # top 1: (0.9-0.8); top 2: + (0.7-0.7); top 3: + (0.5-0.1)
    values = rmse_at_k(predicted, real, [1, 2, 3, 10])
    assert values[0] == pytest.approx(0.1)
    assert values[1] == pytest.approx(np.sqrt(0.01 / 2))
    assert values[2] == pytest.approx(np.sqrt((0.01 + 0.16) / 3))
    assert values[3] == pytest.approx(np.sqrt((0.01 + 0.16 + 0.01) / 4))
    # Tied predictions: the top 1 is either candidate, so its squared error is their mean.
    tied = rmse_at_k([0.5, 0.5], [0.4, 0.8], [1])
    assert tied[0] == pytest.approx(np.sqrt((0.01 + 0.09) / 2))


def test_expected_best_of_random_is_exact() -> None:
    values = [0.1, 0.4, 0.2, 0.9]
    for k in range(1, 5):
        subsets = list(itertools.combinations(values, k))
        assert expected_best_of_random(values, k) == pytest.approx(
            np.mean([max(s) for s in subsets])
        )
    assert expected_best_of_random(values, 10) == 0.9


def test_random_order_matches_its_expectation_within_sampling_error() -> None:
    rng = np.random.default_rng(1)
    values = rng.random(12)
    draws = [values[rng.permutation(12)[:3]].max() for _ in range(20000)]
    assert np.mean(draws) == pytest.approx(expected_best_of_random(values, 3), abs=0.005)


def test_bootstrap_interval_contains_the_mean_and_narrows_with_data() -> None:
    rng = np.random.default_rng(2)
    small = rng.normal(size=10)
    large = rng.normal(size=1000)
    estimate, low, high = bootstrap_interval(small, resamples=500)
    assert low <= estimate <= high
    _, low_large, high_large = bootstrap_interval(large, resamples=500)
    assert high_large - low_large < high - low
    assert bootstrap_interval([1.0])[1:] != bootstrap_interval([1.0, 2.0])[1:]
    assert np.isnan(bootstrap_interval([np.nan, np.nan])[0])


def test_constant_rankings_have_no_correlation() -> None:
    assert np.isnan(spearman_rho([0.1, 0.1], [0.3, 0.2]))


def test_ndcg_and_regret_of_a_regression_target_use_rho_as_a_relevance() -> None:
    from transferscout.kinds import get_kind

    rho = np.array([-0.2, 0.4, 0.1])  # Spearman's rho of three candidates
    relevance = get_kind("regression").relevance(rho)
    np.testing.assert_allclose(relevance, [0.4, 0.7, 0.55])
    predicted = np.array([0.9, 0.1, 0.5])  # ranks the worst candidate first: order 0, 2, 1
    # Linear gain by hand: DCG@2 = 0.4 / log2(2) + 0.55 / log2(3); ideal = 0.7 + 0.55 / log2(3).
    dcg = 0.4 + 0.55 / np.log2(3)
    ideal = 0.7 + 0.55 / np.log2(3)
    assert ndcg_at_k(relevance, predicted, 2, gain="linear") == pytest.approx(dcg / ideal)
    exponential = (2**0.4 - 1) + (2**0.55 - 1) / np.log2(3)
    best = (2**0.7 - 1) + (2**0.55 - 1) / np.log2(3)
    assert ndcg_at_k(relevance, predicted, 2) == pytest.approx(exponential / best)
    # Regret@1: the first pick has rho -0.2 against the best 0.4: (0.7 - 0.4) / 0.7.
    assert regret_at_k(relevance, predicted, 1) == pytest.approx(0.3 / 0.7 * 100)
    # Every correlation negative is still a ranking with a best candidate.
    negative = get_kind("regression").relevance(np.array([-0.5, -0.1]))
    assert regret_at_k(negative, [1.0, 0.0], 1) == pytest.approx((0.45 - 0.25) / 0.45 * 100)
    assert ndcg_at_k(negative, [0.0, 1.0], 1) == 1.0


def test_a_relevance_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"relevance -0.2 is outside \[0, 1\]"):
        ndcg_at_k([-0.2, 0.4], [0.0, 1.0], 1)
    with pytest.raises(ValueError, match="outside"):
        regret_at_k([0.2, 1.5], [0.0, 1.0], 1)
