from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from transferscout.evaluation.ordering import (
    expected_at_positions,
    expected_best_of_top,
    expected_until_first,
    lexicographic_score,
    ranking_order,
    tie_blocks,
)


def _all_orders(score: np.ndarray, cost: np.ndarray) -> list[list[int]]:
    """Reference: every order by decreasing score, then increasing cost, ties permuted."""
    keys = sorted({(-s, c) for s, c in zip(score, cost, strict=True)})
    blocks = [[i for i in range(len(score)) if (-score[i], cost[i]) == key] for key in keys]
    return [
        [i for block in chosen for i in block]
        for chosen in itertools.product(*(itertools.permutations(b) for b in blocks))
    ]


def test_order_is_by_value_then_cost_then_a_seeded_key() -> None:
    score = [0.5, 0.9, 0.5, 0.5, 0.5]
    cost = [3.0, 1.0, 1.0, 1.0, 1.0]
    orders = {tuple(ranking_order(score, cost, seed=s).tolist()) for s in range(30)}
    # 1 first (highest), 0 last (dearest); 2, 3, 4 tie and come in every order across seeds.
    assert all(o[0] == 1 and o[-1] == 0 for o in orders)
    assert {o[1:4] for o in orders} == set(itertools.permutations((2, 3, 4)))
    assert (
        ranking_order(score, cost, seed=7).tolist() == ranking_order(score, cost, seed=7).tolist()
    )


def test_missing_scores_rank_last() -> None:
    assert ranking_order([np.nan, 0.2, 0.1]).tolist() == [1, 2, 0]


def test_tie_blocks_by_hand() -> None:
    order, block = tie_blocks([0.5, 0.9, 0.5, 0.5], [3.0, 1.0, 1.0, 1.0])
    assert order.tolist() == [1, 2, 3, 0]
    assert block.tolist() == [0, 1, 1, 2]


def test_expectations_equal_the_mean_over_every_tie_order() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 7
        values = rng.choice([0.0, 0.2, 0.5, 0.5, 0.9], size=n)
        hours = rng.random(n)
        score = rng.choice([0.0, 1.0, 2.0], size=n)
        cost = rng.choice([1.0, 2.0], size=n)
        orders = _all_orders(score, cost)
        at = expected_at_positions(values, score, cost)
        assert at == pytest.approx(np.mean([values[o] for o in orders], axis=0), rel=1e-12)
        ks = list(range(1, n + 2))
        best = expected_best_of_top(values, score, ks, cost)
        reference = [np.mean([values[o][: min(k, n)].max() for o in orders]) for k in ks]
        assert best == pytest.approx(reference, rel=1e-12)
        hit = values >= 0.5
        if hit.any():
            spent = [
                hours[o][: 1 + min(o.index(i) for i in np.flatnonzero(hit))].sum() for o in orders
            ]
            assert expected_until_first(hit, hours, score, cost) == pytest.approx(np.mean(spent))


def test_best_of_a_random_subset_by_hand() -> None:
    values = np.array([0.1, 0.4, 0.2, 0.9])
    # One block: best of 2 of 4 is 0.9 in 3 of 6 pairs, 0.4 in 2, 0.2 in 1.
    best = expected_best_of_top(values, np.zeros(4), [2])
    assert best[0] == pytest.approx((3 * 0.9 + 2 * 0.4 + 0.2) / comb(4, 2))


def test_until_first_without_a_hit_is_missing() -> None:
    assert np.isnan(expected_until_first([False, False], [1.0, 1.0], [0.0, 0.0]))


def test_lexicographic_score_orders_by_primary_then_secondary() -> None:
    primary = np.array([0.7, 0.7, 0.7, 0.2, 0.2])
    secondary = np.array([1.0, 5.0, 1.0, 9.0, np.nan])
    score = lexicographic_score(primary, secondary)
    assert np.argsort(-score, kind="stable").tolist() == [1, 0, 2, 3, 4]
    assert score[0] == score[2]  # ties in both stay ties
    # Scale-free: only the orders of the two keys matter.
    assert (lexicographic_score(primary * 1e6, secondary - 3) == score).all()


def test_best_of_names_the_highest_score_then_the_smallest_key() -> None:
    from transferscout.evaluation.ordering import best_of

    assert best_of([0.0, 0.0, 0.0], [("b", 1), ("a", 2), ("a", 1)]) == 2
    assert best_of([0.1, float("nan"), 0.3], [("c",), ("a",), ("b",)]) == 2
    # numbers compare as numbers wherever they were read (2 and 2.0; 10 after 2)
    assert best_of([0.5, 0.5], [("a", 10), ("a", 2.0)]) == 1
    with pytest.raises(ValueError, match="one key per score"):
        best_of([0.5], [])
