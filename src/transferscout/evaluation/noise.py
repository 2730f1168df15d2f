"""Seed noise: how far single-task F1 moves between seeds, and which transfer gains exceed it.

A transfer gain smaller than the spread between two seeds of the same model is not evidence
that the source helps.  The run's single-task trials repeated over seeds
(``grid.single_task_seeds``) give that spread per task and setting.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from transferscout.grid.models import trial_score
from transferscout.grid.store import RunStore

__all__ = ["gains_beyond_noise", "ground_truth_resolution", "seed_noise"]

_SETTINGS = ("target_learning_rate", "target_epochs", "target_batch_size")


def seed_noise(run_dir: str | Path, *, trials: Collection[str] | None = None) -> pd.DataFrame:
    """Test F1 of every finished single-task model, summarised over seeds.

    One row per (task, settings): ``seeds``, ``mean_f1``, ``std_f1`` (sample standard deviation,
    NaN for one seed), ``min_f1``, ``max_f1`` and ``range_f1``.  With ``trials``, only those
    ids count (the configured grid; e.g. a searched new target's reference models do not).
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows(kind="single", status="done")
    records = []
    for row in rows:
        if row.metrics is None or (trials is not None and row.id not in trials):
            continue
        settings = row.config["target"]["settings"]
        records.append(
            {
                "task": row.target,
                "target_learning_rate": settings["learning_rate"],
                "target_epochs": settings["epochs"],
                "target_batch_size": settings["batch_size"],
                "f1": trial_score(row),
            }
        )
    columns = ["task", *_SETTINGS, "seeds", "mean_f1", "std_f1", "min_f1", "max_f1", "range_f1"]
    if not records:
        return pd.DataFrame(columns=columns)
    grouped = pd.DataFrame(
        pd.DataFrame(records)
        .groupby(["task", *_SETTINGS], as_index=False)["f1"]
        .agg(seeds="size", mean_f1="mean", std_f1="std", min_f1="min", max_f1="max")
    )
    grouped["range_f1"] = grouped["max_f1"] - grouped["min_f1"]
    return grouped[columns]


def gains_beyond_noise(
    candidates: pd.DataFrame, noise: pd.DataFrame, *, level: float = 0.05
) -> dict[str, object]:
    """Summarise seed noise and count the transfer gains that stand out from it (a t-test).

    A candidate's gain is its real F1 minus the mean single-task F1 of its target at the same
    target-stage settings.  Both are means over seeds with the same per-seed spread ``σ``.
    With one transfer seed, ``σ`` is estimated by the single-task standard deviation ``s``
    over ``n`` seeds and ``gain / (s·√(1 + 1/n))`` follows Student's t with ``n − 1``
    degrees of freedom under "no effect".  With ``m ≥ 2`` transfer seeds (``real_f1_sd``
    holds their standard deviation ``s_t``) the candidate's own seeds count too: the pooled
    ``s_p² = ((n − 1)·s² + (m − 1)·s_t²) / (n + m − 2)``, the standard error
    ``s_p·√(1/m + 1/n)`` and ``n + m − 2`` degrees of freedom (Student's two-sample test).
    A gain beyond the two-sided ``level`` cut-off counts as help (or harm).  With an ``s``
    from few seeds the cut-off is wide (4.30 for 3 seeds): a normal cut-off of 2 would let
    about 9% per side through by chance.  Only settings with at least two single-task seeds
    are used.  The summary also says how finely the transfer seeds resolve the ground truth
    (:func:`ground_truth_resolution`).
    """
    if not 0 < level < 1:
        raise ValueError(f"level = {level}; expected a probability in (0, 1)")
    return {**_gains_tested(candidates, noise, level), **ground_truth_resolution(candidates)}


def _gains_tested(candidates: pd.DataFrame, noise: pd.DataFrame, level: float) -> dict[str, object]:
    repeated = noise[noise["seeds"] >= 2]
    summary: dict[str, object] = {"settings_with_repeated_seeds": len(repeated)}
    if repeated.empty:
        return summary
    summary.update(
        {
            "seeds_per_setting": int(repeated["seeds"].min()),
            "mean_std_f1": float(repeated["std_f1"].mean()),
            "max_std_f1": float(repeated["std_f1"].max()),
            "median_range_f1": float(repeated["range_f1"].median()),
            "max_range_f1": float(repeated["range_f1"].max()),
        }
    )
    merged = candidates.merge(
        repeated.rename(columns={"task": "target", "seeds": "single_seeds"}),
        on=["target", *_SETTINGS],
        how="inner",
    )
    if merged.empty:
        return summary
    gain = merged["real_f1"] - merged["mean_f1"]
    m = merged["seeds"].astype(float)
    n = merged["single_seeds"].astype(float)
    own = merged["real_f1_sd"] if "real_f1_sd" in merged else pd.Series(np.nan, merged.index)
    repeated_transfer = (m >= 2) & own.notna()
    pooled = np.sqrt(
        ((n - 1) * merged["std_f1"] ** 2 + (m - 1) * own.fillna(0.0) ** 2) / (n + m - 2)
    )
    spread = np.where(repeated_transfer, pooled, merged["std_f1"])
    df = np.where(repeated_transfer, n + m - 2, n - 1)
    error = spread * np.sqrt(1 / m + 1 / n)
    cutoff = stats.t.ppf(1 - level / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = gain / error
    summary.update(
        {
            "test": (
                f"t, two-sided, level {level:g}, df = single-task seeds - 1 (one transfer "
                "seed) or single-task + transfer seeds - 2 (pooled, several transfer seeds)"
            ),
            "level": level,
            "t_cutoff": float(np.max(cutoff)),
            "candidates_pooled_with_transfer_seeds": int(repeated_transfer.sum()),
            "candidates_compared": len(merged),
            "mean_gain": float(gain.mean()),
            "share_helped": float((score > cutoff).mean()),
            "share_hurt": float((score < -cutoff).mean()),
            "share_within_noise": float(
                (((score <= cutoff) & (score >= -cutoff)) | score.isna()).mean()
            ),
        }
    )
    return summary


def ground_truth_resolution(candidates: pd.DataFrame) -> dict[str, object]:
    """How finely the transfer seeds resolve each target's best candidate.

    The real value of a candidate is the mean of its ``m`` seeds, whose standard error is
    ``σ_t / √m`` with ``σ_t`` the transfer seed-to-seed SD (estimated over the candidates with
    at least two seeds, as the root of their mean variance).  Ranking metrics that reward the
    best candidate can only tell methods apart when the best stands out from the runners-up by
    more than that.  Returns (empty without repeated transfer seeds): ``transfer_candidates_
    with_repeated_seeds``, ``transfer_seeds_per_candidate`` (median ``m``), ``transfer_std_f1``
    (``σ_t``), ``transfer_mean_se_f1`` (``σ_t / √m``, median ``m``), ``median_best_gap`` (over
    targets, the best real value minus the second best), and ``mean_within_one_se_of_best``
    (per target, the candidates other than the best within one standard error of it).

    Args:
        candidates: Columns ``target``, ``real_f1`` (means over seeds), ``seeds`` and
            ``real_f1_sd``.
    """
    if "real_f1_sd" not in candidates or candidates.empty:
        return {}
    repeated = candidates[(candidates["seeds"] >= 2) & candidates["real_f1_sd"].notna()]
    if repeated.empty:
        return {}
    sigma = float(np.sqrt(np.mean(repeated["real_f1_sd"].to_numpy(dtype=float) ** 2)))
    seeds = float(np.median(candidates["seeds"]))
    se = sigma / np.sqrt(seeds)
    gaps, within = [], []
    for _, group in candidates.groupby("target"):
        values = np.sort(group["real_f1"].to_numpy(dtype=float))[::-1]
        if len(values) >= 2:
            gaps.append(values[0] - values[1])
        within.append(int(np.sum(values[1:] >= values[0] - se)))
    return {
        "transfer_candidates_with_repeated_seeds": len(repeated),
        "transfer_seeds_per_candidate": seeds,
        "transfer_std_f1": sigma,
        "transfer_mean_se_f1": float(se),
        "median_best_gap": float(np.median(gaps)) if gaps else float("nan"),
        "mean_within_one_se_of_best": float(np.mean(within)),
    }
