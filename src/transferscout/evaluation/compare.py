"""From per-target, per-seed metrics to the ranking table: seed spread, intervals, paired tests.

For each method and metric: the estimate (mean over targets of the per-target mean over
seeds), a percentile bootstrap interval over targets, the spread of the target-mean across
the meta-model's seeds, and two paired sign-flip tests across targets — against the best
no-signal baseline for that metric and against ``meta:f1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferscout.evaluation.metrics import bootstrap_interval
from transferscout.evaluation.stats import sign_flip_test

__all__ = ["LOWER_IS_BETTER", "compare_methods", "is_tested", "seed_means"]

#: Metrics where a lower value is better (all others: higher).
LOWER_IS_BETTER = ("regret@", "rank_of_best")

#: Metrics that get paired tests: NDCG@k, Regret@k, per-target time saved.
_TESTED = ("ndcg@", "regret@", "saved@")

REFERENCE = "meta:f1"


def is_tested(metric: str) -> bool:
    """Whether the ranking table carries paired p-values for ``metric``."""
    return metric.startswith(_TESTED)


def _lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER)


def seed_means(per_target: pd.DataFrame) -> pd.DataFrame:
    """Per (method, target): every metric averaged over seeds, and the number of seeds."""
    metrics = [c for c in per_target.columns if c not in ("method", "target", "seed")]
    grouped = per_target.groupby(["method", "target"], sort=False)
    means = grouped[metrics].mean().reset_index()
    means.insert(2, "seeds", grouped.size().to_numpy())
    return means


def compare_methods(
    per_target: pd.DataFrame,
    baselines: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (method, metric) with estimate, interval, seed spread and p-values.

    Args:
        per_target: Columns ``method``, ``seed``, ``target`` and one per metric.
        baselines: The no-signal baselines; for each metric the one with the best estimate is
            every method's first comparison.
        resamples: Bootstrap resamples of targets.
        seed: Seeds the bootstrap.

    Returns:
        Columns ``method``, ``metric``, ``estimate``, ``low``, ``high``, ``seeds``,
        ``seed_sd`` (sample SD over seeds of the mean over targets; NaN for one seed),
        ``seed_min``, ``seed_max``, ``baseline``, ``p_vs_baseline``, ``p_vs_meta_f1``.
    """
    metrics = [c for c in per_target.columns if c not in ("method", "target", "seed")]
    means = seed_means(per_target)
    by_seed = per_target.groupby(["method", "seed"], sort=False)[metrics].mean()
    methods = list(dict.fromkeys(per_target["method"]))
    wide = {m: means.pivot(index="target", columns="method", values=m) for m in metrics}
    rows = []
    for metric in metrics:
        # a target a metric leaves out (NaN for every method: its candidates all score the
        # same) is no pair of the tests and no part of the estimate
        table = wide[metric].dropna(how="all")
        estimates = table.mean()
        present = [b for b in baselines if b in table.columns]
        best = None
        ranked = estimates[present].dropna()  # every target left out: no estimate
        if len(ranked):
            best = str(ranked.idxmin() if _lower_is_better(metric) else ranked.idxmax())
        for method in methods:
            values = table[method].to_numpy(dtype=float)
            estimate, low, high = bootstrap_interval(values, resamples=resamples, seed=seed)
            spread = by_seed.loc[method, metric].to_numpy(dtype=float)
            row: dict[str, object] = {
                "method": method,
                "metric": metric,
                "estimate": estimate,
                "low": low,
                "high": high,
                "seeds": len(spread),
                "seed_sd": float(np.std(spread, ddof=1)) if len(spread) > 1 else np.nan,
                "seed_min": float(np.min(spread)),
                "seed_max": float(np.max(spread)),
                "baseline": best if is_tested(metric) else None,
                "p_vs_baseline": np.nan,
                "p_vs_meta_f1": np.nan,
            }
            if is_tested(metric) and len(values):
                for column, other in (("p_vs_baseline", best), ("p_vs_meta_f1", REFERENCE)):
                    if other is not None and other != method and other in table.columns:
                        row[column] = sign_flip_test(values - table[other].to_numpy(dtype=float))
            rows.append(row)
    return pd.DataFrame(rows)
