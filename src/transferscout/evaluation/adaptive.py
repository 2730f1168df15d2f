"""Adaptive search (beyond the seed): refit the meta-model after every trained candidate.

For each target, candidates are trained one at a time: the meta-model is fitted on every other
target's candidates plus this target's candidates trained so far, predicts the remaining ones,
and the best is trained next — greedily by predicted F1, or by an upper confidence bound
(mean + κ·std over a small ensemble of boosters with different seeds); ties go by predicted
cost, then a seeded random key (the rule of :mod:`transferscout.evaluation.ordering`).  On a
completed grid this is a replay: "training" reads the real result from the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferscout.evaluation.ordering import ranking_order
from transferscout.meta.features import META_TARGET
from transferscout.meta.regressor import TransferRegressor

__all__ = ["adaptive_replay", "adaptive_curve"]


def adaptive_replay(
    table: pd.DataFrame,
    columns: list[str],
    *,
    strategy: str = "greedy",
    kappa: float = 1.0,
    ensemble: int = 4,
    max_steps: int | None = None,
    n_estimators: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """The order in which adaptive search trains each target's candidates.

    Returns:
        Columns ``target``, ``step`` (1-based), ``row`` (index into ``table``), ``real_f1``,
        ``hours``.
    """
    if strategy not in ("greedy", "ucb"):
        raise ValueError(f"strategy = {strategy!r}; expected 'greedy' or 'ucb'")
    features = table[columns].to_numpy(dtype=np.float64)
    real = table["real_f1"].to_numpy(dtype=np.float64)
    # The meta-model learns the gain over each target's single-task model (comparable across
    # task kinds); the search reports the real score.
    learnt = table[META_TARGET].to_numpy(dtype=np.float64)
    hours = table["hours"].to_numpy(dtype=np.float64)
    cost = (
        table["planned_cost"].to_numpy(dtype=np.float64)
        if "planned_cost" in table.columns
        else np.zeros(len(table))
    )
    targets = table["target"].to_numpy()
    members = ensemble if strategy == "ucb" else 1
    records = []
    for target in sorted(pd.unique(targets)):
        own = np.flatnonzero(targets == target)
        others = np.flatnonzero(targets != target)
        remaining = [int(i) for i in own]
        observed: list[int] = []
        steps = len(own) if max_steps is None else min(max_steps, len(own))
        for step in range(1, steps + 1):
            train = np.concatenate([others, np.asarray(observed, dtype=np.intp)])
            predictions = np.stack(
                [
                    TransferRegressor(
                        n_estimators=n_estimators, random_state=seed + m, subsample=0.8
                    )
                    .fit(features[train], learnt[train])
                    .predict(features[remaining])
                    for m in range(members)
                ]
            )
            score = predictions.mean(axis=0)
            if strategy == "ucb":
                score = score + kappa * predictions.std(axis=0)
            first = ranking_order(score, cost[remaining], seed=seed * 1_000_003 + step)[0]
            pick = remaining[int(first)]
            remaining.remove(pick)
            observed.append(pick)
            records.append(
                {
                    "target": target,
                    "step": step,
                    "row": int(pick),
                    "real_f1": real[pick],
                    "hours": hours[pick],
                }
            )
    return pd.DataFrame(records)


def adaptive_curve(
    replay: pd.DataFrame, ks: Sequence[int], *, signal_hours: float = 0.0
) -> pd.DataFrame:
    """Best F1 found and hours spent after K adaptive steps per target."""
    rows = []
    for k in ks:
        best, hours = [], signal_hours
        for _, group in replay.groupby("target"):
            top = group[group["step"] <= k]
            best.append(top["real_f1"].max())
            hours += top["hours"].sum()
        rows.append({"k": k, "best_f1": float(np.mean(best)), "hours": float(hours)})
    return pd.DataFrame(rows)
