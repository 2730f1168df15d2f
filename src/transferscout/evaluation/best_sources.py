"""Per target of a finished evaluation: the meta-model's first pick and the truly best source.

Read from ``<run>/evaluation/candidates.csv`` only, so the report and the command line show it
without reaching up into the pipeline that wrote the file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transferscout.evaluation.ordering import best_of, ranking_order
from transferscout.kinds import get_kind, score_label
from transferscout.meta.features import HYPERPARAMETERS

__all__ = ["best_sources"]


def _best_keys(group: pd.DataFrame) -> list[tuple[object, ...]]:
    """Each candidate's tie-break key for :func:`best_of`: its source, then its settings."""
    columns = ["source", *(c for c in HYPERPARAMETERS if c in group.columns)]
    return list(group[columns].itertuples(index=False))


def best_sources(run_dir: str | Path, feature_set: str = "all", *, seed: int = 0) -> pd.DataFrame:
    """Per target: the candidate the meta-model ranks first, and the truly best one.

    Read from ``<run>/evaluation/candidates.csv`` (predictions averaged over the meta-model's
    seeds); uses the richest available feature set.  Ties in the prediction go by predicted
    cost, then by a random key seeded with ``seed``.  Scores are the target's own primary
    metric: the predicted one is the target's single-task score plus the predicted gain.
    Columns name the metric when every target has one kind; otherwise column ``metric`` does.
    """
    table = pd.read_csv(Path(run_dir) / "evaluation" / "candidates.csv")
    column = f"predicted_{feature_set}"
    if column not in table.columns:
        column = [c for c in table.columns if c.startswith("predicted_")][-1]
    # The meta-model predicts the gain over the single-task model (tables written before it
    # did hold predicted scores and no real_gain).
    offset = table["target_score"] if "real_gain" in table.columns else 0.0
    table["_predicted"] = table[column] + offset
    kinds = table["target_kind"] if "target_kind" in table.columns else pd.Series(["binary"])
    # A predicted score is shown inside its metric's range (a gain may push it out).
    for kind_name in pd.unique(kinds):
        low, high = get_kind(str(kind_name)).metric_range
        rows_of_kind = (kinds == kind_name) if "target_kind" in table.columns else slice(None)
        table.loc[rows_of_kind, "_predicted"] = table.loc[rows_of_kind, "_predicted"].clip(
            low, high
        )
    mixed = kinds.nunique() > 1
    label = "" if mixed else f" {score_label(kinds)}"
    rows = []
    for target, group in table.groupby("target"):
        first = ranking_order(group[column], group["planned_cost"], seed=seed)[0]
        top = group.iloc[int(first)]
        best = group.iloc[best_of(group["real_f1"], _best_keys(group))]  # as Table 1 names it
        row: dict[str, object] = {"target": target}
        if mixed:
            row["metric"] = get_kind(str(top["target_kind"])).metric_label
        row.update(
            {
                "pick": top["source"],
                "lr": f"{top['target_learning_rate']:g}",
                f"predicted{label}": float(top["_predicted"]),
                f"real{label}": float(top["real_f1"]),
                "best": best["source"],
                f"best{label or ' score'}": float(best["real_f1"]),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)
