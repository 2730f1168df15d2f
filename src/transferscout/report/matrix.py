"""The report of an evaluated matrix run: the pool search replayed and the signals' rankings.

Read from ``<run>/evaluation/`` (``summary.json``, ``pool_replay.csv``, ``rankings.csv``, as
:func:`transferscout.matrix_evaluation.evaluate_matrix` writes them) into
``<run>/report/report.md`` and ``report.html``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from transferscout.errors import TransferScoutError
from transferscout.evaluation.pool_replay import PRODUCT
from transferscout.report.build import CSS, ReportFiles, markdown_table
from transferscout.report.opening import p_text

__all__ = ["matrix_headlines", "replay_table", "rankings_table", "write_matrix_report"]


def _share(budget: float) -> str:
    return f"{budget:.0%}"


def replay_table(replay: pd.DataFrame) -> pd.DataFrame:
    """Methods × budgets: mean loss found (share within 0.01), loss handed, paired p."""
    rows = []
    for method, group in replay.groupby("method", sort=False):
        row: dict[str, object] = {"method": method}
        for found in group.sort_values("budget").to_dict("records"):
            at = _share(float(found["budget"]))
            row[f"found {at}"] = f"{found['loss_found']:.4f} ({found['within']:.0%})"
            row[f"handed {at}"] = f"{found['loss_handed']:.4f}"
            row[f"p {at}"] = "" if method == PRODUCT else p_text(found["p_found"])
        rows.append(row)
    return pd.DataFrame(rows)


def rankings_table(rankings: pd.DataFrame) -> pd.DataFrame:
    """Methods × metrics: the mean over targets, then the difference to random and its p."""
    rows = []
    for method, group in rankings.groupby("method", sort=False):
        row: dict[str, object] = {"method": method}
        for found in group.to_dict("records"):
            cell = "" if pd.isna(found["mean"]) else f"{float(found['mean']):.3f}"
            if not pd.isna(found["p"]):
                cell += f" ({float(found['diff']):+.3f}, p {p_text(found['p'])})"
            row[str(found["metric"])] = cell
        rows.append(row)
    return pd.DataFrame(rows)


def matrix_headlines(summary: dict[str, Any]) -> list[str]:
    """One sentence per budget: the product against random and against each signal's order."""
    unit = summary["budget_unit"]
    lines = []
    for budget, entry in summary["pool_replay"]["by_budget"].items():
        mine = entry[PRODUCT]
        parts = [
            f"With {_share(float(budget))} of the {unit} ({mine['trials']:.0f} trials), the pool "
            f"search's best model is on average {mine['loss_found']:.4f} below each target's "
            f"best ({mine['within']:.0%} of targets within 0.01)"
        ]
        for method, theirs in entry.items():
            if method == PRODUCT or method == "oracle":
                continue
            diff, p = theirs["diff_found"], theirs["p_found"]
            if diff > 0:
                side = "worse than" if p < 0.05 else "higher (not significantly) than"
            elif diff < 0:
                side = "better than" if p < 0.05 else "lower (not significantly) than"
            else:
                side = "the same as"
            parts.append(
                f"{side} {method} ({theirs['loss_found']:.4f}, p {p_text(theirs['p_found'])})"
            )
        lines.append(parts[0] + ": " + "; ".join(parts[1:]) + ".")
    return lines


def write_matrix_report(run_dir: str | Path) -> ReportFiles:
    """Build ``<run>/report/report.html`` and ``report.md`` from a matrix run's evaluation.

    Raises:
        TransferScoutError: The run has no matrix evaluation.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "evaluation"
    path = folder / "summary.json"
    if not path.is_file():
        raise TransferScoutError(
            f"{run_dir}: no evaluation to report; run `transferscout evaluate {run_dir}`"
        )
    summary = json.loads(path.read_text(encoding="utf-8"))
    replay = replay_table(pd.read_csv(folder / "pool_replay.csv"))
    rankings_path = folder / "rankings.csv"
    rankings = rankings_table(pd.read_csv(rankings_path)) if rankings_path.is_file() else None
    matrix = summary["matrix"]
    title = f"transferscout: a transfer matrix replayed ({Path(matrix['path']).name})"
    facts = (
        f"{matrix['targets']} targets, {matrix['candidates']} candidates ({matrix['format']} "
        f"format). Budgets are shares of the {summary['budget_unit']}."
    )
    replay_note = (
        "Each cell: mean over targets of the target's best score minus the best found "
        "(single-task model or a trained candidate), with the share of targets within 0.01; "
        "handed: the same for the model the search hands over (the best observed gain above 0, "
        "else the single-task model); p: paired sign-flip test across targets of the pool "
        "search's loss found against the method's. pool: the product's policy; pool:none: the "
        "same without signals; random: mean of 20 seeded orders over the whole pool; "
        "random:round-robin: the same, one target at a time; signal:<s>: each target's "
        "candidates by the signal, round-robin over targets; oracle: each target's best "
        "candidate first."
    )
    ranking_note = (
        "Each target's candidates ordered by the signal (higher first), against the random "
        "order (exact expectation). ndcg@3 (higher is better), regret@k (percent of the best "
        "score lost by the best of the first k), loss@1 (best score minus the first pick's, in "
        "the matrix's units), rank_of_best (position of the best candidate), spearman; in "
        "brackets the difference to random and the paired sign-flip p across targets."
    )
    notes = [str(line) for line in summary["notes"]]
    headlines = matrix_headlines(summary)
    markdown = [
        f"# {title}",
        "",
        facts,
        "",
        *(f"- {line}" for line in notes),
        "",
        "## The pool search replayed",
        "",
        *(f"- {line}" for line in headlines),
        "",
        markdown_table(replay),
        "",
        replay_note,
        "",
    ]
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(facts)}</p>",
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in notes) + "</ul>",
        "<h2>The pool search replayed</h2>",
        *(f"<p class='headline'>{html.escape(line)}</p>" for line in headlines),
        replay.to_html(index=False, border=0, na_rep=""),
        f"<p class='note'>{html.escape(replay_note)}</p>",
    ]
    if rankings is not None:
        markdown += ["## Rankings by signal", "", markdown_table(rankings), "", ranking_note, ""]
        body += [
            "<h2>Rankings by signal</h2>",
            rankings.to_html(index=False, border=0, na_rep=""),
            f"<p class='note'>{html.escape(ranking_note)}</p>",
        ]
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "report.html", out / "report.md")
    files.markdown.write_text("\n".join(markdown), encoding="utf-8")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    files.html.write_text(page, encoding="utf-8")
    return files
