"""Adaptive search (beyond the seed): refit the meta-model after every trained candidate.

For each target, candidates are trained one at a time: the meta-model is fitted on every other
target's candidates plus this target's candidates trained so far, predicts the remaining ones,
and the best is trained next — greedily by predicted F1, or by an upper confidence bound
(mean + κ·std over a small ensemble of boosters with different seeds); ties go by predicted
cost, then a seeded random key (the rule of :mod:`transferscout.evaluation.ordering`).  On a
completed grid this is a replay: "training" reads the real result from the table.
:func:`adaptive_step` is the one step both the replay and the real budgeted search
(:mod:`transferscout.search`) take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from transferscout.evaluation.ordering import ranking_order
from transferscout.meta.features import META_TARGET
from transferscout.meta.regressor import TransferRegressor

__all__ = [
    "AdaptiveStep",
    "adaptive_curve",
    "adaptive_replay",
    "adaptive_step",
    "replay_score",
    "tie_seed",
]


@dataclass(frozen=True)
class AdaptiveStep:
    """One refit's view of the remaining candidates (arrays parallel to ``remaining``).

    Attributes:
        mean: Mean prediction of the ensemble.
        std: Spread of the ensemble (0 for a single booster).
        score: What the strategy ranks by (``mean`` or ``mean + kappa * std``).
        order: Positions (into ``remaining``) in the order to train them: highest score, ties
            by lower predicted cost, then a seeded random key; ``order[0]`` is the pick.
    """

    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    order: npt.NDArray[np.intp]


def tie_seed(seed: int, step: int) -> int:
    """The seed of the random tie-break key at a (1-based) step."""
    return seed * 1_000_003 + step


def adaptive_step(
    train_features: npt.NDArray[np.float64],
    train_values: npt.NDArray[np.float64],
    remaining_features: npt.NDArray[np.float64],
    remaining_cost: npt.NDArray[np.float64],
    *,
    step: int,
    strategy: str = "greedy",
    kappa: float = 1.0,
    ensemble: int = 4,
    n_estimators: int = 100,
    seed: int = 0,
) -> AdaptiveStep:
    """Refit the meta-model on everything observed and order the remaining candidates.

    Shape:
        train_features: ``(n, d)``; train_values: ``(n,)``; remaining_features: ``(m, d)``;
        remaining_cost: ``(m,)`` predicted (never realised) cost, the first tie-break.
    """
    if strategy not in ("greedy", "ucb"):
        raise ValueError(f"strategy = {strategy!r}; expected 'greedy' or 'ucb'")
    members = ensemble if strategy == "ucb" else 1
    predictions = np.stack(
        [
            TransferRegressor(n_estimators=n_estimators, random_state=seed + m, subsample=0.8)
            .fit(train_features, train_values)
            .predict(remaining_features)
            for m in range(members)
        ]
    )
    mean = predictions.mean(axis=0)
    std = predictions.std(axis=0)
    score = mean + kappa * std if strategy == "ucb" else mean
    order = ranking_order(score, remaining_cost, seed=tie_seed(seed, step))
    return AdaptiveStep(mean, std, score, order)


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
    records = []
    for target in sorted(pd.unique(targets)):
        own = np.flatnonzero(targets == target)
        others = np.flatnonzero(targets != target)
        remaining = [int(i) for i in own]
        observed: list[int] = []
        steps = len(own) if max_steps is None else min(max_steps, len(own))
        for step in range(1, steps + 1):
            train = np.concatenate([others, np.asarray(observed, dtype=np.intp)])
            ordered = adaptive_step(
                features[train],
                learnt[train],
                features[remaining],
                cost[remaining],
                step=step,
                strategy=strategy,
                kappa=kappa,
                ensemble=ensemble,
                n_estimators=n_estimators,
                seed=seed,
            )
            pick = remaining[int(ordered.order[0])]
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


def replay_score(replay: pd.DataFrame, rows: int) -> npt.NDArray[np.float64]:
    """A replay's order as a score over the table's rows: ``-step`` (earlier is higher).

    Within a target every step differs, so ranking by this score (ties by cost, then a key)
    gives exactly the replayed order; rows the replay never reached are NaN.
    """
    score = np.full(rows, np.nan)
    score[replay["row"].to_numpy(dtype=np.intp)] = -replay["step"].to_numpy(dtype=np.float64)
    return score
