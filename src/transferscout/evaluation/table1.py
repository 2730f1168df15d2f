"""The analogue of the seed paper's Table 1.

Per target, the single-task model (BERT→B) — and the compute-matched one, trained for a
transfer's total epochs — and the best transfer model (BERT→A→B), with their settings, the
target's own primary metric and accuracy, and the transfer's gain over the better single-task
model by validation.  Column ``f1`` holds the primary
metric named in column ``metric``: positive-class F1 (binary), macro-F1 (multi-class) or
Spearman's ρ (regression); accuracy is NaN for regression.  Column ``kind`` is the target's
kind: the average rows are per kind and metric, never mixing two kinds' ``f1``.  Column
``degenerate`` marks a model that predicts one class for nearly every validation example (or a
constant) —
:func:`~transferscout.grid.models.trial_degenerate`, for any of its seeds — and
``baseline_degenerate`` every row of a target whose best single-task model is: a transfer's
gain over such a baseline is no finding (:data:`DEGENERATE_MARK` marks it where shown).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.evaluation.ordering import best_of
from transferscout.grid.models import (
    matched_single_task_ids,
    trial_degenerate,
    trial_kind,
    trial_score,
)
from transferscout.grid.store import RunStore

__all__ = [
    "DEGENERATE_MARK",
    "DEGENERATE_NOTE",
    "MATCHED",
    "MODELS",
    "SINGLE",
    "TRANSFER",
    "best_models_table",
    "degenerate_best_transfers",
]

#: The table's models, in its order.
SINGLE, MATCHED, TRANSFER = "encoder→target", "encoder→target (matched)", "encoder→source→target"
MODELS = (SINGLE, MATCHED, TRANSFER)

#: The mark of a score or gain over a degenerate single-task baseline, wherever it is shown.
DEGENERATE_MARK = "†"
#: The footnote the mark refers to.
DEGENERATE_NOTE = (
    f"{DEGENERATE_MARK} the target's single-task baseline is degenerate, or its best transfer "
    "is (it predicts one class for nearly every validation example, or a constant): a gain "
    "over it, or of it, is no finding"
)


#: The columns whose order breaks a tie between equally scored models (:func:`best_of`).
BEST_KEY = (
    "source",
    "source_lr",
    "source_epochs",
    "source_batch",
    "target_lr",
    "target_epochs",
    "target_batch",
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
    """Per target the single-task model(s), the best transfer, and average rows per model.

    Results of the same configuration over several seeds are averaged first.  The best
    transfer (``encoder→source→target``) is the highest mean test score of the target's
    primary metric, as the seed paper's table does with F1: the full grid's best.  The
    single-task rows are chosen by their mean *validation* score (column ``validation``),
    never by test: ``encoder→target`` among the grid's plain single-task settings and, when
    the run has them (``grid.matched_single_task``), ``encoder→target (matched)`` among the
    compute-matched ones (trained for a transfer's source + target epochs).  Of the two, the
    one with the higher validation score is the target's ``baseline``; the transfer row's
    ``gain`` is its score minus the baseline's, and ``gain_plain`` — the figure before the
    matched baseline existed — minus the plain single-task model's.  Transfers from a task to
    itself count only with ``allow_self_transfer`` (the evaluation's setting, applied
    everywhere).  Only single-task and transfer trials count (a search's chains are not the
    table's models), and with ``trials`` only those ids (the configured grid: a searched new
    target or a chain's middle stage outside the grid is left out).
    """
    with RunStore(run_dir, readonly=True) as store:
        every = store.rows()
    matched = matched_single_task_ids(every)
    records = []
    for row in every:
        if row.status != "done" or row.kind not in ("single", "transfer"):
            continue
        if (trials is not None and row.id not in trials) or row.metrics is None:
            continue
        if row.source == row.target and not allow_self_transfer:
            continue
        source = _settings(row.config, "source")
        target = _settings(row.config, "target")
        model = TRANSFER if row.kind == "transfer" else MATCHED if row.id in matched else SINGLE
        records.append(
            {
                "target": row.target,
                "model": model,
                "source": row.source or "",
                "source_lr": source["lr"],
                "source_epochs": source["epochs"],
                "source_batch": source["batch"],
                "target_lr": target["lr"],
                "target_epochs": target["epochs"],
                "target_batch": target["batch"],
                "kind": trial_kind(row).name,
                "metric": trial_kind(row).primary_metric,
                "f1": trial_score(row),
                "accuracy": row.metrics.get("test_accuracy", np.nan),
                "validation": trial_score(row, "validation"),
                "degenerate": trial_degenerate(row) is not None,
            }
        )
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame(records).fillna({"source_lr": -1, "source_epochs": -1, "source_batch": -1})
    values = ["f1", "accuracy", "validation"]
    keys = [c for c in frame.columns if c not in (*values, "degenerate")]
    frame = frame.groupby(keys, as_index=False).agg(
        **{v: (v, "mean") for v in values}, degenerate=("degenerate", "any")
    )
    # Singles by validation (NaN last), transfers by test; ties go by the one rule that names
    # a best source everywhere (ordering.best_of: source, then settings).
    frame["_order"] = np.where(
        frame["model"] == TRANSFER, frame["f1"], frame["validation"].fillna(-np.inf)
    )
    chosen = [
        group.index[best_of(group["_order"], list(group[list(BEST_KEY)].itertuples(index=False)))]
        for _, group in frame.groupby(["target", "model"], sort=False)
    ]
    best = frame.loc[chosen].drop(columns="_order")
    best["_rank"] = best["model"].map(MODELS.index)
    best = best.sort_values(["target", "_rank"]).drop(columns="_rank").reset_index(drop=True)
    best = best.replace({-1: None})
    best = _with_gains(best)
    # The baseline (the better single-task model by validation) decides whether a target's
    # gains are over a degenerate model.
    weak = set(best.loc[best["baseline"] & best["degenerate"].astype(bool), "target"])
    best["baseline_degenerate"] = best["target"].isin(weak)
    # Targets of different kinds have different metrics: one average row per kind and metric
    # (a binary task's positive F1 and a QA task's SQuAD F1 are both ``f1``; its flags:
    # whether any averaged row has them).
    averaged = [*values, "gain", "gain_plain"]
    averages = best.groupby(["model", "kind", "metric"], as_index=False, sort=False).agg(
        **{v: (v, "mean") for v in averaged},
        degenerate=("degenerate", "any"),
        baseline_degenerate=("baseline_degenerate", "any"),
    )
    averages["_rank"] = averages["model"].map(MODELS.index)
    averages = averages.sort_values(["_rank", "kind", "metric"], kind="stable")
    averages = averages.drop(columns="_rank")
    averages["target"] = "average"
    averages["baseline"] = False
    return pd.concat([best, averages], ignore_index=True)


def _with_gains(best: pd.DataFrame) -> pd.DataFrame:
    """Mark each target's baseline and add the transfer rows' ``gain`` and ``gain_plain``.

    The baseline is the single-task row with the higher validation score (the plain one on
    a tie: it costs less).  ``best`` holds one row per target and model, in :data:`MODELS`
    order.
    """
    models = best["model"].to_numpy()
    score = best["f1"].to_numpy(dtype=float)
    validation = np.nan_to_num(best["validation"].to_numpy(dtype=float), nan=-np.inf)
    baseline = np.zeros(len(best), dtype=bool)
    gain = np.full(len(best), np.nan)
    gain_plain = np.full(len(best), np.nan)
    for index in best.groupby("target", sort=False).indices.values():
        singles = [i for i in index if models[i] != TRANSFER]
        if not singles:
            continue
        chosen = max(singles, key=lambda i: validation[i])  # the first (plain) on a tie
        baseline[chosen] = True
        plain = [i for i in singles if models[i] == SINGLE]
        for i in index:
            if models[i] == TRANSFER:
                gain[i] = score[i] - score[chosen]
                gain_plain[i] = score[i] - score[plain[0]] if plain else np.nan
    return best.assign(baseline=baseline, gain=gain, gain_plain=gain_plain)


def degenerate_best_transfers(table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """``{"degenerate_best_transfers": {target: source}}`` where the best transfer is degenerate.

    A transfer that predicts one class for (nearly) every validation example — all positive
    scores a binary F1 of 2p / (1 + p) for a positive share p — is counted as a gain by
    nothing that reads this: its target is said and marked, as a degenerate baseline's is.
    ``{}`` when there is none (or for a table written before models were judged).
    """
    if table.empty or "degenerate" not in table.columns:
        return {}
    rows = table[
        (table["model"] == TRANSFER)
        & (table["target"] != "average")
        & table["degenerate"].astype(bool)
    ]
    found = {str(r.target): str(r.source) for r in rows.itertuples(index=False)}
    return {"degenerate_best_transfers": dict(sorted(found.items()))} if found else {}
