"""The feature-set choice benchmark's rule and summary (hand-checkable tables)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest

from tests.benchmarks import load_benchmark
from transferscout.meta.features import HYPERPARAMETERS, META_TARGET, feature_columns
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out

choice = load_benchmark("feature_set_choice")
mean_ndcg = choice.mean_ndcg
best_feature_set = choice.best_feature_set
choose_feature_set = choice.choose_feature_set


def _ndcg_by_hand(real: list[float], predicted: list[float], k: int) -> float:
    order = np.argsort(predicted)[::-1]
    gains = [2.0 ** real[i] - 1 for i in order[:k]]
    ideal = sorted((2.0**r - 1 for r in real), reverse=True)[:k]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def test_mean_ndcg_averages_each_targets_ndcg() -> None:
    table = pd.DataFrame(
        {
            "target": ["a", "a", "a", "b", "b"],
            "target_kind": ["binary"] * 5,
            "real_f1": [0.2, 0.8, 0.5, 0.3, 0.6],
        }
    )
    predicted = [3.0, 2.0, 1.0, 0.0, 1.0]  # a: worst first; b: best first
    expected = (_ndcg_by_hand([0.2, 0.8, 0.5], [3, 2, 1], 2) + 1.0) / 2
    assert mean_ndcg(table, predicted, 2) == expected
    assert 0.5 < expected < 1.0


def test_the_best_set_wins_and_equals_go_to_the_first_listed() -> None:
    assert best_feature_set({"f1": 0.9, "all": 0.95}) == "all"
    assert best_feature_set({"f1": 0.9, "all": 0.9}) == "f1"
    assert best_feature_set({"f1": math.nan, "all": 0.1}) == "all"
    assert best_feature_set({"f1": math.nan}) == "f1"


def _pool(informative: str, seed: int = 0) -> pd.DataFrame:
    """6 targets × 8 sources; the gain follows ``informative`` (a column), the rest is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for target in "abcdef":
        own = 0.3 + 0.2 * rng.random()
        for source in range(8):
            row = {name: 1.0 for name in HYPERPARAMETERS}
            row.update(
                target=target,
                source=str(source),
                target_kind="binary",
                source_f1=rng.random(),
                target_f1=own,
                textemb_cosine=rng.random(),
            )
            gain = 0.3 * row[informative]
            row.update(real_gain=gain, validation_gain=gain, real_f1=own + gain)
            rows.append(row)
    return pd.DataFrame(rows)


def test_the_set_holding_what_drives_the_gain_is_chosen() -> None:
    makers = [functools.partial(TransferRegressor, n_estimators=40, random_state=s) for s in (0, 1)]
    by_text = choose_feature_set(_pool("textemb_cosine"), ["f1", "f1+textemb"], makers, k=3)
    assert by_text.feature_set == "f1+textemb"
    assert by_text.ndcg["f1+textemb"] > by_text.ndcg["f1"] + 0.05
    table = _pool("source_f1")
    by_f1 = choose_feature_set(table, ["f1", "f1+textemb"], makers, k=3)
    assert by_f1.feature_set == "f1"  # the noise column adds nothing: the simpler set
    assert by_f1.columns == feature_columns(table, "f1")
    loto = [
        leave_one_target_out(table, by_f1.columns, make_regressor=m, target_column=META_TARGET)
        for m in makers
    ]
    np.testing.assert_array_equal(by_f1.predictions, np.mean(loto, axis=0))
    assert by_f1.ndcg["f1"] == mean_ndcg(table, by_f1.predictions, 3)


def test_the_summary_pairs_the_rule_with_each_set_by_target() -> None:
    """Two targets: the rule took f1 on a and all on b."""
    scores = pd.DataFrame(
        [
            {"target": "a", "method": "f1", "ndcg@3": 0.9, "regret@1": 0.0},
            {"target": "a", "method": "all", "ndcg@3": 0.7, "regret@1": 10.0},
            {"target": "a", "method": choice.CHOSEN, "ndcg@3": 0.9, "regret@1": 0.0},
            {"target": "a", "method": "choice", "chosen": "f1"},
            {"target": "b", "method": "f1", "ndcg@3": 0.6, "regret@1": 20.0},
            {"target": "b", "method": "all", "ndcg@3": 0.8, "regret@1": 5.0},
            {"target": "b", "method": choice.CHOSEN, "ndcg@3": 0.8, "regret@1": 5.0},
            {"target": "b", "method": "choice", "chosen": "all"},
        ]
    )
    table = choice.summary(scores, ["f1", "all"]).set_index("method")
    assert table.loc["f1", "ndcg@3"] == pytest.approx(0.75)
    assert table.loc[choice.CHOSEN, "ndcg@3"] == pytest.approx(0.85)
    assert table.loc["f1", "ndcg@3 rule − set"] == pytest.approx(0.1)  # (0 + 0.2) / 2
    assert table.loc["all", "regret@1 rule − set"] == pytest.approx(-5.0)  # (-10 + 0) / 2
    assert table.loc["f1", "ndcg@3 p"] == pytest.approx(1.0)  # 2 targets: 4 sign vectors
    assert table.loc["f1", "chosen for"] == 1 and table.loc["all", "chosen for"] == 1
