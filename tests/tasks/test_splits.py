from __future__ import annotations

import numpy as np
import pytest

from transferscout.tasks.splits import stratified_split


def _labels(seed: int = 0, n: int = 600) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = np.array([0.5, 0.2, 0.05, 0.01])
    return (rng.random((n, len(rates))) < rates).astype(np.int8)


def test_same_seed_same_split_and_different_seed_different_split() -> None:
    labels = _labels()
    first = stratified_split(labels, (0.8, 0.1, 0.1), seed=3)
    assert np.array_equal(first, stratified_split(labels, (0.8, 0.1, 0.1), seed=3))
    assert not np.array_equal(first, stratified_split(labels, (0.8, 0.1, 0.1), seed=4))


def test_split_sizes_follow_the_fractions() -> None:
    labels = _labels()
    sizes = np.bincount(stratified_split(labels, (0.8, 0.1, 0.1), seed=0), minlength=3)
    assert sizes.sum() == 600
    assert np.all(np.abs(sizes - np.array([480, 60, 60])) <= 1)


def test_every_label_is_spread_like_the_documents() -> None:
    labels = _labels()
    split = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    for column in labels.T:
        total = column.sum()
        per_split = np.array([column[split == s].sum() for s in range(3)])
        # Iterative stratification hands out each label's positives to the split that most
        # lacks them, so every split is within one document of its ideal share.
        assert np.all(np.abs(per_split - total * np.array([0.8, 0.1, 0.1])) <= 1.0), per_split


def test_rare_label_reaches_every_split() -> None:
    labels = np.zeros((30, 2), dtype=np.int8)
    labels[:3, 0] = 1  # three positives of a rare label
    labels[:15, 1] = 1
    split = stratified_split(labels, (0.6, 0.2, 0.2), seed=1)
    assert sorted(split[:3].tolist()) == [0, 1, 2]


def test_hand_checkable_case() -> None:
    # One label with four positives out of eight, two equal splits: two positives each.
    labels = np.array([[1], [1], [1], [1], [0], [0], [0], [0]])
    split = stratified_split(labels, (0.5, 0.5), seed=0)
    assert np.bincount(split[:4], minlength=2).tolist() == [2, 2]
    assert np.bincount(split[4:], minlength=2).tolist() == [2, 2]


@pytest.mark.parametrize("fractions", [(0.5, 0.6), (0.0, 1.0), (-0.1, 1.1), ()])
def test_bad_fractions(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(np.zeros((4, 1)), fractions, seed=0)
