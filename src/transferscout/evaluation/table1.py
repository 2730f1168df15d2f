"""The analogue of the seed paper's Table 1.

Per target, the best single-task model (BERT→B) and the best transfer model (BERT→A→B), with
their settings, positive F1 and accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transferscout.grid.store import RunStore

__all__ = ["best_models_table"]


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


def best_models_table(run_dir: str | Path, *, allow_self_transfer: bool = False) -> pd.DataFrame:
    """Two rows per target (single-task, best transfer) and an average row per model kind.

    Results of the same configuration over several seeds are averaged first; "best" is the
    highest mean test F1, as in the seed paper's table.  Transfers from a task to itself count
    only with ``allow_self_transfer`` (the evaluation's setting, applied everywhere).
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows(status="done")
    records = []
    for row in rows:
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
                "f1": row.metrics["test_f1"],
                "accuracy": row.metrics["test_accuracy"],
            }
        )
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame(records).fillna({"source_lr": -1, "source_epochs": -1, "source_batch": -1})
    keys = [c for c in frame.columns if c not in ("f1", "accuracy")]
    frame = frame.groupby(keys, as_index=False)[["f1", "accuracy"]].mean()
    best = (
        frame.sort_values("f1", ascending=False)
        .groupby(["target", "model"], as_index=False)
        .head(1)
    )
    best = best.sort_values(["target", "model"], ascending=[True, False]).reset_index(drop=True)
    best = best.replace({-1: None})
    averages = best.groupby("model", as_index=False)[["f1", "accuracy"]].mean()
    averages["target"] = "average"
    return pd.concat([best, averages], ignore_index=True)
