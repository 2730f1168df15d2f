from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferscout.evaluation.compare import compare_methods, seed_means
from transferscout.evaluation.stats import sign_flip_test


def _per_target() -> pd.DataFrame:
    rows = []
    # Four targets. random and a no-signal meta-model (deterministic, seed -1 / seeded), meta:f1
    # over two seeds, and a method better than both on every target.
    base = {"t1": 0.5, "t2": 0.6, "t3": 0.4, "t4": 0.7}
    for target, value in base.items():
        rows.append(
            {
                "method": "random",
                "seed": -1,
                "target": target,
                "ndcg@3": value - 0.2,
                "regret@1": 40.0,
                "spearman": 0.0,
            }
        )
        rows.append(
            {
                "method": "baseline:hyperparameters",
                "seed": 0,
                "target": target,
                "ndcg@3": value - 0.1,
                "regret@1": 50.0,
                "spearman": 0.1,
            }
        )
        for seed, shift in ((0, 0.0), (1, 0.1)):
            rows.append(
                {
                    "method": "meta:f1",
                    "seed": seed,
                    "target": target,
                    "ndcg@3": value + shift,
                    "regret@1": 10.0 + 10 * seed,
                    "spearman": 0.5,
                }
            )
            rows.append(
                {
                    "method": "meta:all",
                    "seed": seed,
                    "target": target,
                    "ndcg@3": value + 0.2,
                    "regret@1": 5.0,
                    "spearman": 0.6,
                }
            )
    return pd.DataFrame(rows)


def test_seed_means_average_each_target_over_seeds() -> None:
    means = seed_means(_per_target()).set_index(["method", "target"])
    assert means.loc[("meta:f1", "t1"), "ndcg@3"] == pytest.approx(0.55)
    assert means.loc[("meta:f1", "t1"), "seeds"] == 2
    assert means.loc[("random", "t1"), "seeds"] == 1


def test_estimates_spread_and_paired_tests_by_hand() -> None:
    ranking = compare_methods(
        _per_target(), ["random", "baseline:hyperparameters"], resamples=200
    ).set_index(["method", "metric"])
    f1 = ranking.loc[("meta:f1", "ndcg@3")]
    assert f1["estimate"] == pytest.approx(0.55 + 0.05)
    # Target means 0.55 (seed 0) and 0.65 (seed 1): SD sqrt(0.005).
    assert f1["seeds"] == 2 and f1["seed_sd"] == pytest.approx(np.sqrt(0.005))
    assert (f1["seed_min"], f1["seed_max"]) == pytest.approx((0.55, 0.65))
    assert np.isnan(ranking.loc[("random", "ndcg@3"), "seed_sd"])
    # The best no-signal baseline is the hyperparameters on NDCG (higher) and random on regret
    # (lower); four targets all better: p = 2 / 16.
    assert f1["baseline"] == "baseline:hyperparameters"
    assert f1["p_vs_baseline"] == pytest.approx(2 / 16)
    assert ranking.loc[("meta:all", "regret@1"), "baseline"] == "random"
    assert ranking.loc[("meta:all", "regret@1"), "p_vs_meta_f1"] == pytest.approx(2 / 16)
    differences = np.array([0.25, 0.25, 0.25, 0.25]) - 0.1  # meta:all − meta:f1 (mean 0.05 shift)
    assert ranking.loc[("meta:all", "ndcg@3"), "p_vs_meta_f1"] == pytest.approx(
        sign_flip_test(differences)
    )
    # No test against itself, and none for metrics outside NDCG, regret and time saved.
    assert np.isnan(f1["p_vs_meta_f1"])
    assert np.isnan(ranking.loc[("meta:all", "spearman"), "p_vs_baseline"])
