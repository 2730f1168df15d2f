"""The analogue of the seed paper's Table 1.

Per target, the best single-task model (BERT→B) and the best transfer model (BERT→A→B), with
their settings, the target's own primary metric and accuracy.  Column ``f1`` holds the primary
metric named in column ``metric``: positive-class F1 (binary), macro-F1 (multi-class) or
Spearman's ρ (regression); accuracy is NaN for regression.  Column ``degenerate`` marks a
model that predicts one class for nearly every validation example (or a constant) —
:func:`~transferscout.grid.models.trial_degenerate`, for any of its seeds — and
``baseline_degenerate`` every row of a target whose best single-task model is: a transfer's
gain over such a baseline is no finding (:data:`DEGENERATE_MARK` marks it where shown).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.grid.models import trial_degenerate, trial_kind, trial_score
from transferscout.grid.store import RunStore

__all__ = ["DEGENERATE_MARK", "DEGENERATE_NOTE", "best_models_table"]

#: The mark of a score or gain over a degenerate single-task baseline, wherever it is shown.
DEGENERATE_MARK = "†"
#: The footnote the mark refers to.
DEGENERATE_NOTE = (
    f"{DEGENERATE_MARK} the target's single-task baseline is degenerate (it predicts one class "
    "for nearly every validation example, or a constant): a gain over it is no finding"
)


def _settings(config: dict[str, object], stage: str) -> dict[str, object]:
    part = config.get(stage)
    if not isinstance(part, dict):
        return {"lr": None, "epochs": None, "batch": None}
    settings = part["settings"]
    return {
        "lr": settings["learning_rate"],
        "epochs": settings["epochs"],
        "batch": settings["batch_size"],
    }


def best_models_table(
    run_dir: str | Path,
    *,
    allow_self_transfer: bool = False,
    trials: Collection[str] | None = None,
) -> pd.DataFrame:
    """Two rows per target (single-task, best transfer) and average rows per model and metric.

    Results of the same configuration over several seeds are averaged first; "best" is the
    highest mean test score of the target's primary metric, as the seed paper's table does
    with F1.  Transfers from a task to itself count only with ``allow_self_transfer`` (the
    evaluation's setting, applied everywhere).  Only single-task and transfer trials count
    (a search's chains are not the table's models), and with ``trials`` only those ids (the
    configured grid: a searched new target or a chain's middle stage outside the grid is left
    out).
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows(status="done")
    records = []
    for row in rows:
        if row.kind not in ("single", "transfer") or (trials is not None and row.id not in trials):
            continue
        if row.metrics is None or (row.source == row.target and not allow_self_transfer):
            continue
        source = _settings(row.config, "source")
        target = _settings(row.config, "target")
        records.append(
            {
                "target": row.target,
                "model": "encoder→target" if row.kind == "single" else "encoder→source→target",
                "source": row.source or "",
                "source_lr": source["lr"],
                "source_epochs": source["epochs"],
                "source_batch": source["batch"],
                "target_lr": target["lr"],
                "target_epochs": target["epochs"],
                "target_batch": target["batch"],
                "metric": trial_kind(row).primary_metric,
                "f1": trial_score(row),
                "accuracy": row.metrics.get("test_accuracy", np.nan),
                "degenerate": trial_degenerate(row) is not None,
            }
        )
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame(records).fillna({"source_lr": -1, "source_epochs": -1, "source_batch": -1})
    keys = [c for c in frame.columns if c not in ("f1", "accuracy", "degenerate")]
    frame = frame.groupby(keys, as_index=False).agg(
        f1=("f1", "mean"), accuracy=("accuracy", "mean"), degenerate=("degenerate", "any")
    )
    best = (
        frame.sort_values("f1", ascending=False)
        .groupby(["target", "model"], as_index=False)
        .head(1)
    )
    best = best.sort_values(["target", "model"], ascending=[True, False]).reset_index(drop=True)
    best = best.replace({-1: None})
    single = best["model"] == "encoder→target"
    weak = set(best.loc[single & best["degenerate"].astype(bool), "target"])
    best["baseline_degenerate"] = best["target"].isin(weak)
    # Targets of different kinds have different metrics: one average row per metric (its
    # flags: whether any averaged row has them).
    averages = best.groupby(["model", "metric"], as_index=False).agg(
        f1=("f1", "mean"),
        accuracy=("accuracy", "mean"),
        degenerate=("degenerate", "any"),
        baseline_degenerate=("baseline_degenerate", "any"),
    )
    averages["target"] = "average"
    return pd.concat([best, averages], ignore_index=True)
