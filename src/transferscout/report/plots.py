"""Plots of the report.

Each plot is a data step (plain records, testable without a screen) and a matplotlib renderer
that draws those records and returns the figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Series",
    "budget_label",
    "budget_series",
    "gain_matrix",
    "render_budget",
    "render_gain",
    "render_rmse",
    "render_scatter",
    "rmse_series",
    "scatter_points",
]

#: Single signals drawn next to the meta-models on the budget plot.
SHOWN_SIGNALS = (
    "signal:ansat_ab_0.10",
    "signal:taskemb_rrf",
    "signal:textemb_cosine",
    "signal:estimators_logme",
)


@dataclass(frozen=True)
class Series:
    """One line of a plot."""

    label: str
    x: list[float]
    y: list[float]


def rmse_series(rmse: pd.DataFrame) -> list[Series]:
    """RMSE@K per feature set (seed Fig. 1)."""
    return [
        Series(str(name), group["k"].astype(float).tolist(), group["rmse"].astype(float).tolist())
        for name, group in rmse.groupby("feature_set", sort=False)
    ]


def budget_series(curves: pd.DataFrame, *, gain: bool = False) -> list[Series]:
    """Best score found vs training hours (seed Fig. 2).

    Lines: random, oracle, the baselines, the meta-models, adaptive search and a few single
    signals.  The height is the mean best score over targets (``best_f1``), or with ``gain``
    the mean best gain over each target's single-task model (``best_gain``: targets of
    several kinds).
    """
    column = "best_gain" if gain and "best_gain" in curves.columns else "best_f1"
    wanted = [
        m
        for m in curves["method"].drop_duplicates()
        if m in ("oracle", "random")
        or m.startswith(("meta:", "adaptive:", "baseline:"))
        or m in SHOWN_SIGNALS
    ]
    out = []
    for method in wanted:
        group = curves[curves["method"] == method].sort_values("k")
        out.append(
            Series(
                method,
                group["hours"].astype(float).tolist(),
                group[column].astype(float).tolist(),
            )
        )
    return out


def budget_label(summary: Mapping[str, Any]) -> str:
    """The y label of the budget plot for a run's evaluation summary."""
    from transferscout.report.wording import aggregate_label, is_gain

    if is_gain(summary):
        return "mean best gain over the single-task model found"
    return f"mean best {aggregate_label(summary)} found"


def gain_matrix(candidates: pd.DataFrame, table1: pd.DataFrame) -> pd.DataFrame:
    """Source × target: best transfer score (over settings) minus the single-task baseline.

    Each target in its own primary metric.  The baseline is Table 1's (``baseline``: the
    plain or compute-matched single-task model with the better validation score); a Table 1
    written before it had one gives the plain single-task row.
    """
    rows = table1[table1["target"] != "average"]
    if "baseline" in rows.columns:
        singles = rows[rows["baseline"].astype(bool)]
    else:
        singles = rows[rows["model"] == "encoder→target"]
    baseline = singles.set_index("target")["f1"]
    best = candidates.groupby(["source", "target"])["real_f1"].max().unstack("target")
    return best - baseline.reindex(best.columns)


def scatter_points(candidates: pd.DataFrame, feature_set: str) -> tuple[list[float], list[float]]:
    """Leave-one-target-out predicted and real gain over the single-task model per candidate.

    What the meta-model predicts (``real_gain``); a candidate table from before the
    meta-model learnt the gain pairs its predictions with ``real_f1``.
    """
    column = f"predicted_{feature_set}"
    real = "real_gain" if "real_gain" in candidates.columns else "real_f1"
    return candidates[column].astype(float).tolist(), candidates[real].astype(float).tolist()


def _figure(width: float = 6.4, height: float = 4.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def render_rmse(series: list[Series]) -> Figure:
    """Draw RMSE@K lines."""
    figure = _figure()
    axes = figure.subplots()
    for line in series:
        axes.plot(line.x, line.y, marker="o", markersize=3, label=line.label)
    axes.set_xlabel("K (top-K candidates by predicted gain, pooled over targets)")
    axes.set_ylabel("RMSE of predicted vs real gain")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def render_budget(series: list[Series], label: str = "mean best positive F1 found") -> Figure:
    """Draw best-score-found vs hours lines (``label``: the y axis, see :func:`budget_label`)."""
    figure = _figure(7.2, 4.6)
    axes = figure.subplots()
    for line in series:
        style = {"oracle": ("black", "--"), "random": ("grey", ":")}.get(line.label, (None, "-"))
        axes.step(
            line.x, line.y, where="post", color=style[0], linestyle=style[1], label=line.label
        )
    axes.set_xlabel("training hours spent (candidates trained in ranked order; signals included)")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    return figure


def render_pool_trace(trace: pd.DataFrame) -> Figure:
    """Each target's best validation score so far against the pool search's hours spent.

    ``trace`` is a pool search's ``trace.csv``; a target's line starts at its first trial.
    """
    figure = _figure(7.2, 4.6)
    axes = figure.subplots()
    colours = _distinct_colours(trace["target"].nunique())
    for colour, (target, rows) in zip(colours, trace.groupby("target", sort=True), strict=True):
        best = rows["best_validation_f1"].astype(float)
        axes.step(rows["total_hours"], best, where="post", color=colour, label=str(target))
        axes.plot(rows["total_hours"], rows["validation_f1"], "o", color=colour, markersize=3)
    axes.set_xlabel("hours spent by the search (signals and transfer target stages)")
    axes.set_ylabel("validation score (dots: each trial; line: best so far)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    return figure


def _distinct_colours(count: int) -> list[Any]:
    """``count`` colours, none repeated (tab20 beyond ten)."""
    from matplotlib import colormaps

    name = "tab10" if count <= 10 else "tab20"
    palette = colormaps[name]
    return [palette(i % palette.N) for i in range(count)]


def render_gain(matrix: pd.DataFrame) -> Figure:
    """Draw the source × target transfer-gain heatmap."""
    figure = _figure(1.2 + 0.6 * max(len(matrix.columns), 3), 1.0 + 0.5 * max(len(matrix), 3))
    axes = figure.subplots()
    values = matrix.to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    image = axes.imshow(values, cmap="RdBu", vmin=-limit or -1, vmax=limit or 1)
    axes.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(matrix.index)), matrix.index, fontsize=8)
    axes.set_xlabel("target")
    axes.set_ylabel("source")
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            axes.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes, label="best transfer − single-task score (own metric)")
    return figure


def render_scatter(points: tuple[list[float], list[float]], label: str) -> Figure:
    """Draw predicted vs real gain over the single-task model."""
    figure = _figure(4.6, 4.4)
    axes = figure.subplots()
    predicted, real = points
    axes.scatter(predicted, real, s=14, alpha=0.7)
    low = min([*predicted, *real], default=0.0)
    high = max([*predicted, *real], default=1.0)
    axes.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel(f"predicted gain ({label}, leave-one-target-out)")
    axes.set_ylabel("real gain over the single-task model")
    axes.grid(alpha=0.3)
    return figure
