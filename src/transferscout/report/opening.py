"""What a reader wants first: best source per target, time saved, search traces; how to read.

Data steps (plain tables and series, testable without a screen) and one matplotlib renderer,
used by :mod:`transferscout.report.build` and the command line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Hashable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from transferscout.evaluation.stats import sign_flip_test
from transferscout.evaluation.table1 import DEGENERATE_MARK, DEGENERATE_NOTE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ALPHA",
    "DEGENERATE_MARK",
    "DEGENERATE_NOTE",
    "HOW_TO_READ",
    "SAVINGS_TEST",
    "degenerate_text",
    "marked_targets",
    "mark_targets",
    "p_text",
    "recommended_method",
    "render_search_traces",
    "savings_table",
    "search_traces",
    "search_summary_table",
    "search_test",
    "search_test_text",
    "shorten",
]

#: Significance level at which a p-value is marked "n.s.".
ALPHA = 0.05

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

#: What the time-saved table's p columns test.
SAVINGS_TEST = (
    "vs <baseline>: the mean over targets of the per-target % saved at that tolerance (each "
    "target stops at its first candidate within the tolerance of its best) minus the best "
    "no-signal baseline's (negative: the baseline saved more), and the p-value of the "
    "two-sided paired sign-flip test of that difference across targets; n.s. = not "
    f"significant at {ALPHA:g}."
)

_TOLERANCE_COLUMNS = {
    "k": "depth",
    "hours": "hours",
    "saved_percent": "% saved",
    "f1_loss": "lost",  # headed by what is lost (savings_table's ``lost``)
}


def degenerate_text(summary: Mapping[str, Any]) -> str:
    """What the evaluation found degenerate: how many models, their targets, the baselines.

    Then the best transfers that are degenerate themselves, the targets left out of the
    ranking metrics (every candidate scores the same), and that the meta-model pools gains
    across kinds when targets are of several.  "" for a summary written before models were
    judged.
    """
    found = summary.get("degenerate_models")
    if not isinstance(found, Mapping):
        return ""
    return " ".join(t for t in (_degenerate_models_text(summary, found), _left_out(summary)) if t)


def _left_out(summary: Mapping[str, Any]) -> str:
    """The best transfers that are degenerate, and the targets no ranking metric counts."""
    text = ""
    transfers = summary.get("degenerate_best_transfers") or {}
    if transfers:
        text += (
            f"{DEGENERATE_MARK} Targets whose best transfer (Table 1) is itself degenerate, so "
            "that its gain is no finding: "
            + "; ".join(f"{target} (from {why})" for target, why in transfers.items())
            + "."
        )
    unranked = summary.get("unranked_targets")
    if isinstance(unranked, Mapping) and unranked.get("count"):
        text += (" " if text else "") + (
            f"Left out of the ranking metrics: {unranked['count']} target(s) "
            f"({', '.join(unranked['targets'])}) whose candidates all score the same, so "
            "that no order is better than another (NDCG, Regret@k, rank of best, Spearman "
            "and Kendall are over the other targets)."
        )
    kinds = summary.get("target_kinds") or {}
    if len(kinds) > 1:
        text += (" " if text else "") + (
            f"The meta-model learns gains across kinds: one model is fitted on the targets of "
            f"{len(kinds)} kinds ({', '.join(sorted(kinds))}), each gain in its target's own "
            "metric, so what it learns of one kind's gains moves its predictions for another's; "
            "a predicted score is shown clipped to its metric's range."
        )
    return text


def _degenerate_models_text(summary: Mapping[str, Any], found: Mapping[str, Any]) -> str:
    if not found["models"]:
        text = (
            f"No model is degenerate: none of the {found['of']} finished models predicts one "
            "class for nearly every validation example, or a constant."
        )
    else:
        kinds = ", ".join(f"{n} {kind}" for kind, n in found["by_trial_kind"].items())
        text = (
            f"Degenerate models: {found['models']} of {found['of']} finished models ({kinds}) "
            "predict one class for nearly every validation example, or a constant — targets "
            f"{', '.join(found['targets'])}."
        )
    baselines = summary.get("degenerate_baselines") or {}
    if baselines:
        text += (
            f" {DEGENERATE_MARK} Targets whose single-task baseline (its best-validation model) "
            "is degenerate, so that a gain over it is no finding: "
            + "; ".join(f"{target} ({why})" for target, why in baselines.items())
            + "."
        )
    return text


def marked_targets(summary: Mapping[str, Any]) -> list[str]:
    """The targets :data:`DEGENERATE_MARK` marks: a degenerate baseline or best transfer."""
    weak = {**(summary.get("degenerate_baselines") or {})}
    weak.update(summary.get("degenerate_best_transfers") or {})
    return sorted(weak)


def mark_targets(
    frame: pd.DataFrame, targets: Collection[str], column: str = "target"
) -> pd.DataFrame:
    """``frame`` with :data:`DEGENERATE_MARK` after each of ``targets`` in ``column``."""
    if frame.empty or column not in frame.columns or not targets:
        return frame
    marked = frame.copy()
    names = marked[column].astype(str)
    marked[column] = names.where(~names.isin(set(targets)), names + f" {DEGENERATE_MARK}")
    return marked


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
    savings: pd.DataFrame,
    methods: list[str] | None = None,
    *,
    long: bool = False,
    lost: str = "positive F1 lost",
) -> pd.DataFrame:
    """Time saved as one table: a row per method, per tolerance its depth, hours, % saved, loss.

    ``lost`` heads the loss (:func:`transferscout.report.wording.lost_header`).

    A spread over meta-model seeds (``saved_percent_sd``) is shown when the evaluation wrote
    it, and so is the paired test of per-target time saved against the best no-signal
    baseline (``diff_vs_baseline`` and ``p_vs_baseline``, column ``≤<tolerance> vs
    <baseline>``; "–" for the baseline itself and methods without per-target figures).
    With ``long=True`` each tolerance is a row of its own (method, tolerance, depth, …, with
    the baseline's name in a column of its own), narrow enough for a terminal.
    """
    if methods is None:
        methods = [
            m
            for m in dict.fromkeys(savings["method"])
            if str(m).startswith(("meta:", "adaptive:", "baseline:")) or m in ("random", "oracle")
        ]
    baselines = _baselines(savings)
    rows = []
    for method in methods:
        group = savings[savings["method"] == method]
        wide: dict[str, Any] = {"method": method}
        for record in group.to_dict("records"):
            cells = _tolerance_cells(record, baselines, lost)
            if long:
                baseline = baselines.get(record["tolerance"], "baseline")
                test = cells.pop(f"vs {baseline}", None)
                tolerance = {"tolerance": f"≤{record['tolerance']:g}"}
                tested = {} if test is None else {"baseline": baseline, "vs baseline": test}
                rows.append({"method": method} | tolerance | cells | tested)
            else:
                prefix = f"≤{record['tolerance']:g}"
                wide |= {f"{prefix} {label}": value for label, value in cells.items()}
        if not long:
            rows.append(wide)
    return pd.DataFrame(rows)


def _tolerance_cells(
    record: Mapping[Hashable, Any], baselines: dict[float, str], lost: str
) -> dict[str, str]:
    """One method's figures at one tolerance, keyed by their column label."""
    labels = {**_TOLERANCE_COLUMNS, "f1_loss": lost}
    cells = {label: _cell(column, record.get(column)) for column, label in labels.items()}
    spread = record.get("saved_percent_sd")  # over meta-model seeds, when evaluated
    if spread is not None and pd.notna(spread) and spread > 0:
        cells["% saved"] += f" ±{float(spread):.1f}"
    if "p_vs_baseline" in record:
        baseline = baselines.get(record["tolerance"], "baseline")
        cells[f"vs {baseline}"] = _test_cell(
            record.get("diff_vs_baseline"), record["p_vs_baseline"]
        )
    return cells


def _baselines(savings: pd.DataFrame) -> dict[float, str]:
    """Per tolerance, the baseline its paired tests compare with ("baseline" if unknown)."""
    if "baseline" not in savings.columns:
        return {}
    named = savings.dropna(subset=["baseline"])
    found = dict(zip(named["tolerance"], named["baseline"], strict=True))
    return {t: str(found.get(t, "baseline")) for t in savings["tolerance"]}


def _test_cell(difference: Any, p_value: Any) -> str:
    """``-7.6, p 0.155 n.s.``: the direction and the p-value ("–" when untested)."""
    if p_value is None or pd.isna(p_value):
        return "–"
    if difference is None or pd.isna(difference):
        return f"p {p_text(p_value)}"
    return f"{float(difference):+.1f}, p {p_text(p_value)}"


def p_text(value: Any) -> str:
    """A p-value as the report writes it ("" when missing; "n.s." at or above :data:`ALPHA`)."""
    if value is None or pd.isna(value):
        return ""
    text = "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"
    return text + (" n.s." if float(value) >= ALPHA else "")


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
    """One row per searched target: best model, its F1 next to the single-task model's, cost."""
    rows = []
    for target, (_, summary) in traces.items():
        best, reference = summary["best"], summary["reference"]
        weak = f" {DEGENERATE_MARK}" if reference.get("degenerate") else ""
        rows.append(
            {
                "target": target + weak,
                "best model": " → ".join(best["sources"]) or "single-task",
                "metric": best.get("metric", "f1"),  # older searches: binary
                "test score": round(float(best["test_f1"]), 4),
                "single-task score": round(float(reference["test_f1"]), 4),
                "tried": _tried(summary),
                "hours": round(float(summary["hours"]), 3),
                "stopped": summary["stopped"],
            }
        )
    return pd.DataFrame(rows)


def search_test(traces: dict[str, tuple[pd.DataFrame, dict[str, Any]]]) -> dict[str, float]:
    """The searches' kept models against their targets' single-task models, paired by target.

    Returns ``targets``, ``mean_gain`` (mean over searched targets of the kept model's test
    score minus the single-task model's) and ``p`` (two-sided sign-flip test of that mean; NaN
    for fewer than two targets, where no paired test is meaningful).
    """
    gains = [
        float(summary["best"]["test_f1"]) - float(summary["reference"]["test_f1"])
        for _, summary in traces.values()
    ]
    if not gains:
        return {"targets": 0, "mean_gain": math.nan, "p": math.nan}
    p = sign_flip_test(gains) if len(gains) >= 2 else math.nan
    return {"targets": len(gains), "mean_gain": float(np.mean(gains)), "p": p}


def search_test_text(traces: dict[str, tuple[pd.DataFrame, dict[str, Any]]]) -> str:
    """What the searches' kept models gained, and where the meta-model said little.

    A sentence on :func:`search_test` (none for fewer than two searched targets), and one
    naming the searches whose meta-model intervals were uninformative.
    """
    test = search_test(traces)
    vague = sorted(
        target
        for target, (_, summary) in traces.items()
        if not (summary.get("interval") or {}).get("informative", True)
    )
    text = ""
    if test["targets"] >= 2:
        text = (
            f"Kept model vs single-task model over the {test['targets']:g} searched targets: "
            f"mean test-score gain {test['mean_gain']:+.4f}, p = {p_text(test['p'])} (two-sided "
            "paired sign-flip test across targets)."
        )
    if vague:
        text += (
            f" For {', '.join(vague)}, the meta-model's 95% intervals were wider than half the "
            "metric's range (uninformative): its upper bounds, and so the stop rule, said little."
        )
    return text.strip()


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
