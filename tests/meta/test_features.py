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


def _stage(lr: float) -> dict[str, object]:
    return {"settings": {"learning_rate": lr, "epochs": 2, "batch_size": 16, "max_length": 64}}


def _store_with_seeded_transfers(run_dir: Path) -> None:
    """food -> water: seeds 0, 1, 2 (seed 0 fast, the others slow); water -> food: seed 1."""
    from transferscout.grid.store import RunStore

    trials = [
        # (id, source, target, seed, test F1, source seconds, target seconds)
        ("fw0", "food", "water", 0, 0.50, 360.0, 720.0),
        ("fw1", "food", "water", 1, 0.60, 1800.0, 2160.0),
        ("fw2", "food", "water", 2, 0.70, 1440.0, 1800.0),
        ("wf1", "water", "food", 1, 0.40, 3600.0, 3600.0),
    ]
    with RunStore(run_dir) as store:
        for trial_id, source, target, seed, f1, source_s, target_s in reversed(trials):
            config = {"source": _stage(1e-4), "target": _stage(2e-4)}
            store.add_trials([(trial_id, "transfer", target, source, None, seed, config)])
            store.start(trial_id, worker="w")
            store.finish(
                trial_id,
                metrics={"test_f1": f1, "test_accuracy": 0.8},
                source_seconds=source_s,
                target_seconds=target_s,
                examples_per_second=1.0,
                device="cpu",
            )


def test_a_candidate_is_worth_its_seed_mean_and_costs_one_training(tmp_path: Path) -> None:
    _store_with_seeded_transfers(tmp_path)
    table = candidate_table(tmp_path).set_index(["source", "target"])
    three = table.loc[("food", "water")]
    assert three["seeds"] == 3
    assert three["real_f1"] == pytest.approx(0.60)  # mean of 0.5, 0.6, 0.7
    assert three["real_f1_sd"] == pytest.approx(0.10)  # their sample SD
    # One training: the lowest seed's 360 + 720 s = 0.3 h (not the sum 2.275 h over seeds,
    # nor the mean 0.758 h that slower, later seeds pull up).
    assert three["hours"] == pytest.approx(0.3)
    one = table.loc[("water", "food")]
    assert one["seeds"] == 1 and one["hours"] == pytest.approx(2.0)  # its only seed (1)
    assert pd.isna(one["real_f1_sd"])
