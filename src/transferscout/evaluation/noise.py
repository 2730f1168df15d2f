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

__all__ = ["gains_beyond_noise", "seed_noise"]

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
    target-stage settings.  Both are means over seeds with the same per-seed spread ``σ``,
    estimated by the single-task standard deviation ``s`` over ``n`` seeds, so the gain's
    standard error is ``s·√(1/m + 1/n)`` for ``m`` transfer seeds, and ``gain / se`` follows
    Student's t with ``n − 1`` degrees of freedom under "no effect".  A gain beyond the
    two-sided ``level`` cut-off counts as help (or harm).  With an ``s`` from few seeds the
    cut-off is wide (4.30 for 3 seeds): a normal cut-off of 2 would let about 9% per side
    through by chance.  Only settings with at least two single-task seeds are used.
    """
    if not 0 < level < 1:
        raise ValueError(f"level = {level}; expected a probability in (0, 1)")
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
    error = merged["std_f1"] * np.sqrt(1 / merged["seeds"] + 1 / merged["single_seeds"])
    cutoff = stats.t.ppf(1 - level / 2, merged["single_seeds"] - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = gain / error
    summary.update(
        {
            "test": f"t, two-sided, level {level:g}, df = single-task seeds - 1",
            "level": level,
            "t_cutoff": float(np.max(cutoff)),
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
