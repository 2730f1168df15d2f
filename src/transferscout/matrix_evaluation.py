"""``evaluate`` on a matrix run: the pool search replayed on anyone's transfer matrix.

A *matrix run* is a folder written by ``transferscout tables import-matrix``
(:mod:`transferscout.matrix`: ``matrix.json`` and ``matrix/pool.csv``, no ``config.json``).
:func:`evaluate_matrix` needs no configuration: it replays the pool search and its baselines
(:func:`transferscout.evaluation.pool_replay.pool_replay`) on the matrix's pool table, with

- the ``setting`` column as the one setting feature when it varies (else none, and the online
  hyperparameters-only baseline is left out: it would be random order);
- the matrix's signal columns (model-recycling: ``mnli_lp``) read by the product's policy
  (``pool``), each alone (``pool:<signal>``, when there are several), none (``pool:none``),
  and as plain per-target orders (``signal:<signal>``);
- signal hours 0 (a matrix records no signal cost), and equal cost per trial when the matrix
  has no hours (budgets are then shares of the candidates);

and ranks every target's candidates by each signal against random
(:func:`transferscout.evaluation.matrix.matrix_rankings`).  It writes ``<run>/evaluation/``
(``pool_replay.csv``, ``pool_replay_targets.csv``, ``pool_replay_trace.csv``, ``rankings.csv``,
``rankings_targets.csv``, ``summary.json``) and the report (``<run>/report/report.md`` and
``.html``).  When the matrix has one score per candidate (no validation scores), the search's
decisions and the truth read the same score, and the output says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from transferscout._text import counted
from transferscout.errors import TransferScoutError
from transferscout.evaluation.matrix import matrix_rankings
from transferscout.evaluation.pool_replay import (
    PRODUCT,
    REPLAY_BUDGETS,
    PoolReplayResult,
    pool_replay,
    varying_settings,
)
from transferscout.grid.store import check_run_folder
from transferscout.matrix import MatrixInfo, load_matrix_info, load_matrix_table
from transferscout.meta.pool import PoolPrior
from transferscout.report.build import ReportFiles
from transferscout.report.matrix import write_matrix_report

__all__ = ["MatrixEvaluation", "evaluate_matrix", "is_matrix_run"]

logger = logging.getLogger(__name__)

#: Columns of the replay's per-(method, budget) table kept in ``summary.json``.
_KEPT = ("loss_found", "within", "loss_handed", "trials", "spent_share")
_TESTS = ("diff_found", "p_found", "diff_handed", "p_handed")


def is_matrix_run(run_dir: str | Path) -> bool:
    """A folder with ``matrix.json`` and no ``config.json`` (written by ``import-matrix``)."""
    folder = Path(run_dir)
    return (folder / "matrix.json").is_file() and not (folder / "config.json").is_file()


@dataclass
class MatrixEvaluation:
    """What :func:`evaluate_matrix` computed and wrote.

    Attributes:
        info: The matrix's description (``matrix.json``).
        replay: The pool search and its baselines replayed.
        rankings: One row per (method, metric): each signal's order against random.
        ranking_targets: The same per target.
        summary: What ``summary.json`` holds (notes, the replay by budget, the rankings).
        notes: What the numbers rest on, one line each (also in the output and the report).
        folder: ``<run>/evaluation``.
        report: The report's files.
    """

    info: MatrixInfo
    replay: PoolReplayResult
    rankings: pd.DataFrame
    ranking_targets: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str]
    folder: Path
    report: ReportFiles


def _notes(
    info: MatrixInfo, signals: Sequence[str], settings: Sequence[str], candidates: int
) -> list[str]:
    read = ", ".join(signals) if signals else "none (the matrix has no signal column)"
    lines = [
        f"the product's policy (pool) reads the matrix's signals: {read}",
        "signal hours: 0 — the matrix records no signal cost",
        "settings: the setting column varies and is a feature of the model"
        if settings
        else "settings: one setting (or none varies): no setting feature; the online "
        "hyperparameters-only baseline is left out (it would be random order)",
    ]
    if info.has_hours:
        lines.append("hours: the matrix's target-stage hours; budgets are shares of their sum")
    else:
        lines.append(
            f"hours: none given, equal cost per trial; budgets are shares of the {candidates} "
            "candidates"
        )
    if info.has_validation:
        lines.append("decisions read the validation scores; the truth is the (test) score")
    else:
        lines.append(
            "one score: decisions and truth read the same score (the search observes the very "
            "number it is judged by)"
        )
    if info.scale:
        lines.append(f"scale: {info.scale}")
    return lines


def _by_budget(replay: PoolReplayResult) -> dict[str, Any]:
    by_budget: dict[str, Any] = {}
    for budget, group in replay.summary.groupby("budget", sort=True):
        rows = group.set_index("method")
        entry: dict[str, Any] = {}
        for method in rows.index:
            columns = _KEPT if method == PRODUCT else (*_KEPT, *_TESTS)
            entry[str(method)] = {c: float(cast(float, rows.at[method, c])) for c in columns}
        by_budget[f"{float(cast(float, budget)):g}"] = entry
    return by_budget


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def evaluate_matrix(
    run_dir: str | Path,
    *,
    budgets: Sequence[float] = REPLAY_BUDGETS,
    seed: int = 0,
    random_orders: int = 20,
) -> MatrixEvaluation:
    """Replay the pool search and rank by each signal on a matrix run; write the files.

    Args:
        run_dir: A matrix run (``transferscout tables import-matrix``).
        budgets: Shares of the matrix's transfer hours (of its candidates without hours).
        seed: Seeds every tie-break and the random orders.
        random_orders: Orders averaged per random baseline.

    Raises:
        TransferScoutError: Not a matrix run, its files unreadable, or the folder not
            writable (nothing is written then).
    """
    run = Path(run_dir)
    info = load_matrix_info(run)
    table = load_matrix_table(run)
    for name in ("evaluation", "report"):
        check_run_folder(run / name)
    if not budgets or any(not 0 < b <= 1 for b in budgets):
        raise TransferScoutError(f"budgets {list(budgets)}; expected shares in (0, 1]")
    signals = [s for s in info.signals if table[s].notna().any()]
    settings = varying_settings(table, ["setting"])
    notes = _notes(info, signals, settings, len(table))
    logger.info("replaying the pool search on %s", counted(len(table), "candidate"))
    replay = pool_replay(
        table,
        settings,
        family_hours=None,
        prior=PoolPrior(signals=tuple(signals)),
        budgets=budgets,
        seed=seed,
        signals=signals,
        random_orders=random_orders,
    )
    rankings_targets, rankings, ranking_facts = matrix_rankings(table, signals)
    unit = "matrix's transfer hours" if info.has_hours else "candidates"
    summary: dict[str, Any] = {
        "kind": "matrix",
        "matrix": {
            "path": info.path,
            "sha256": info.sha256,
            "format": info.format,
            "targets": len(info.targets),
            "candidates": len(table),
            "signals": list(info.signals),
        },
        "policy": {"signals": signals, "setting_columns": settings},
        "budget_unit": unit,
        "notes": notes,
        "pool_replay": {**replay.facts, "by_budget": _by_budget(replay)},
        "rankings": {
            **ranking_facts,
            "by_method": {
                str(method): {
                    str(row.metric): {"mean": row.mean, "diff": row.diff, "p": row.p}
                    for row in group.itertuples()
                }
                for method, group in rankings.groupby("method", sort=False)
            },
        },
    }
    summary = cast(dict[str, Any], _jsonable(summary))
    folder = run / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    replay.summary.to_csv(folder / "pool_replay.csv", index=False)
    replay.per_target.to_csv(folder / "pool_replay_targets.csv", index=False)
    replay.trace.to_csv(folder / "pool_replay_trace.csv", index=False)
    rankings.to_csv(folder / "rankings.csv", index=False)
    rankings_targets.to_csv(folder / "rankings_targets.csv", index=False)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    report = write_matrix_report(run)
    return MatrixEvaluation(
        info, replay, rankings, rankings_targets, summary, notes, folder, report
    )
