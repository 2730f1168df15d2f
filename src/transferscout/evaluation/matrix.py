"""Rankings on an imported transfer matrix: each signal's order per target against random.

A matrix's pool table (:mod:`transferscout.matrix`) has no task kinds and no meta-model
features, only the truth (``real_f1``, ``target_score``) and the signal columns it carries (e.g.
model-recycling's ``mnli_lp``).  Each signal orders every target's candidates (higher first; a
candidate without a value last; ties by predicted cost where the matrix gives one, else in
expectation over their order, :mod:`transferscout.evaluation.ordering`), and the metrics are
the evaluation's own (:mod:`transferscout.evaluation.metrics`), against the uniformly random
order (exact, one tie block per target) with a paired sign-flip test across targets.

Metrics per target: ``ndcg@3`` and ``regret@1`` / ``regret@3`` (percent of the best relevance
lost; relevance is the score itself, so they need scores in [0, 1]: a target with a score
outside gets NaN, and the summary counts them), ``loss@1`` (the best score minus the first
pick's, in the matrix's units: the regret of the first pick), ``rank_of_best`` and Spearman's
ρ between the signal and the score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferscout.evaluation.methods import _missing_last
from transferscout.evaluation.metrics import ndcg_at_k, rank_of_best, regret_at_k, spearman_rho
from transferscout.evaluation.ordering import expected_at_positions
from transferscout.evaluation.stats import sign_flip_test

__all__ = ["RANKING_METRICS", "RANDOM", "matrix_rankings"]

#: The metrics of each order, per target; lower is better for the regrets, losses and ranks.
RANKING_METRICS = ("ndcg@3", "regret@1", "regret@3", "loss@1", "rank_of_best", "spearman")

#: The uniformly random order, the baseline every signal is tested against.
RANDOM = "random"

_LOWER_IS_BETTER = {"regret@1", "regret@3", "loss@1", "rank_of_best"}


def _target_metrics(
    real: np.ndarray, score: np.ndarray, cost: np.ndarray | None
) -> dict[str, float]:
    row: dict[str, float] = {}
    relevant = bool(((real >= 0) & (real <= 1)).all())
    row["ndcg@3"] = ndcg_at_k(real, score, 3, cost=cost) if relevant else np.nan
    row["regret@1"] = regret_at_k(real, score, 1, cost=cost) if relevant else np.nan
    row["regret@3"] = regret_at_k(real, score, 3, cost=cost) if relevant else np.nan
    row["loss@1"] = float(real.max() - expected_at_positions(real, score, cost)[0])
    row["rank_of_best"] = rank_of_best(real, score, cost=cost)
    row["spearman"] = spearman_rho(real, score) if np.ptp(score) > 0 else 0.0
    return row


def matrix_rankings(
    table: pd.DataFrame, signals: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """Each signal's order and the random order, per target and summarised.

    Args:
        table: A matrix's pool table (``target``, ``real_f1``, the signals; ``predicted_hours``
            breaks ties where it is known for every row).
        signals: The signal columns to rank by.

    Returns:
        ``per_target`` (one row per method and target, :data:`RANKING_METRICS`), ``summary``
        (one row per method and metric: ``mean`` over targets, ``diff`` the method's mean
        minus random's, ``p`` the paired sign-flip test across targets, ``better`` whether the
        method's mean is the better side) and facts (targets whose scores are outside [0, 1],
        the tie rule).
    """
    table = table.reset_index(drop=True)
    predicted = (
        table["predicted_hours"].to_numpy(dtype=np.float64)
        if "predicted_hours" in table.columns
        else np.full(len(table), np.nan)
    )
    cost_known = bool(np.isfinite(predicted).all())
    methods = {RANDOM: np.zeros(len(table))}
    for signal in signals:
        methods[f"signal:{signal}"] = table[signal].to_numpy(dtype=np.float64)
    rows = []
    outside = []
    for name, index in sorted(table.groupby("target", sort=True).indices.items()):
        target = str(name)
        real = table["real_f1"].to_numpy(dtype=np.float64)[index]
        if not ((real >= 0) & (real <= 1)).all():
            outside.append(target)
        cost = predicted[index] if cost_known else None
        for method, score in methods.items():
            metrics = _target_metrics(real, _missing_last(score[index]), cost)
            if method == RANDOM:
                metrics["spearman"] = 0.0  # over every order the correlation averages to 0
            rows.append({"method": method, "target": target, **metrics})
    per_target = pd.DataFrame(rows, columns=["method", "target", *RANKING_METRICS])
    summary_rows = []
    baseline = per_target[per_target["method"] == RANDOM].set_index("target")
    for name, group in per_target.groupby("method", sort=False):
        method = str(name)
        mine = group.set_index("target").reindex(baseline.index)
        for metric in RANKING_METRICS:
            difference = (mine[metric] - baseline[metric]).to_numpy(dtype=np.float64)
            mean = float(np.nanmean(mine[metric])) if mine[metric].notna().any() else np.nan
            diff = float(np.nanmean(difference)) if np.isfinite(difference).any() else np.nan
            summary_rows.append(
                {
                    "method": method,
                    "metric": metric,
                    "targets": int(mine[metric].notna().sum()),
                    "mean": mean,
                    "diff": np.nan if method == RANDOM else diff,
                    "p": np.nan if method == RANDOM else sign_flip_test(difference),
                    "better": None
                    if method == RANDOM or not np.isfinite(diff) or diff == 0
                    else bool(diff < 0) == (metric in _LOWER_IS_BETTER),
                }
            )
    facts: dict[str, object] = {
        "scores_outside_0_1": outside,
        "ties": "by predicted hours, then in expectation over their order"
        if cost_known
        else "in expectation over their order (no predicted hours)",
    }
    return per_target, pd.DataFrame(summary_rows), facts
