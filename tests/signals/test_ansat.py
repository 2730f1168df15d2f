from __future__ import annotations

import numpy as np
import pytest

from transferscout.signals.ansat import THRESHOLDS, ansat, ansat_feature_names, ansat_features

# Hand-made word scores of three documents under two models.
A = {"d1": np.array([0.70, 0.10, 0.30]), "d2": np.array([0.05, 0.50]), "d3": np.array([0.9])}
B = {"d1": np.array([0.20, 0.10, 0.40]), "d2": np.array([0.05, 0.04]), "d3": np.array([-0.9])}


def test_counts_words_where_both_scores_reach_the_threshold() -> None:
    # TAT 0.05: d1 has 3 shared words (0.7/0.2, 0.1/0.1, 0.3/0.4), d2 has 1 (0.05/0.05: >=).
    assert ansat(A, B, ["d1"], [0.05]).tolist() == [3.0]
    assert ansat(A, B, ["d2"], [0.05]).tolist() == [1.0]
    assert ansat(A, B, ["d3"], [0.05]).tolist() == [0.0]
    # Averaged over documents: (3 + 1 + 0) / 3.
    assert ansat(A, B, ["d1", "d2", "d3"], [0.05]).tolist() == pytest.approx([4 / 3])
    # Higher thresholds: at 0.2 only d1's first and third words; at 0.4 only the third.
    assert ansat(A, B, ["d1"], [0.2, 0.3, 0.4, 0.5]).tolist() == [2.0, 1.0, 0.0, 0.0]


def test_empty_document_set_gives_zero() -> None:
    assert ansat(A, B, [], THRESHOLDS).tolist() == [0.0] * 14


def test_thresholds_are_exact_decimals() -> None:
    assert THRESHOLDS[0] == 0.05 and THRESHOLDS[-1] == 0.70 and len(THRESHOLDS) == 14
    assert 0.15 in THRESHOLDS  # not 0.15000000000000002
    # A score of exactly 0.15 counts at TAT 0.15.
    assert ansat({"d": np.array([0.15])}, {"d": np.array([0.15])}, ["d"], [0.15]).tolist() == [1.0]


def test_features_of_a_pair() -> None:
    features = ansat_features(A, B, {"a": ["d1", "d2"], "b": ["d3"], "ab": []})
    assert list(features) == ansat_feature_names()
    assert len(features) == 42 + 4
    assert features["ansat_a_0.05"] == pytest.approx(2.0)
    assert features["ansat_b_0.05"] == 0.0
    assert features["ansat_ab_0.05"] == 0.0
    assert (features["n_docs_a"], features["n_docs_b"], features["n_docs_ab"]) == (2, 1, 0)
    assert features["ab_empty"] == 1.0


def test_models_must_share_words() -> None:
    with pytest.raises(ValueError, match="share a tokenizer"):
        ansat({"d": np.zeros(2)}, {"d": np.zeros(3)}, ["d"])
