from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.report import plots, write_report
from transferscout.report.build import ReportFiles, _noise_text, _savings_text

FAST = EvaluationSettings(bootstrap_resamples=100, n_estimators=30, meta_seeds=2)


@pytest.fixture(scope="module")
def report(small_run: Path) -> ReportFiles:
    evaluate_run(small_run, FAST)
    return write_report(small_run)


def test_plot_data_steps() -> None:
    rmse = pd.DataFrame(
        {"feature_set": ["f1", "f1", "all"], "k": [5, 10, 5], "rmse": [0.2, 0.3, 0.1]}
    )
    assert plots.rmse_series(rmse) == [
        plots.Series("f1", [5.0, 10.0], [0.2, 0.3]),
        plots.Series("all", [5.0], [0.1]),
    ]
    curves = pd.DataFrame(
        {
            "method": ["oracle", "oracle", "signal:ansat_a_0.05", "meta:f1"],
            "k": [1, 2, 1, 1],
            "hours": [1.0, 2.0, 1.0, 1.5],
            "best_f1": [0.5, 0.6, 0.4, 0.45],
        }
    )
    assert [s.label for s in plots.budget_series(curves)] == ["oracle", "meta:f1"]
    candidates = pd.DataFrame({"source": ["a", "b"], "target": ["b", "a"], "real_f1": [0.7, 0.5]})
    table1 = pd.DataFrame(
        {"target": ["a", "b", "average"], "model": ["encoder→target"] * 3, "f1": [0.6, 0.6, 0.6]}
    )
    gain = plots.gain_matrix(candidates, table1)
    assert gain.loc["a", "b"] == pytest.approx(0.1) and gain.loc["b", "a"] == pytest.approx(-0.1)
    assert pd.isna(gain.loc["a", "a"])


def test_the_gain_matrix_is_over_table1s_baseline_the_matched_model_where_it_validates_best() -> (
    None
):
    candidates = pd.DataFrame({"source": ["a", "b"], "target": ["b", "a"], "real_f1": [0.7, 0.5]})
    table1 = pd.DataFrame(
        {
            "target": ["a", "a", "b", "b"],
            "model": ["encoder→target", "encoder→target (matched)"] * 2,
            "f1": [0.6, 0.4, 0.6, 0.65],
            "baseline": [True, False, False, True],
        }
    )
    gain = plots.gain_matrix(candidates, table1)
    assert gain.loc["a", "b"] == pytest.approx(0.7 - 0.65)  # b's matched model
    assert gain.loc["b", "a"] == pytest.approx(0.5 - 0.6)  # a's plain one


def test_report_files(report: ReportFiles) -> None:
    page = report.html.read_text()
    assert page.count("data:image/png;base64,") == 4  # self-contained
    assert "Table 1 analogue" in page and "Time saved" in page and "versions" in page
    markdown = report.markdown.read_text()
    for name in ("rmse", "budget", "gain", "scatter"):
        assert f"({name}.png)" in markdown
        assert (report.html.parent / f"{name}.png").stat().st_size > 1000
    assert "| target | model |" in markdown
    assert "Seed noise of single-task positive F1" in page and "grid.single_task_seeds" in markdown
    # The ranking table shows the spread over the 2 seeds; the tests table the p-values.
    assert "± SD over 2 meta-model seeds" in markdown
    assert "Paired tests across targets" in markdown and "sign-flip" in markdown
    assert "## Pool search replayed" in markdown and "| pool search |" in markdown
    assert "| prior:taskemb_rrf |" in markdown
    assert "one single-task model per task" in markdown
    # The opening's time saved: the recommended method and the search's adaptive order, each
    # tolerance with its paired test against the best no-signal baseline.
    opening = markdown.split("## Time saved by the recommended method")[1].split("\n## ")[0]
    assert "(adaptive:greedy)" in opening and "| adaptive:greedy |" in opening
    header = next(line for line in opening.splitlines() if line.startswith("| method"))
    assert "≤0.01 vs random" in header or "≤0.01 vs baseline:hyperparameters" in header
    assert "paired sign-flip test of that difference across targets" in opening
    # Every attributed model's completeness error, from the store.
    assert "Conductance completeness" in page and "tolerance 0.05" in markdown
    section = markdown.split("## Conductance completeness")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    assert rows[0][:4] == ["| task", "trial", "documents", "median error"]
    assert sorted(r[0].strip("| ") for r in rows[1:]) == ["food", "shelter", "water"]
    assert all(0 <= float(r[3]) <= float(r[4]) for r in rows[1:])
    # fixed steps (6, at most 8 documents per set): every model's attributions are read
    assert [c.strip(" |") for c in rows[0][-3:]] == ["steps", "documents per set", "ANSAT"]
    assert all([c.strip(" |") for c in r[-3:]] == ["6", "8", "used"] for r in rows[1:])


def test_noise_text_states_the_band_and_the_gains() -> None:
    summary = {
        "seed_noise": {
            "settings_with_repeated_seeds": 24,
            "seeds_per_setting": 3,
            "mean_std_f1": 0.0123,
            "max_std_f1": 0.05,
            "median_range_f1": 0.02,
            "max_range_f1": 0.1,
            "test": "t, two-sided, level 0.05, df = single-task seeds - 1",
            "level": 0.05,
            "t_cutoff": 4.302653,
            "candidates_compared": 264,
            "mean_gain": -0.004,
            "share_helped": 0.1,
            "share_hurt": 0.25,
            "share_within_noise": 0.65,
        }
    }
    text = _noise_text(summary)
    assert "24 single-task settings with at least 3 seeds" in text
    assert "0.0123" in text and "Of 264 transfer candidates, 10.0% beat" in text
    assert "25.0% fell" in text and "65.0% are within" in text and "-0.0040" in text
    assert "cut-off 4.30 standard errors with 3 single-task seeds" in text


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/test.sh installs it)"
)
def test_report_renders_in_headless_chromium(report: ReportFiles) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(report.html.resolve().as_uri())
            widths = page.eval_on_selector_all(
                "img", "images => images.map(i => i.complete ? i.naturalWidth : 0)"
            )
            table1_rows = page.eval_on_selector_all("table.table1 tbody tr", "rows => rows.length")
            ranking_rows = page.eval_on_selector_all(
                "table.ranking tbody tr", "rows => rows.length"
            )
            ranking_text = page.inner_text("table.ranking")
        finally:
            browser.close()
    assert len(widths) == 4 and all(width > 0 for width in widths)
    assert table1_rows == 3 * 2 + 2  # two models per target and two average rows
    assert ranking_rows >= 6 and "meta:f1+ansat" in ranking_text and "oracle" in ranking_text
    assert errors == []


def test_savings_text_says_which_models_were_trained_again() -> None:
    summary = {
        "full_grid_hours": 2.0,
        "recreated_models": {"models": 3, "hours": 0.25, "not_reproduced": 1},
    }
    lines = _savings_text(pd.DataFrame({"method": []}), summary)
    assert lines[-1] == (
        "3 models were trained again because their files were lost (0.250 hours, not charged: "
        "every trial keeps its first measured hours); 1 did not reproduce their first results "
        "(the new ones are used)"
    )
    assert len(_savings_text(pd.DataFrame({"method": []}), {"full_grid_hours": 2.0})) == 1
