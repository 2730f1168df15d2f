from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transferscout.errors import ConfigError
from transferscout.meta.features import (
    HYPERPARAMETERS,
    candidate_table,
    feature_columns,
    pivot_signals,
    predicted_cost,
)


def test_pivot_names_columns_by_family() -> None:
    rows = [
        {"family": "ansat", "source": "a", "target": "b", "name": "ansat_a_0.05", "value": 1.0},
        {"family": "estimators", "source": "a", "target": "b", "name": "logme", "value": -0.5},
        {"family": "baselines", "source": "a", "target": "b", "name": "source_f1", "value": 0.7},
    ]
    table = pivot_signals(rows)
    assert table.to_dict("records") == [
        {
            "source": "a",
            "target": "b",
            "ansat_a_0.05": 1.0,
            "estimators_logme": -0.5,
            "source_f1": 0.7,
        }
    ]


def test_candidate_table_of_a_small_run(small_run: Path) -> None:
    table = candidate_table(small_run)
    # 3 targets x 2 sources x 2 target settings (x 1 source setting), one seed each.
    assert len(table) == 12
    assert set(table["seeds"]) == {1}
    assert (table["source"] != table["target"]).all()
    assert table["real_f1"].between(0, 1).all() and (table["hours"] > 0).all()
    assert set(table["target_learning_rate"]) == {1e-3, 3e-3}
    for column in (
        "ansat_ab_0.10",
        "taskemb_rrf",
        "textemb_cosine",
        "estimators_logme",
        "source_f1",
    ):
        assert table[column].notna().all(), column
    # The planned cost comes from the configuration and the data sizes, never from the clock.
    sizes = dict(zip(table["source"], table["source_size"], strict=True))
    assert table["planned_cost"].tolist() == pytest.approx(predicted_cost(table, sizes).tolist())
    assert (table["planned_cost"] > 0).all()


def test_predicted_cost_by_hand() -> None:
    candidates = pd.DataFrame(
        {
            "source": ["a", "b", "c"],
            "target": ["b", "a", "a"],
            "source_epochs": [2, 1, 1],
            "target_epochs": [3, 3, 3],
            "source_max_length": [64, 64, 64],
            "target_max_length": [128, 128, 128],
        }
    )
    cost = predicted_cost(candidates, {"a": 100.0, "b": 50.0})
    assert cost[0] == 2 * 100 * 64 + 3 * 50 * 128
    assert cost[1] == 1 * 50 * 64 + 3 * 100 * 128
    assert pd.isna(cost[2])  # c's size unknown


def test_feature_sets(small_run: Path) -> None:
    table = candidate_table(small_run)
    f1 = feature_columns(table, "f1")
    assert f1 == [*HYPERPARAMETERS, "source_f1", "target_f1"]
    ansat = feature_columns(table, "f1+ansat")
    assert len(ansat) == len(f1) + 42 + 4
    everything = feature_columns(table, "all")
    assert set(ansat) < set(feature_columns(table, "f1+ansat+taskemb")) < set(everything)
    assert "random" not in everything
    assert feature_columns(table, "f1+estimators")[-1].startswith("estimators_")
    with pytest.raises(ConfigError, match="unknown feature group 'ansatt'"):
        feature_columns(table, "f1+ansatt")


def test_feature_set_needing_missing_signals_says_so() -> None:
    table = pd.DataFrame({"source": ["a"], "target": ["b"], **{c: [1.0] for c in HYPERPARAMETERS}})
    with pytest.raises(ConfigError, match="needs the 'f1' signals"):
        feature_columns(table, "f1")
