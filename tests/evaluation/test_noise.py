from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from transferscout.evaluation.noise import gains_beyond_noise, ground_truth_resolution, seed_noise
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
    # Only the configured grid's trials (e.g. not a searched new target's references).
    grid = {"food-0.0001-0", "food-0.0001-1", "water-0.0001-0"}
    kept = seed_noise(tmp_path, trials=grid).set_index(["task", "target_learning_rate"])
    assert kept["seeds"].to_dict() == {("food", 1e-4): 2, ("water", 1e-4): 1}
    assert kept.loc[("food", 1e-4)]["mean_f1"] == pytest.approx(0.65)


def test_gains_are_tested_against_the_t_cut_off(tmp_path: Path) -> None:
    _store_with_singles(
        tmp_path,
        {("food", 1e-4, 0): 0.60, ("food", 1e-4, 1): 0.61, ("food", 1e-4, 2): 0.62},
    )
    noise = seed_noise(tmp_path)
    # One transfer seed against three single-task seeds: se = 0.01 * sqrt(1 + 1/3) = 0.011547;
    # Student's t with 2 degrees of freedom, two-sided 5%: 4.3027, so |gain| > 0.0497 counts.
    candidates = pd.DataFrame(
        {
            "source": ["water", "shelter", "request", "fire"],
            "target": ["food"] * 4,
            "target_learning_rate": [1e-4, 1e-4, 1e-4, 2e-4],
            "target_epochs": [2] * 4,
            "target_batch_size": [16] * 4,
            # t = 7.79, -7.79, 3.46 (beyond a z of 2, within the t cut-off); no noise for the last
            "real_f1": [0.70, 0.52, 0.65, 0.99],
            "seeds": [1, 1, 1, 1],
        }
    )
    summary = gains_beyond_noise(candidates, noise)
    assert summary["settings_with_repeated_seeds"] == 1
    assert summary["mean_std_f1"] == pytest.approx(0.01)
    assert summary["median_range_f1"] == pytest.approx(0.02)
    assert summary["candidates_compared"] == 3
    assert summary["t_cutoff"] == pytest.approx(4.302653, rel=1e-6)
    assert summary["share_helped"] == pytest.approx(1 / 3)
    assert summary["share_hurt"] == pytest.approx(1 / 3)
    assert summary["share_within_noise"] == pytest.approx(1 / 3)
    assert summary["mean_gain"] == pytest.approx((0.09 - 0.09 + 0.04) / 3)
    loose = gains_beyond_noise(candidates, noise, level=0.2)  # t cut-off 1.886
    assert loose["share_helped"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="level"):
        gains_beyond_noise(candidates, noise, level=1.5)


def test_without_repeated_seeds_there_is_no_band(tmp_path: Path) -> None:
    _store_with_singles(tmp_path, {("food", 1e-4, 0): 0.6})
    assert gains_beyond_noise(pd.DataFrame(), seed_noise(tmp_path)) == {
        "settings_with_repeated_seeds": 0
    }
    empty = tmp_path / "empty"
    with RunStore(empty):
        pass
    assert seed_noise(empty).empty


def test_several_transfer_seeds_are_pooled_into_the_noise(tmp_path: Path) -> None:
    _store_with_singles(
        tmp_path,
        {("food", 1e-4, 0): 0.60, ("food", 1e-4, 1): 0.61, ("food", 1e-4, 2): 0.62},
    )
    candidates = pd.DataFrame(
        {
            "source": ["water"],
            "target": ["food"],
            "target_learning_rate": [1e-4],
            "target_epochs": [2],
            "target_batch_size": [16],
            "real_f1": [0.66],
            "real_f1_sd": [0.04],
            "seeds": [3],
        }
    )
    # Pooled: s_p^2 = (2 * 0.01^2 + 2 * 0.04^2) / 4 = 0.00085; se = s_p * sqrt(2/3) = 0.023805;
    # t = 0.05 / 0.023805 = 2.10 < 2.776 (df 4): within the noise.  The single-task spread
    # alone (se 0.008165, t 6.12 > 4.303) would call it a help.
    summary = gains_beyond_noise(candidates, seed_noise(tmp_path))
    assert summary["candidates_pooled_with_transfer_seeds"] == 1
    assert summary["share_within_noise"] == pytest.approx(1.0)
    assert gains_beyond_noise(candidates.assign(real_f1_sd=0.01), seed_noise(tmp_path))[
        "share_helped"
    ] == pytest.approx(1.0)  # s_p = 0.01: t = 6.12 > 2.776
    one_seed = candidates.assign(seeds=1, real_f1_sd=float("nan"))
    assert gains_beyond_noise(one_seed, seed_noise(tmp_path))["share_helped"] == pytest.approx(1.0)


def test_ground_truth_resolution_by_hand() -> None:
    candidates = pd.DataFrame(
        {
            "target": ["a", "a", "a", "b", "b"],
            "real_f1": [0.50, 0.49, 0.45, 0.30, 0.20],
            "real_f1_sd": [0.03, 0.03, 0.03, 0.03, 0.03],
            "seeds": [3, 3, 3, 3, 3],
        }
    )
    found = ground_truth_resolution(candidates)
    assert found["transfer_std_f1"] == pytest.approx(0.03)
    assert found["transfer_mean_se_f1"] == pytest.approx(0.03 / math.sqrt(3))
    assert found["median_best_gap"] == pytest.approx((0.01 + 0.10) / 2)
    # a: 0.49 is within 0.0173 of 0.50, 0.45 is not; b: none.
    assert found["mean_within_one_se_of_best"] == pytest.approx(0.5)
    assert ground_truth_resolution(candidates.assign(seeds=1, real_f1_sd=float("nan"))) == {}
