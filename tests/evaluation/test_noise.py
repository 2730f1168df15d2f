from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from transferscout.evaluation.noise import gains_beyond_noise, seed_noise
from transferscout.grid.store import RunStore

SETTINGS = {"learning_rate": 1e-4, "epochs": 2, "batch_size": 16}


def _store_with_singles(run_dir: Path, f1s: dict[tuple[str, float, int], float]) -> None:
    with RunStore(run_dir) as store:
        for (task, lr, seed), f1 in f1s.items():
            trial_id = f"{task}-{lr}-{seed}"
            config = {"target": {"settings": {**SETTINGS, "learning_rate": lr}}}
            store.add_trials([(trial_id, "single", task, None, None, seed, config)])
            store.start(trial_id, worker="w")
            store.finish(
                trial_id,
                metrics={"test_f1": f1, "test_accuracy": 0.9},
                source_seconds=None,
                target_seconds=1.0,
                examples_per_second=1.0,
                device="cpu",
            )
        store.add_trials([("pending", "single", "food", None, None, 9, {})])  # not counted


def test_seed_noise_by_hand(tmp_path: Path) -> None:
    _store_with_singles(
        tmp_path,
        {
            ("food", 1e-4, 0): 0.60,
            ("food", 1e-4, 1): 0.70,
            ("food", 1e-4, 2): 0.80,
            ("food", 2e-4, 0): 0.50,
            ("water", 1e-4, 0): 0.40,
            ("water", 1e-4, 1): 0.40,
        },
    )
    noise = seed_noise(tmp_path).set_index(["task", "target_learning_rate"])
    food = noise.loc[("food", 1e-4)]
    assert food["seeds"] == 3
    assert food["mean_f1"] == pytest.approx(0.70)
    assert food["std_f1"] == pytest.approx(0.10)  # sample std of 0.6, 0.7, 0.8
    assert food["range_f1"] == pytest.approx(0.20)
    assert math.isnan(noise.loc[("food", 2e-4)]["std_f1"])  # one seed: no spread
    assert noise.loc[("water", 1e-4)]["std_f1"] == pytest.approx(0.0)


def test_gains_are_compared_with_their_standard_error(tmp_path: Path) -> None:
    _store_with_singles(
        tmp_path,
        {("food", 1e-4, 0): 0.60, ("food", 1e-4, 1): 0.70, ("food", 1e-4, 2): 0.80},
    )
    noise = seed_noise(tmp_path)
    # One transfer seed against three single-task seeds: se = 0.1 * sqrt(1 + 1/3) = 0.1155.
    candidates = pd.DataFrame(
        {
            "source": ["water", "shelter", "request", "fire"],
            "target": ["food"] * 4,
            "target_learning_rate": [1e-4, 1e-4, 1e-4, 2e-4],
            "target_epochs": [2] * 4,
            "target_batch_size": [16] * 4,
            "real_f1": [0.95, 0.45, 0.80, 0.99],  # z = 2.17, -2.17, 0.87; the last has no noise
            "seeds": [1, 1, 1, 1],
        }
    )
    summary = gains_beyond_noise(candidates, noise)
    assert summary["settings_with_repeated_seeds"] == 1
    assert summary["mean_std_f1"] == pytest.approx(0.10)
    assert summary["median_range_f1"] == pytest.approx(0.20)
    assert summary["candidates_compared"] == 3
    assert summary["share_helped"] == pytest.approx(1 / 3)
    assert summary["share_hurt"] == pytest.approx(1 / 3)
    assert summary["share_within_noise"] == pytest.approx(1 / 3)
    assert summary["mean_gain"] == pytest.approx((0.25 - 0.25 + 0.10) / 3)
    strict = gains_beyond_noise(candidates, noise, z=3.0)
    assert strict["share_within_noise"] == pytest.approx(1.0)


def test_without_repeated_seeds_there_is_no_band(tmp_path: Path) -> None:
    _store_with_singles(tmp_path, {("food", 1e-4, 0): 0.6})
    assert gains_beyond_noise(pd.DataFrame(), seed_noise(tmp_path)) == {
        "settings_with_repeated_seeds": 0
    }
    empty = tmp_path / "empty"
    with RunStore(empty):
        pass
    assert seed_noise(empty).empty
