"""Best F1 found versus training time when candidates are trained in ranked order (seed Fig. 2).

Every target's candidates are trained in the order a method ranks them; after the top K of
every target, the curve records the mean over targets of the best real F1 found, and the total
real training hours spent (plus, for methods that need them, the hours spent on the signals).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferscout.evaluation.metrics import expected_best_of_random, ranking_order

__all__ = ["budget_curve", "oracle_curve", "random_curve", "time_saved"]


def _by_target(table: pd.DataFrame) -> list[pd.DataFrame]:
    return [group for _, group in table.groupby("target", sort=True)]


def budget_curve(
    table: pd.DataFrame, score: str, ks: Sequence[int], *, signal_hours: float = 0.0
) -> pd.DataFrame:
    """Best F1 found and hours spent at each depth K, training candidates by ``score``.

    Returns:
        Columns ``k``, ``best_f1`` (mean over targets), ``hours`` (total, signals included).
    """
    rows = []
    groups = _by_target(table)
    orders = [
        ranking_order(g[score].to_numpy(dtype=float), g["hours"].to_numpy(dtype=float))
        for g in groups
    ]
    for k in ks:
        best, hours = [], signal_hours
        for group, order in zip(groups, orders, strict=True):
            top = order[: min(k, len(group))]
            best.append(group["real_f1"].to_numpy()[top].max())
            hours += group["hours"].to_numpy()[top].sum()
        rows.append({"k": k, "best_f1": float(np.mean(best)), "hours": float(hours)})
    return pd.DataFrame(rows)


def oracle_curve(table: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """The curve of the perfect ranking (real F1 as the score)."""
    return budget_curve(table, "real_f1", ks)


def random_curve(table: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """The exact expected curve of a uniformly random order (no sampling)."""
    rows = []
    groups = _by_target(table)
    for k in ks:
        best = [expected_best_of_random(g["real_f1"].to_numpy(), k) for g in groups]
        hours = sum(min(k, len(g)) * float(g["hours"].mean()) for g in groups)
        rows.append({"k": k, "best_f1": float(np.mean(best)), "hours": float(hours)})
    return pd.DataFrame(rows)


def time_saved(
    curve: pd.DataFrame,
    table: pd.DataFrame,
    tolerances: Sequence[float] = (0.01, 0.02, 0.035),
) -> pd.DataFrame:
    """Time saved against the full grid at the first depth where the F1 loss is small enough.

    For each tolerance: the smallest K whose mean best F1 is within ``tolerance`` of the full
    grid's, its F1 loss, its hours and the percentage of the full grid's hours saved.
    """
    full_best = float(table.groupby("target")["real_f1"].max().mean())
    full_hours = float(table["hours"].sum())
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
