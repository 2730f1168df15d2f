"""The signal-cost benchmark's agreement arithmetic (hand-checkable tables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.benchmarks import load_benchmark

signal_cost = load_benchmark("signal_cost")


def _table(values: dict[str, list[float]]) -> pd.DataFrame:
    """Ordered pairs of three tasks a, b, c (self-pairs included), one column per signal."""
    pairs = [(s, t) for s in "abc" for t in "abc"]
    frame = pd.DataFrame(pairs, columns=["source", "target"])
    for column, column_values in values.items():
        frame[column] = column_values
    return frame


def test_family_of_names_only_setting_dependent_signals() -> None:
    assert signal_cost.family_of("ansat_ab_0.10") == "ansat"
    assert signal_cost.family_of("estimators_logme") == "estimators"
    assert signal_cost.family_of("taskemb_rrf") == "taskemb"
    assert signal_cost.family_of("textemb_cosine") == "textemb"
    assert signal_cost.family_of("source_size") is None
    assert signal_cost.family_of("n_docs_a") is None


def test_spearman_is_undefined_for_constant_or_missing_values() -> None:
    assert signal_cost.spearman([1, 2, 3], [10, 30, 20]) == pytest.approx(0.5)
    assert math.isnan(signal_cost.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(signal_cost.spearman([1, np.nan, 3], [1, 2, 3]))
    assert math.isnan(signal_cost.spearman([1], [1]))


def test_signal_agreement_over_pairs_and_per_target() -> None:
    # Self-pairs (a,a), (b,b), (c,c) carry values that would spoil the agreement: left out.
    new = _table(
        {
            "ansat_a_0.05": [99, 1, 2, 3, 99, 4, 5, 6, 99],
            "estimators_logme": [0, 1, 2, 3, 0, 4, 5, 6, 0],
            "source_size": [1] * 9,
        }
    )
    old = _table(
        {
            # The same order of the six real pairs: ρ = 1 everywhere.
            "ansat_a_0.05": [-5, 10, 20, 30, -5, 40, 50, 60, -5],
            # Reversed: over pairs ρ = -1; each target's two sources reversed too.
            "estimators_logme": [0, 6, 5, 4, 0, 3, 2, 1, 0],
            "source_size": [2] * 9,
        }
    )
    frame = signal_cost.signal_agreement(new, old)
    agreement = frame.set_index("signal")
    assert list(agreement.index) == ["ansat_a_0.05", "estimators_logme"]  # no baselines
    assert agreement.loc["ansat_a_0.05", "over_pairs"] == pytest.approx(1.0)
    assert agreement.loc["ansat_a_0.05", "per_target"] == pytest.approx(1.0)
    assert agreement.loc["estimators_logme", "over_pairs"] == pytest.approx(-1.0)
    assert agreement.loc["estimators_logme", "per_target"] == pytest.approx(-1.0)
    assert agreement.loc["estimators_logme", "targets"] == 3
    summary = signal_cost.family_summary(frame).set_index("family")
    assert summary.loc["ansat", "signals"] == 1
    assert summary.loc["estimators", "over_pairs_min"] == pytest.approx(-1.0)


def test_signal_agreement_leaves_out_undefined_targets() -> None:
    # Target a's sources (b, c) tie under the new settings: its ranking is undefined.
    new = _table({"taskemb_rrf": [0, 1, 2, 7, 0, 4, 7, 6, 0]})
    old = _table({"taskemb_rrf": [0, 1, 2, 3, 0, 4, 5, 6, 0]})
    row = signal_cost.signal_agreement(new, old).iloc[0]
    assert row["targets"] == 2  # targets b (sources a, c) and c (sources a, b)
    # b: new (1, 6) vs old (1, 6) -> 1; c: new (2, 4) vs old (2, 4) -> 1.
    assert row["per_target"] == pytest.approx(1.0)


def test_ranking_agreement_pooled_per_target_and_first_pick() -> None:
    table = pd.DataFrame({"target": ["x", "x", "x", "y", "y", "y"]})
    new = [0.1, 0.2, 0.3, 0.9, 0.8, 0.7]
    old = [0.1, 0.3, 0.2, 0.7, 0.8, 0.9]
    result = signal_cost.ranking_agreement(table, new, old)
    assert result["per_target"] == pytest.approx((0.5 + -1.0) / 2)
    assert result["first_pick"] == pytest.approx(0.0)  # x: 3rd vs 2nd; y: 1st vs 3rd
    # Pooled: ranks new (1,2,3,6,5,4), old (1,3,2,4,5,6); Σd² = 0+1+1+4+0+4 = 10.
    assert result["pooled"] == pytest.approx(1 - 6 * 10 / (6 * 35))
