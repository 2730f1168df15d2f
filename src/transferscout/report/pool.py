"""The report of a pool search: per target, the model to use and what it gained; then the trace.

Built from ``<run>/search/summary.json`` and ``trace.csv`` (written by the pool search), so it
can be regenerated without recomputing anything.  Its first screen answers the user's question:
which model to use for each target, how much it gains over the target's single-task model,
how many of its candidates were trained, and what the search cost against the full grid.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from transferscout.errors import TransferScoutError
from transferscout.evaluation.table1 import DEGENERATE_MARK
from transferscout.report import plots
from transferscout.report.build import CSS, ReportFiles, markdown_table, png, versions

__all__ = ["pool_headline", "pool_targets_table", "write_pool_report"]


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "search" / "summary.json"
    if not path.is_file():
        raise TransferScoutError(f"{path}: missing; run the pool search first (transferscout run)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def pool_headline(summary: dict[str, Any]) -> str:
    """One sentence: how many targets got a transfer, and what the search cost."""
    targets = [t for t in summary["targets"] if not t.get("skipped")]
    transfers = [t for t in targets if t["model"] != "single-task"]
    hours = summary["hours"]
    share = hours["search"] / hours["projected_full_grid"] if hours["projected_full_grid"] else 0
    skipped = len(summary["targets"]) - len(targets)
    return (
        f"{len(transfers)} of {len(targets)} searched targets use a transfer (chosen by "
        f"validation; the others keep their single-task model)"
        + (f"; {skipped} not searched (see below)" if skipped else "")
        + f". The search trained {summary['trained']} of {summary['candidates']} transfer "
        f"candidates in {hours['search']:.3f} h — {share:.0%} of the projected full grid "
        f"({hours['projected_full_grid']:.3f} h; signals {hours['signals']:.4f} h included); "
        f"the single-task models took {hours['single_task']:.3f} h beside it."
    )


def pool_targets_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Per target: the model to use, its scores, its gain, what the search trained for it."""
    rows = []
    for target in summary["targets"]:
        gain = target["test_gain"]
        rows.append(
            {
                "target": target["target"],
                "use": "not searched" if target.get("skipped") else target["model"],
                "metric": target["metric"],
                "validation": target["validation_f1"],
                "test": target["test_f1"],
                "single-task test": target["single_task_test_f1"],
                "gain (test)": f"{gain:+.3f}" if not target.get("skipped") else "",
                "trained": f"{target['trained']} of {target['candidates']}",
                "hours": target["hours"],
            }
        )
    return pd.DataFrame(rows)


def _skipped_lines(summary: dict[str, Any]) -> list[str]:
    return [
        f"{DEGENERATE_MARK} {name} was not searched: {why}."
        for name, why in sorted((summary.get("skipped") or {}).items())
    ]


def _trace_figure(trace: pd.DataFrame) -> bytes | None:
    """Each target's best validation score so far against the search's cumulative hours."""
    if trace.empty:
        return None
    figure = plots.render_pool_trace(trace)
    return png(figure)


def write_pool_report(run_dir: str | Path) -> ReportFiles:
    """Build ``<run>/report/report.html`` and ``report.md`` from the pool search's files."""
    run_dir = Path(run_dir)
    summary = _summary(run_dir)
    trace = pd.read_csv(run_dir / "search" / "trace.csv")
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    headline = pool_headline(summary)
    table = pool_targets_table(summary)
    skipped = _skipped_lines(summary)
    stopped = f"The search stopped: {summary['stopped']}."
    note = (
        "Each target's model is the best of its single-task model and the transfers trained for "
        "it, by validation score; test scores are only reported. Gain: test score minus the "
        "single-task model's. Budget: " + str(summary["budget"]["given"]) + "."
    )
    figure = _trace_figure(trace)
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    shown_trace = trace[
        [
            c
            for c in (
                "step",
                "target",
                "candidate",
                "target_learning_rate",
                "predicted_f1",
                "validation_f1",
                "test_f1",
                "hours",
                "best",
            )
            if c in trace.columns
        ]
    ]
    parts = [
        "<h1>transferscout pool search</h1>",
        f"<p class='headline'>{html.escape(headline)}</p>",
        "<h2>The model to use for each target</h2>",
        table.to_html(
            index=False, na_rep="", border=0, classes="targets", float_format=lambda v: f"{v:.3f}"
        ),
        f"<p class='note'>{html.escape(note)}</p>",
        *(f"<p class='note degenerate'>{html.escape(line)}</p>" for line in skipped),
        f"<p class='note'>{html.escape(stopped)}</p>",
    ]
    if figure is not None:
        encoded = base64.b64encode(figure).decode()
        parts += [
            "<h2>The search, trial by trial</h2>",
            f"<img id='pool' alt='best validation score so far' src='data:image/png;base64,"
            f"{encoded}'>",
        ]
        (out / "pool.png").write_bytes(figure)
    parts += [
        "<h2>Every trial</h2>",
        shown_trace.to_html(index=False, na_rep="", border=0, float_format=lambda v: f"{v:.4f}"),
        "<h2>Configuration and versions</h2>",
        f"<pre>{html.escape(json.dumps({'config': config, 'versions': versions()}, indent=2))}"
        "</pre>",
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>transferscout pool search</title>"
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    markdown = [
        "# transferscout pool search",
        "",
        headline,
        "",
        "## The model to use for each target",
        "",
        markdown_table(table),
        "",
        note,
        "",
        *[line + "\n" for line in skipped],
        stopped,
        "",
    ]
    if figure is not None:
        markdown += ["## The search, trial by trial", "", "![pool search](pool.png)", ""]
    markdown += ["## Every trial", "", markdown_table(shown_trace), ""]
    markdown_path = out / "report.md"
    markdown_path.write_text("\n".join(markdown), encoding="utf-8")
    return ReportFiles(html_path, markdown_path)
