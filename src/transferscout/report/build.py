"""Write the run's report: one self-contained HTML page (images embedded) and a Markdown twin.

The report is built from the files the evaluation wrote (``<run>/evaluation``) and the run's
configuration, so it can be regenerated without recomputing anything.
"""

from __future__ import annotations

import base64
import html
import io
import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from transferscout.errors import TransferScoutError
from transferscout.evaluation.best_sources import best_sources
from transferscout.evaluation.cross_pool import CROSS_POOL_FOLDER
from transferscout.report import opening, plots, wording

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CSS", "ReportFiles", "markdown_table", "png", "versions", "write_report"]

#: The report pages' style sheet.
CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0 1.5rem; }
code, pre { background: #f6f6f6; }
.note { color: #555; font-size: 0.9rem; }
"""

_VERSIONED = ("transferscout", "torch", "transformers", "xgboost", "scikit-learn", "captum")


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written."""

    html: Path
    markdown: Path


def png(figure: Figure) -> bytes:
    """A figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries a report's numbers depend on."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.csv"
    if not path.exists():
        raise TransferScoutError(f"{path}: missing; run `transferscout evaluate` first")
    return pd.read_csv(path)


def _shown_methods(ranking: pd.DataFrame) -> pd.DataFrame:
    """Meta-models, baselines, oracle, random, and the non-ANSAT and plotted signals.

    Each signal appears alone and within the hyperparameter prior.
    """
    method = ranking["method"]
    return ranking[
        method.str.startswith(("meta:", "adaptive:", "baseline:"))
        | method.isin(["oracle", "random", *plots.SHOWN_SIGNALS])
        | (
            method.str.startswith(("signal:", "prior:"))
            & ~method.str.startswith(("signal:ansat_", "prior:ansat_"))
        )
        | method.isin([s.replace("signal:", "prior:") for s in plots.SHOWN_SIGNALS])
    ]


def _cell(estimate: float, sd: float, low: float, high: float) -> str:
    text = f"{estimate:.3f}"
    if pd.notna(sd):
        text += f" ±{sd:.3f}"
    if pd.notna(low):
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def _pivot(shown: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    table = shown.assign(value=values).pivot(index="method", columns="metric", values="value")
    table.columns.name = None
    return table.reindex(list(dict.fromkeys(shown["method"]))).reset_index()


def _ranking_table(ranking: pd.DataFrame) -> pd.DataFrame:
    """Estimate ± SD over meta-model seeds [95% bootstrap interval over targets]."""
    shown = _shown_methods(ranking)
    columns = ("estimate", "seed_sd", "low", "high")
    return _pivot(shown, [_cell(*row) for row in shown[list(columns)].itertuples(index=False)])


def _tests_table(ranking: pd.DataFrame) -> pd.DataFrame:
    """P vs the best no-signal baseline / p vs meta:f1, per tested metric."""
    shown = _shown_methods(ranking.dropna(subset=["baseline"]))
    cells = [
        f"{opening.p_text(b)} / {opening.p_text(f)}" if pd.notna(b) or pd.notna(f) else ""
        for b, f in zip(shown["p_vs_baseline"], shown["p_vs_meta_f1"], strict=True)
    ]
    return _pivot(shown, cells)


def _baselines_text(ranking: pd.DataFrame, summary: dict[str, Any]) -> str:
    tested = ranking.dropna(subset=["baseline"]).drop_duplicates("metric")
    pairs = zip(tested["metric"], tested["baseline"], strict=True)
    chosen = ", ".join(f"{metric}: {baseline}" for metric, baseline in pairs)
    return (
        f"Each cell: p against the best no-signal baseline / p against meta:f1 ({chosen}). "
        f"{summary.get('paired_tests', '')}. n.s. = not significant at {opening.ALPHA:g}."
    )


def _savings_text(savings: pd.DataFrame, summary: dict[str, Any]) -> list[str]:
    lines = []
    for method in [
        m
        for m in savings["method"].drop_duplicates()
        if str(m).startswith(("meta:", "adaptive:", "baseline:"))
    ]:
        for row in savings[savings["method"] == method].itertuples():
            if pd.isna(row.k):
                continue
            spread = (
                f" ±{row.saved_percent_sd:.1f}, range {row.saved_min:.1f}–{row.saved_max:.1f} "
                f"over {row.seeds} seeds"
                if row.seeds > 1
                else ""
            )
            lines.append(
                f"{method}: {row.saved_percent:.1f}%{spread} less training time for a "
                f"{row.f1_loss:.4f} loss in {wording.loss_phrase(summary)} (top {row.k:g} per "
                f"target, tolerance {row.tolerance})"
            )
    full = summary.get("full_grid_hours", 0.0)
    signals = summary.get("signal_hours", 0.0)
    lines.append(
        f"full grid: {float(full):.3f} training hours; signals: {float(signals):.3f} hours; "
        f"one single-task model per task: {float(summary.get('single_task_hours', 0.0)):.3f} "
        "hours"
    )
    recreated = summary.get("recreated_models")
    if recreated:
        lines.append(
            f"{recreated['models']} models were trained again because their files were lost "
            f"({float(recreated['hours']):.3f} hours, not charged: every trial keeps its first "
            f"measured hours); {recreated['not_reproduced']} did not reproduce their first "
            "results (the new ones are used)"
        )
    return lines


def _noise_text(summary: dict[str, Any]) -> str:
    noise = summary.get("seed_noise") or {}
    label = wording.aggregate_label(summary)
    own = " (each task's own metric)" if wording.is_gain(summary) else ""
    if not noise.get("settings_with_repeated_seeds"):
        return (
            "Each single-task setting was trained with one seed, so seed noise is unknown; "
            "set grid.single_task_seeds to measure it."
        ) + _transfer_noise_text(noise, label)
    text = (
        f"Over {noise['settings_with_repeated_seeds']} single-task settings with at least "
        f"{noise['seeds_per_setting']} seeds, the test {label}{own} has a mean standard "
        "deviation of "
        f"{noise['mean_std_f1']:.4f} (largest {noise['max_std_f1']:.4f}) and a median range of "
        f"{noise['median_range_f1']:.4f} (largest {noise['max_range_f1']:.4f})."
    )
    if "candidates_compared" in noise:
        text += (
            f" Of {noise['candidates_compared']} transfer candidates, "
            f"{100 * noise['share_helped']:.1f}% beat their target's single-task {label} and "
            f"{100 * noise['share_hurt']:.1f}% fell below it beyond seed noise, and "
            f"{100 * noise['share_within_noise']:.1f}% are within the noise (mean gain "
            f"{noise['mean_gain']:+.4f}); test: {noise['test']} (cut-off {noise['t_cutoff']:.2f} "
            f"standard errors with {noise['seeds_per_setting']} single-task seeds)."
        )
    return text + _transfer_noise_text(noise, label)


def _transfer_noise_text(noise: dict[str, Any], label: str) -> str:
    """How finely the transfer seeds resolve each target's best candidate, when known."""
    if "transfer_std_f1" not in noise:
        return ""
    return (
        f" Transfer candidates trained with several seeds "
        f"({noise['transfer_candidates_with_repeated_seeds']}; median "
        f"{noise['transfer_seeds_per_candidate']:g} seeds) vary by a standard deviation of "
        f"{noise['transfer_std_f1']:.4f} in {label}, so a candidate's mean over its seeds has a "
        f"standard error of {noise['transfer_mean_se_f1']:.4f}; a target's best candidate leads "
        f"the second by a median {noise['median_best_gap']:.4f}, and on average "
        f"{noise['mean_within_one_se_of_best']:.1f} other candidates per target are within one "
        "standard error of the best."
    )


#: The pool-search replay's rows shown: the product, the plain baselines, the bound.
_REPLAY_SHOWN = {
    "pool": "pool search",
    "random": "random order",
    "online:hyperparameters": "hyperparameters only (online)",
    "oracle": "oracle",
}


def _pool_replay(folder: Path) -> list[tuple[str, pd.DataFrame, str]]:
    """The pool search replayed at 10% and 20% of the grid's transfer hours, when evaluated."""
    path = folder / "pool_replay.csv"
    if not path.exists():
        return []
    replay = pd.read_csv(path)
    replay = replay[replay["method"].isin(list(_REPLAY_SHOWN)) & replay["budget"].isin([0.1, 0.2])]
    if replay.empty:
        return []
    rows = []
    for method, name in _REPLAY_SHOWN.items():
        row: dict[str, object] = {"method": name}
        for budget, group in replay[replay["method"] == method].groupby("budget"):
            at = f"{float(cast(float, budget)):.0%}"
            found = group.iloc[0]
            row[f"loss {at}"] = round(float(found["loss_found"]), 4)
            row[f"within 0.01 {at}"] = f"{float(found['within']):.0%}"
            row[f"handed {at}"] = round(float(found["loss_handed"]), 4)
            row[f"p {at}"] = opening.p_text(found["p_found"])
        if len(row) > 1:
            rows.append(row)
    ten = replay[replay["budget"] == 0.1].set_index("method")
    sentence = ""
    if {"pool", "random"} <= set(ten.index):
        pool, rand = ten.loc["pool"], ten.loc["random"]
        verdict = "better than" if pool["loss_found"] < rand["loss_found"] else "no better than"
        sentence = (
            f" In plain words: with a tenth of the grid's transfer hours, the pool search's best "
            f"model is on average {pool['loss_found']:.4f} below each target's grid best "
            f"({pool['within']:.0%} of targets within 0.01), {verdict} random order "
            f"({rand['loss_found']:.4f}; p {opening.p_text(rand['p_found']) or 'n/a'})."
        )
    return [
        (
            "Pool search replayed",
            pd.DataFrame(rows),
            "The pool search's loop replayed on this grid (results read, not trained) at 10% and "
            "20% of the grid's transfer hours (its candidates' target stages; signals read are "
            "spent too, single-task models are counted once, beside). loss: mean over targets of "
            "the grid's best test score minus the best found (single-task model or a trained "
            "candidate); handed: the same for the model it hands over (best validation); p: "
            "paired sign-flip test of the pool search's loss against the method's. Every method: "
            "evaluation/pool_replay.csv." + sentence,
        )
    ]


def _cross_pool(folder: Path) -> list[tuple[str, pd.DataFrame, str]]:
    """The cross-pool evaluation's tables, when ``evaluate --fit-on`` wrote them."""
    cross = folder / CROSS_POOL_FOLDER
    if not (cross / "versus_within.csv").exists():
        return []
    summary = json.loads((cross / "summary.json").read_text(encoding="utf-8"))
    ranking = pd.read_csv(cross / "ranking.csv")
    compared = pd.read_csv(cross / "versus_within.csv")
    fitted = (
        f"Meta-models fitted on {summary.get('fitted_on')} "
        f"({summary.get('fitted_on_candidates')} candidates of "
        f"{len(summary.get('fitted_on_targets', []))} targets) rank this run's candidates"
    )
    compared = compared.assign(
        p=[opening.p_text(p) if pd.notna(p) else "" for p in compared["p"]]
    ).round(4)
    return [
        (
            "A meta-model that travels: ranking quality when fitted on another run",
            _ranking_table(ranking),
            f"{fitted}; {summary.get('cross_pool', '')}.",
        ),
        (
            "A meta-model that travels: paired tests (p-values)",
            _tests_table(ranking),
            _baselines_text(ranking, summary),
        ),
        (
            "A meta-model that travels: fitted on another run vs leave-one-target-out here",
            compared,
            "Per method and metric, the means over the same targets of the cross-pool and the "
            "within-pool (leave-one-target-out) values, their difference (cross - within) and "
            "the two-sided sign-flip p-value of the per-target differences.",
        ),
    ]


def _completeness(run_dir: Path) -> tuple[pd.DataFrame, str]:
    """Per attributed model: its conductance completeness error (from the store's ANSAT)."""
    from transferscout.grid.store import RunStore

    rows: list[dict[str, Any]] = []
    tolerance = None
    if (run_dir / "store.sqlite").exists():
        with RunStore(run_dir, readonly=True) as store:
            signals = store.pair_signals("ansat")
        detail = signals[0]["detail"] if signals else {}
        tolerance = detail.get("settings", {}).get("completeness_tolerance")
        for task, summary in sorted(detail.get("completeness", {}).items()):
            rows.append(
                {
                    "task": task,
                    "trial": detail["models"][task],
                    "documents": int(summary["documents"]),
                    "median error": round(summary["median"], 4),
                    "max error": round(summary["max"], 4),
                    "within tolerance": bool(tolerance is None or summary["median"] <= tolerance),
                    "steps": detail.get("steps", {}).get(task),
                    "documents per set": detail.get("documents", {}).get(task)
                    or detail.get("settings", {}).get("max_documents"),
                    "ANSAT": _ansat_use(detail.get("incomplete", {}).get(task)),
                }
            )
    if not rows:
        return pd.DataFrame(), "No completeness was recorded for this run's attributions."
    text = (
        "|Σ layer scores − (F(x) − F(baseline))| / |F(x) − F(baseline)| of each attributed "
        "model's documents (worst layer), median and max over documents; "
        f"tolerance {tolerance:g} on the median. Above it, raise signals.ansat.n_steps or "
        "choose another signals.ansat.baseline; with adaptive steps, a model the budget "
        "cannot bring within it on its fewest documents has no ANSAT (its pairs' are NaN)."
    )
    return pd.DataFrame(rows), text


def _ansat_use(incomplete: str | None) -> str:
    """Whether a model's attributions are read, else why its pairs' ANSAT is missing."""
    return "used" if incomplete is None else f"missing (NaN): {incomplete}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table (NaN and None as empty cells)."""

    def cell(value: object) -> str:
        text = str(value)
        return "" if text in ("nan", "None") else text.replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def _marked_gain(gain: pd.DataFrame, table1: pd.DataFrame) -> pd.DataFrame:
    """The gain matrix with each target whose Table 1 single-task model is degenerate marked."""
    if "degenerate" not in table1.columns:
        return gain
    single = table1[(table1["model"] == "encoder→target") & table1["degenerate"].astype(bool)]
    weak = set(single["target"])
    return gain.rename(columns={t: f"{t} {opening.DEGENERATE_MARK}" for t in weak})


def _opening(
    run_dir: Path, savings: pd.DataFrame, summary: dict[str, Any]
) -> list[tuple[str, pd.DataFrame, str]]:
    """The tables a reader wants first: best source per target, time saved, search traces."""
    method = opening.recommended_method(savings)
    searched = "adaptive:greedy"  # what `transferscout search` does, replayed on the grid
    methods = [method, *([searched] if searched in set(savings["method"]) else [])]
    weak = opening.marked_targets(summary)  # a degenerate baseline or best transfer
    sections = [
        (
            "Best source per target",
            opening.mark_targets(best_sources(run_dir).round(4), weak),
            "The meta-model's first pick (its predicted and real score, in the target's own "
            "metric) next to the truly best source of the full grid."
            + (f" {opening.DEGENERATE_NOTE}." if weak else ""),
        ),
        (
            f"Time saved by the recommended method ({method})"
            + (f" and by the search's adaptive order ({searched})" if len(methods) > 1 else ""),
            opening.savings_table(savings, methods, lost=wording.lost_header(summary)),
            f"Per tolerance of the loss in {wording.loss_phrase(summary)} against the full "
            "grid: the depth (candidates trained per target), the training hours, the share of "
            "the full grid's hours saved, the loss. " + opening.SAVINGS_TEST,
        ),
    ]
    traces = opening.search_traces(run_dir)
    if traces:
        sections.append(
            (
                "Budgeted searches",
                opening.search_summary_table(traces),
                "Each target's search (transferscout search): the best model it kept, its test "
                "F1 next to the single-task model's, candidates tried and hours spent. "
                + opening.search_test_text(traces)
                + (
                    f" {opening.DEGENERATE_MARK} the target's single-task model is degenerate: "
                    "a gain over it is no finding."
                    if any(t[1]["reference"].get("degenerate") for t in traces.values())
                    else ""
                ),
            )
        )
    return sections


def write_report(run_dir: str | Path) -> ReportFiles:
    """Build ``<run>/report/report.html`` and ``<run>/report/report.md`` from the evaluation."""
    run_dir = Path(run_dir)
    folder = run_dir / "evaluation"
    candidates = _read(folder, "candidates")
    rmse = _read(folder, "rmse")
    curves = _read(folder, "curves")
    ranking = _read(folder, "ranking")
    savings = _read(folder, "savings")
    table1 = _read(folder, "table1")
    noise_path = folder / "seed_noise.csv"
    noise = pd.read_csv(noise_path) if noise_path.exists() else pd.DataFrame()
    if not noise.empty:
        noise = noise[noise["seeds"] >= 2].round(4)
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    headline = wording.headline(summary)
    label = wording.aggregate_label(summary)
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    feature_set = "all" if "predicted_all" in candidates.columns else rmse["feature_set"].iloc[-1]

    images = {
        "rmse": (
            "RMSE@K of the meta-model per feature set",
            plots.render_rmse(plots.rmse_series(rmse)),
        ),
        "budget": (
            f"Best {'gain' if wording.is_gain(summary) else label} found vs training hours, "
            "per method",
            plots.render_budget(
                plots.budget_series(curves, gain=wording.is_gain(summary)),
                plots.budget_label(summary),
            ),
        ),
        "gain": (
            "Transfer gain: best transfer score minus the target's best single-task score "
            "(each target's own metric)",
            plots.render_gain(_marked_gain(plots.gain_matrix(candidates, table1), table1)),
        ),
        "scatter": (
            f"Predicted vs real gain over the single-task model (meta-model '{feature_set}')",
            plots.render_scatter(plots.scatter_points(candidates, feature_set), feature_set),
        ),
    }
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    pngs = {name: png(figure) for name, (_, figure) in images.items()}
    for name, data in pngs.items():
        (out / f"{name}.png").write_bytes(data)

    table1_shown = table1.round(4)
    table1_note = ""
    if "baseline_degenerate" in table1_shown.columns:  # tables evaluated before: not judged
        flagged = table1_shown["baseline_degenerate"].astype(bool)
        weak_targets = set(
            table1_shown.loc[flagged & (table1_shown["target"] != "average"), "target"]
        )
        table1_shown = opening.mark_targets(table1_shown, weak_targets)
        if weak_targets:
            table1_note = f"{opening.DEGENERATE_NOTE}; average rows: whether any averaged row is."
    degenerate_text = opening.degenerate_text(summary)
    if wording.is_gain(summary):  # each row's score is in the metric its `metric` cell names
        table1_shown = table1_shown.rename(columns={"f1": "score"})
    ranking_shown = _ranking_table(ranking)
    tests_shown = _tests_table(ranking)
    ranking_title = (
        f"Ranking quality (mean over targets ± SD over {len(summary.get('meta_seeds', [0]))} "
        "meta-model seeds [95% bootstrap interval over targets])"
    )
    ranking_note = (
        f"NDCG gain: {summary.get('ndcg_gain', '')}. Ordering: {summary.get('ordering', '')}. "
        f"Costs: {summary.get('cost_convention', '')}"
    )
    tests_title = "Paired tests across targets (p-values)"
    tests_note = _baselines_text(ranking, summary)
    savings_lines = _savings_text(savings, summary)
    noise_text = _noise_text(summary)
    completeness, completeness_text = _completeness(run_dir)
    library_versions = versions()
    first = _opening(run_dir, savings, summary)
    traces = opening.search_traces(run_dir)
    if traces:
        pngs["search"] = png(opening.render_search_traces(traces))
        (out / "search.png").write_bytes(pngs["search"])
    sections_html = [
        "<h1>transferscout report</h1>",
        f"<p class='note'>{headline}</p>",
    ]
    if degenerate_text:
        sections_html.append(f"<p class='note degenerate'>{html.escape(degenerate_text)}</p>")
    for title, frame, note in first:
        sections_html.append(f"<h2>{html.escape(title)}</h2>")
        if note:
            sections_html.append(f"<p class='note'>{html.escape(note)}</p>")
        sections_html.append(frame.to_html(index=False, na_rep="", border=0))
    if traces:
        sections_html.append(
            "<img id='search' alt='Search traces' "
            f"src='data:image/png;base64,{base64.b64encode(pngs['search']).decode()}'>"
            f"<p class='note'>{html.escape(opening.HOW_TO_READ['search'])}</p>"
        )
    sections_html += [
        "<h2>Time saved (every method)</h2>",
        opening.savings_table(savings, lost=wording.lost_header(summary)).to_html(
            index=False, na_rep="", border=0
        ),
        f"<p class='note'>{html.escape(savings_lines[-1])} {html.escape(opening.SAVINGS_TEST)}</p>",
        "<h2>Best single-task and transfer models (Table 1 analogue)</h2>",
        table1_shown.to_html(index=False, na_rep="", classes="table1", border=0),
        *([f"<p class='note'>{html.escape(table1_note)}</p>"] if table1_note else []),
        f"<h2>Seed noise of single-task {html.escape(label)}</h2>",
        f"<p>{html.escape(noise_text)}</p>",
    ]
    if not noise.empty:
        sections_html.append(noise.to_html(index=False, na_rep="", classes="noise", border=0))
    sections_html.append("<h2>Conductance completeness</h2>")
    sections_html.append(f"<p>{html.escape(completeness_text)}</p>")
    if not completeness.empty:
        sections_html.append(
            completeness.to_html(index=False, na_rep="", classes="completeness", border=0)
        )
    for name, (title, _) in images.items():
        encoded = base64.b64encode(pngs[name]).decode()
        sections_html.append(f"<h2>{html.escape(title)}</h2>")
        sections_html.append(
            f"<img id='{name}' alt='{html.escape(title)}' src='data:image/png;base64,{encoded}'>"
        )
        sections_html.append(f"<p class='note'>{html.escape(opening.HOW_TO_READ[name])}</p>")
        if name == "budget":
            sections_html += [
                f"<h2>{html.escape(ranking_title)}</h2>",
                f"<p class='note'>{html.escape(ranking_note)}</p>",
                ranking_shown.to_html(index=False, na_rep="", classes="ranking", border=0),
                f"<h2>{html.escape(tests_title)}</h2>",
                f"<p class='note'>{html.escape(tests_note)}</p>",
                tests_shown.to_html(index=False, na_rep="", classes="tests", border=0),
            ]
    crossed = [*_pool_replay(folder), *_cross_pool(folder)]
    for title, frame, note in crossed:
        sections_html += [
            f"<h2>{html.escape(title)}</h2>",
            f"<p class='note'>{html.escape(note)}</p>",
            frame.to_html(index=False, na_rep="", border=0),
        ]
    sections_html.append("<h2>Configuration and versions</h2>")
    sections_html.append(
        "<pre>"
        + html.escape(json.dumps({"config": config, "versions": library_versions}, indent=2))
        + "</pre>"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>transferscout report</title>"
        f"<style>{CSS}</style></head><body>{''.join(sections_html)}</body></html>"
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")

    markdown = [
        "# transferscout report",
        "",
        headline,
        "",
        *([degenerate_text, ""] if degenerate_text else []),
    ]
    for title, frame, note in first:
        markdown += [f"## {title}", "", *([note, ""] if note else []), markdown_table(frame), ""]
    if traces:
        markdown += ["![Search traces](search.png)", "", opening.HOW_TO_READ["search"], ""]
    markdown += [
        "## Time saved (every method)",
        "",
        markdown_table(opening.savings_table(savings, lost=wording.lost_header(summary))),
        "",
        f"{savings_lines[-1]} {opening.SAVINGS_TEST}",
        "",
        "## Best single-task and transfer models (Table 1 analogue)",
        "",
        markdown_table(table1_shown),
        "",
        *([table1_note, ""] if table1_note else []),
        f"## Seed noise of single-task {label}",
        "",
        noise_text,
        "",
    ]
    if not noise.empty:
        markdown += [markdown_table(noise), ""]
    markdown += ["## Conductance completeness", "", completeness_text, ""]
    if not completeness.empty:
        markdown += [markdown_table(completeness), ""]
    for name, (title, _) in images.items():
        markdown += [
            f"## {title}",
            "",
            f"![{title}]({name}.png)",
            "",
            opening.HOW_TO_READ[name],
            "",
        ]
        if name == "budget":
            markdown += [
                f"## {ranking_title}",
                "",
                ranking_note,
                "",
                markdown_table(ranking_shown),
                "",
                f"## {tests_title}",
                "",
                tests_note,
                "",
                markdown_table(tests_shown),
                "",
            ]
    for title, frame, note in crossed:
        markdown += [f"## {title}", "", note, "", markdown_table(frame), ""]
    markdown += [
        "## Configuration and versions",
        "",
        "```json",
        json.dumps({"config": config, "versions": library_versions}, indent=2),
        "```",
        "",
    ]
    markdown_path = out / "report.md"
    markdown_path.write_text("\n".join(markdown), encoding="utf-8")
    return ReportFiles(html_path, markdown_path)
