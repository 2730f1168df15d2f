"""Best score found versus training time when candidates are trained in ranked order (Fig. 2).

Every target's candidates are trained in the order a method ranks them (the rule of
:mod:`transferscout.evaluation.ordering`); after the top K of every target, the curve records
the mean over targets of the best real score found (``best_f1``: each target's primary
metric — positive F1 for the seed paper's binary targets; when kinds mix, the evaluation also
gives it as a mean gain over the single-task models, a constant shift), and the total real
training hours spent (plus the hours the method's signals cost).  Both are exact expectations
over the random order inside tie blocks; the random baseline is the case of one block per
target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferscout.evaluation.ordering import (
    expected_at_positions,
    expected_best_of_top,
    expected_until_first,
)

__all__ = ["budget_curve", "oracle_curve", "random_curve", "target_time_saved", "time_saved"]


def _by_target(table: pd.DataFrame) -> list[pd.DataFrame]:
    return [group for _, group in table.groupby("target", sort=True)]


def _cost(group: pd.DataFrame, cost: str | None) -> np.ndarray | None:
    return None if cost is None else group[cost].to_numpy(dtype=float)


def budget_curve(
    table: pd.DataFrame,
    score: str,
    ks: Sequence[int],
    *,
    cost: str | None = None,
    signal_hours: float = 0.0,
) -> pd.DataFrame:
    """Best F1 found and hours spent at each depth K, training candidates by ``score``.

    Args:
        table: Candidates with ``target``, ``real_f1``, ``hours`` and the score column.
        score: The column ranked (higher first).
        ks: Depths per target.
        cost: The column of predicted cost that breaks ties in the score (lower first).
        signal_hours: Hours charged once for the method's signals.

    Returns:
        Columns ``k``, ``best_f1`` (mean over targets), ``hours`` (total, signals included).
    """
    best = np.zeros(len(ks))
    hours = np.full(len(ks), signal_hours)
    groups = _by_target(table)
    for group in groups:
        predicted = group[score].to_numpy(dtype=float)
        costs = _cost(group, cost)
        best += expected_best_of_top(group["real_f1"].to_numpy(), predicted, ks, costs)
        spent = np.cumsum(expected_at_positions(group["hours"].to_numpy(), predicted, costs))
        hours += np.array([spent[min(k, len(group)) - 1] for k in ks])
    return pd.DataFrame({"k": list(ks), "best_f1": best / len(groups), "hours": hours})


def oracle_curve(table: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """The curve of the perfect ranking (real F1 as the score)."""
    return budget_curve(table, "real_f1", ks)


def random_curve(
    table: pd.DataFrame, ks: Sequence[int], *, signal_hours: float = 0.0
) -> pd.DataFrame:
    """The exact expected curve of a uniformly random order (no sampling).

    ``signal_hours``: charged once besides the candidates (the source stages they need).
    """
    return budget_curve(table.assign(_constant=0.0), "_constant", ks, signal_hours=signal_hours)


def target_time_saved(
    real: np.ndarray,
    hours: np.ndarray,
    score: np.ndarray,
    tolerance: float,
    *,
    cost: np.ndarray | None = None,
    charge: float = 0.0,
    grid_share: float = 0.0,
) -> float:
    """Percent of one target's grid hours saved by stopping at its first near-best candidate.

    Candidates are trained in ranked order until one is within ``tolerance`` of the target's
    best real F1; the hours spent (expected over tie orders) plus ``charge`` (this target's
    share of what the method is charged besides its candidates) are compared with the
    target's share of the full grid: training all of its candidates plus ``grid_share`` (its
    share of the grid's single-task models).
    """
    near = real >= real.max() - tolerance - 1e-12
    spent = expected_until_first(near, hours, score, cost) + charge
    return (1 - spent / (float(hours.sum()) + grid_share)) * 100


def time_saved(
    curve: pd.DataFrame,
    table: pd.DataFrame,
    tolerances: Sequence[float] = (0.01, 0.02, 0.035),
    *,
    grid_extra_hours: float = 0.0,
) -> pd.DataFrame:
    """Time saved against the full grid at the first depth where the loss is small enough.

    For each tolerance: the smallest K whose mean best score is within ``tolerance`` of the
    full grid's, its loss (``f1_loss``; the same as the loss in mean gain over the single-task
    models), its hours and the percentage of the full grid's hours saved.  The full grid is
    every candidate's ``hours`` plus ``grid_extra_hours`` (its single-task models, each once).
    """
    full_best = float(table.groupby("target")["real_f1"].max().mean())
    full_hours = float(table["hours"].sum()) + grid_extra_hours
    rows = []
    for tolerance in tolerances:
        reached = curve[full_best - curve["best_f1"] <= tolerance + 1e-12]
        if reached.empty:
            rows.append(
                {
                    "tolerance": tolerance,
                    "k": None,
                    "f1_loss": None,
                    "hours": None,
                    "saved_percent": None,
                }
            )
            continue
        first = reached.iloc[0]
        rows.append(
            {
                "tolerance": tolerance,
                "k": int(first["k"]),
                "f1_loss": full_best - float(first["best_f1"]),
                "hours": float(first["hours"]),
                "saved_percent": (1 - float(first["hours"]) / full_hours) * 100
                if full_hours
                else 0.0,
            }
        )
    return pd.DataFrame(rows)
