"""The pool search's report, from hand-made search files (no training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from transferscout.pool_search import POOL_TRACE_COLUMNS
from transferscout.report.pool import pool_headline, pool_targets_table, write_pool_report


def _target(name: str, model: str, validation: float, test: float, single: float) -> dict:
    return {
        "target": name,
        "kind": "binary",
        "metric": "positive F1",
        "model": model,
        "source": None if model == "single-task" else model.removeprefix("transfer from "),
        "trial": f"t-{name}",
        "validation_f1": validation,
        "test_f1": test,
        "single_task_validation_f1": 0.5,
        "single_task_test_f1": single,
        "validation_gain": validation - 0.5,
        "test_gain": test - single,
        "trained": 2,
        "candidates": 4,
        "hours": 0.5,
        "skipped": None,
        "model_dir": f"/run/search/{name}/model",
    }


@pytest.fixture
def searched(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "search").mkdir(parents=True)
    targets = [
        _target("food", "transfer from water", 0.6, 0.62, 0.55),
        _target("water", "single-task", 0.5, 0.48, 0.48),
        {**_target("shelter", "single-task", 0.0, 0.0, 0.0), "skipped": "its model is degenerate"},
    ]
    targets[2].update(trained=0, hours=0.0, model_dir=None)
    summary = {
        "stopped": "time budget: no candidate's predicted cost fits in the 0.100 h left",
        "budget": {"given": "20%", "hours": 2.4, "trials": None},
        "hours": {
            "signals": 0.01,
            "transfers": 1.0,
            "search": 1.01,
            "projected_full_grid": 12.0,
            "single_task": 3.0,
            "wall_clock": 1.5,
        },
        "candidates": 12,
        "trained": 4,
        "skipped": {"shelter": "its model is degenerate"},
        "targets": targets,
    }
    (run / "search" / "summary.json").write_text(json.dumps(summary))
    steps = []
    for step, (target, source, score) in enumerate(
        [
            ("food", "water", 0.6),
            ("water", "food", 0.45),
            ("food", "shelter", 0.52),
            ("water", "shelter", 0.41),
        ],
        start=1,
    ):
        steps.append(
            {c: None for c in POOL_TRACE_COLUMNS}
            | {
                "step": step,
                "target": target,
                "candidate": source,
                "validation_f1": score,
                "best_validation_f1": 0.6 if target == "food" else 0.5,
                "total_hours": 0.01 + 0.25 * step,
                "trial": f"x{step}",
            }
        )
    pd.DataFrame(steps, columns=POOL_TRACE_COLUMNS).to_csv(
        run / "search" / "trace.csv", index=False
    )
    return run


def test_the_headline_and_the_table_answer_the_users_question(searched: Path) -> None:
    summary = json.loads((searched / "search" / "summary.json").read_text())
    headline = pool_headline(summary)
    assert headline.startswith("1 of 2 searched targets use a transfer")
    assert "1 not searched" in headline and "trained 4 of 12" in headline
    assert "1.010 h — 8% of the projected full grid (12.000 h" in headline
    table = pool_targets_table(summary)
    assert table["use"].tolist() == ["transfer from water", "single-task", "not searched"]
    assert table["gain (test)"].tolist() == ["+0.070", "+0.000", ""]
    assert table["trained"].tolist() == ["2 of 4", "2 of 4", "0 of 4"]


def test_the_report_leads_with_the_model_to_use(searched: Path) -> None:
    files = write_pool_report(searched)
    markdown = files.markdown.read_text()
    lines = markdown.splitlines()
    assert lines[0] == "# transferscout pool search" and "use a transfer" in lines[2]
    assert lines.index("## The model to use for each target") < lines.index("## Every trial")
    assert "shelter was not searched: its model is degenerate." in markdown
    assert (searched / "report" / "pool.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/test.sh installs it)"
)
def test_the_pool_report_renders_in_headless_chromium(searched: Path) -> None:
    from playwright.sync_api import sync_playwright

    files = write_pool_report(searched)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(files.html.resolve().as_uri())
            widths = page.eval_on_selector_all(
                "img", "images => images.map(i => i.complete ? i.naturalWidth : 0)"
            )
            rows = page.eval_on_selector_all("table.targets tbody tr", "rows => rows.length")
            table_width = page.eval_on_selector(
                "table.targets", "t => t.getBoundingClientRect().right"
            )
        finally:
            browser.close()
    assert len(widths) == 1 and widths[0] > 0
    assert rows == 3
    assert table_width <= 1280  # the first table fits the page: nothing is cut off
    assert errors == []
