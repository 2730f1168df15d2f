"""What a reader wants first: best source per target, time saved, search traces; how to read.

Data steps (plain tables and series, testable without a screen) and one matplotlib renderer,
used by :mod:`transferscout.report.build` and the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "HOW_TO_READ",
    "recommended_method",
    "render_search_traces",
    "savings_table",
    "search_traces",
    "search_summary_table",
    "shorten",
]

#: One line per figure of the report: what the axes are and what "good" looks like.
HOW_TO_READ = {
    "rmse": "How to read this: each line is a feature set; lower is better. At K, the error of "
    "the K candidates the meta-model rates highest, pooled over targets.",
    "budget": "How to read this: each line is a way of ordering candidates; a line that rises "
    "to the oracle's height further left finds the best models with fewer training hours.",
    "gain": "How to read this: rows are sources, columns targets; blue cells helped the "
    "target beyond its single-task model, red cells hurt it (best setting of each pair).",
    "scatter": "How to read this: each dot is a candidate; dots on the diagonal were "
    "predicted exactly, dots above it did better than predicted.",
    "search": "How to read this: one line per searched target; each step is a trained "
    "candidate, the height is the test score (the target's own metric) of the best model so "
    "far (chosen by its validation score), "
    "the dotted line the target's single-task model.",
}

_TOLERANCE_COLUMNS = {
    "k": "depth",
    "hours": "hours",
    "saved_percent": "% saved",
    "f1_loss": "lost",
}


def shorten(name: str, width: int = 28) -> str:
    """Shorten a name from the middle so its start and end (what tells names apart) stay."""
    if len(name) <= width:
        return name
    keep = width - 1
    head = (keep + 1) // 2
    return name[:head] + "…" + name[len(name) - (keep - head) :]


def recommended_method(savings: pd.DataFrame) -> str:
    """The method Recommend and search use: the richest meta-model the evaluation has."""
    methods = list(dict.fromkeys(savings["method"]))
    for name in ("meta:all", "meta:f1+ansat+taskemb", "meta:f1+ansat", "meta:f1"):
        if name in methods:
            return name
    return str(next((m for m in methods if str(m).startswith("meta:")), methods[0]))


def savings_table(
    savings: pd.DataFrame, methods: list[str] | None = None, *, lost: str = "positive F1 lost"
) -> pd.DataFrame:
    """Time saved as one table: a row per method, per tolerance its depth, hours, % saved, loss.

    ``lost`` heads the loss columns (:func:`transferscout.report.wording.lost_header`).

    A spread over meta-model seeds (``saved_percent_sd``) and a p-value (``p_value``) are
    shown when the evaluation wrote them.
    """
    if methods is None:
        methods = [
            m
            for m in dict.fromkeys(savings["method"])
            if str(m).startswith(("meta:", "adaptive:", "baseline:")) or m in ("random", "oracle")
        ]
    rows = []
    for method in methods:
        group = savings[savings["method"] == method]
        row: dict[str, Any] = {"method": method}
        for record in group.to_dict("records"):
            tolerance = f"≤{record['tolerance']:g}"
            for column, label in _TOLERANCE_COLUMNS.items():
                value = record.get(column)
                header = lost if column == "f1_loss" else label
                row[f"{tolerance} {header}"] = _cell(column, value)
            spread = record.get("saved_percent_sd")  # over meta-model seeds, when evaluated
            if spread is not None and pd.notna(spread) and spread > 0:
                row[f"{tolerance} % saved"] += f" ±{float(spread):.1f}"
            if "p_value" in record:
                row[f"{tolerance} p"] = _cell("p_value", record["p_value"])
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(column: str, value: Any) -> str:
    if value is None or pd.isna(value):
        return "–"
    if column == "k":
        return f"{float(value):g}"
    if column == "saved_percent":
        return f"{float(value):.1f}%"
    if column == "hours":
        return f"{float(value):.2f}"
    return f"{float(value):.3f}"


def search_traces(run_dir: str | Path) -> dict[str, tuple[pd.DataFrame, dict[str, Any]]]:
    """Each searched target's trace and summary (``<run>/search/<target>/``), finished ones."""
    found: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {}
    for folder in sorted((Path(run_dir) / "search").glob("*/")):
        trace, summary = folder / "trace.csv", folder / "search.json"
        if trace.exists() and summary.exists():
            found[folder.name] = (
                pd.read_csv(trace),
                json.loads(summary.read_text(encoding="utf-8")),
            )
    return found


def search_summary_table(traces: dict[str, tuple[pd.DataFrame, dict[str, Any]]]) -> pd.DataFrame:
    """One row per searched target: best model, its score next to the single-task model's, cost.

    Scores are the target's own primary metric (column ``metric``).
    """
    rows = []
    for target, (_, summary) in traces.items():
        best, reference = summary["best"], summary["reference"]
        rows.append(
            {
                "target": target,
                "best model": " → ".join(best["sources"]) or "single-task",
                "metric": best.get("metric", "positive F1"),  # older searches: binary
                "test score": round(float(best["test_f1"]), 4),
                "single-task score": round(float(reference["test_f1"]), 4),
                "tried": _tried(summary),
                "hours": round(float(summary["hours"]), 3),
                "stopped": summary["stopped"],
            }
        )
    return pd.DataFrame(rows)


def _tried(summary: dict[str, Any]) -> str:
    chain = int(bool((summary.get("chain") or {}).get("tried")))
    text = f"{summary['tried'] - chain} of {summary['pool']}"
    return text + (" + 1 chain" if chain else "")


def render_search_traces(traces: dict[str, tuple[pd.DataFrame, dict[str, Any]]]) -> Figure:
    """Best test score so far against cumulative training hours, one line per target."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    for target, (trace, summary) in traces.items():
        start = float(summary["hours"]) - float(trace["hours"].sum()) if len(trace) else 0.0
        hours = [start, *trace["total_hours"].tolist()]
        best = [float(summary["reference"]["test_f1"]), *trace["best_test_f1"].tolist()]
        (line,) = axes.step(hours, best, where="post", marker="o", label=shorten(target))
        axes.axhline(float(summary["reference"]["test_f1"]), color=line.get_color(), linestyle=":")
    axes.set_xlabel("training hours (reference models, then each candidate)")
    axes.set_ylabel("test score of the best model so far (own metric)")
    if traces:
        axes.legend(fontsize="small")
    return figure
