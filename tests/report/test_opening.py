from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from transferscout.report.opening import (
    HOW_TO_READ,
    degenerate_text,
    mark_targets,
    recommended_method,
    render_search_traces,
    savings_table,
    search_summary_table,
    search_test,
    search_test_text,
    search_traces,
    shorten,
)


def test_names_are_shortened_from_the_middle_and_stay_distinguishable() -> None:
    a, b = "interface::commandline", "interface::graphical"
    assert shorten(a, 12) != shorten(b, 12)
    assert shorten(a, 12) == "interf…dline" and len(shorten(a, 12)) == 12
    assert shorten("food", 12) == "food"


def _savings() -> pd.DataFrame:
    rows = []
    for method, saved in (("meta:f1", 40.0), ("meta:all", 60.0), ("signal:x", 10.0)):
        for tolerance, k in ((0.01, 4), (0.02, 2)):
            rows.append(
                {
                    "method": method,
                    "tolerance": tolerance,
                    "k": k,
                    "f1_loss": tolerance / 2,
                    "hours": 1.25,
                    "saved_percent": saved,
                }
            )
    rows.append(
        {
            "method": "meta:all",
            "tolerance": 0.035,
            "k": None,
            "f1_loss": None,
            "hours": None,
            "saved_percent": None,
        }
    )
    return pd.DataFrame(rows)


def test_time_saved_is_one_row_per_method_with_every_tolerance() -> None:
    table = savings_table(_savings())
    assert table["method"].tolist() == ["meta:f1", "meta:all"]  # single signals left out
    row = table.set_index("method").loc["meta:all"]
    assert row["≤0.01 depth"] == "4" and row["≤0.01 % saved"] == "60.0%"
    assert row["≤0.02 positive F1 lost"] == "0.010" and row["≤0.02 hours"] == "1.25"
    assert row["≤0.035 depth"] == "–"  # never reached
    assert recommended_method(_savings()) == "meta:all"
    assert not any(" p vs " in column for column in table.columns)  # an old evaluation


def test_time_saved_shows_the_paired_tests_against_each_tolerances_baseline() -> None:
    savings = _savings()
    savings["baseline"] = savings["tolerance"].map(
        {0.01: "random", 0.02: "baseline:hyperparameters", 0.035: "random"}
    )
    savings["p_vs_baseline"] = [0.0004, 0.2, 0.03, 0.5, None, None, 0.01]
    savings["diff_vs_baseline"] = [12.25, 3.0, -7.64, 0.0, None, None, None]
    table = savings_table(savings).set_index("method")
    assert table.loc["meta:all", "≤0.01 vs random"] == "-7.6, p 0.030"
    assert table.loc["meta:all", "≤0.02 vs baseline:hyperparameters"] == "+0.0, p 0.500 n.s."
    assert table.loc["meta:f1", "≤0.01 vs random"] == "+12.2, p <0.001"
    assert table.loc["meta:all", "≤0.035 vs random"] == "p 0.010"  # no direction recorded


def test_time_saved_in_long_form_has_a_row_per_method_and_tolerance() -> None:
    savings = _savings()
    savings["baseline"] = savings["tolerance"].map(
        {0.01: "random", 0.02: "baseline:hyperparameters", 0.035: "random"}
    )
    savings["p_vs_baseline"] = [0.0004, 0.2, 0.03, 0.5, None, None, 0.01]
    savings["diff_vs_baseline"] = [12.25, 3.0, -7.64, 0.0, None, None, None]
    table = savings_table(savings, ["meta:all"], long=True)
    assert table.columns.tolist() == [
        "method", "tolerance", "depth", "hours", "% saved", "positive F1 lost", "baseline",
        "vs baseline",
    ]  # fmt: skip
    assert table["tolerance"].tolist() == ["≤0.01", "≤0.02", "≤0.035"]
    assert table["baseline"].tolist() == ["random", "baseline:hyperparameters", "random"]
    assert table["vs baseline"].tolist() == ["-7.6, p 0.030", "+0.0, p 0.500 n.s.", "p 0.010"]
    assert table.iloc[0]["% saved"] == "60.0%" and table.iloc[2]["depth"] == "–"
    assert savings_table(_savings(), ["meta:f1"], long=True).columns.tolist() == [
        "method",
        "tolerance",
        "depth",
        "hours",
        "% saved",
        "positive F1 lost",
    ]  # fmt: skip  (an old evaluation: no tests)


def test_search_traces_are_read_summarised_and_drawn(tmp_path: Path) -> None:
    folder = tmp_path / "search" / "interface::graphical"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {"hours": [0.1, 0.2], "total_hours": [0.4, 0.6], "best_test_f1": [0.5, 0.7]}
    ).to_csv(folder / "trace.csv", index=False)
    summary = {
        "best": {"sources": ["a", "b"], "test_f1": 0.7},
        "reference": {"test_f1": 0.45},
        "tried": 2,
        "pool": 10,
        "hours": 0.6,
        "stopped": "budget of 2 trials reached",
    }
    (folder / "search.json").write_text(json.dumps(summary))
    (tmp_path / "search" / "unfinished").mkdir()
    traces = search_traces(tmp_path)
    assert list(traces) == ["interface::graphical"]
    table = search_summary_table(traces)
    assert table.iloc[0]["best model"] == "a → b" and table.iloc[0]["tried"] == "2 of 10"
    figure = render_search_traces(traces)
    (line,) = [ln for ln in figure.axes[0].get_lines() if ln.get_marker() == "o"]
    # Starts at the reference (after its 0.3 h), then each candidate's best so far.
    assert list(line.get_xdata()) == pytest.approx([0.3, 0.4, 0.6])
    assert list(line.get_ydata()) == [0.45, 0.5, 0.7]
    assert set(HOW_TO_READ) >= {"rmse", "budget", "gain", "scatter", "search"}


def _trace(gain: float) -> tuple[pd.DataFrame, dict[str, object]]:
    return pd.DataFrame(), {"best": {"test_f1": 0.5 + gain}, "reference": {"test_f1": 0.5}}


def test_searched_targets_are_tested_against_their_single_task_models() -> None:
    # Gains 0.1 and 0.2: of the four sign vectors, two reach |mean| 0.15, so p = 0.5.
    test = search_test({"a": _trace(0.1), "b": _trace(0.2)})
    assert test["targets"] == 2 and test["mean_gain"] == pytest.approx(0.15)
    assert test["p"] == pytest.approx(0.5)
    assert "+0.1500, p = 0.500 n.s." in search_test_text({"a": _trace(0.1), "b": _trace(0.2)})
    assert search_test_text({"a": _trace(0.1)}) == ""  # one target: no paired test


def test_searches_whose_intervals_are_uninformative_are_named() -> None:
    vague = _trace(0.1)
    vague[1]["interval"] = {"halfwidth": 0.47, "informative": False}
    sharp = _trace(0.2)
    sharp[1]["interval"] = {"halfwidth": 0.05, "informative": True}
    text = search_test_text({"vague": vague, "sharp": sharp})
    assert "+0.1500" in text
    assert "For vague, the meta-model's 95% intervals were wider than half" in text
    assert "sharp," not in text
    # One target: no paired test, but the warning stays; searches from before say nothing.
    assert search_test_text({"vague": vague}).startswith("For vague,")
    assert search_test_text({"a": _trace(0.1)}) == ""


def test_degenerate_models_and_baselines_are_named_and_their_targets_marked() -> None:
    summary = {
        "degenerate_models": {
            "models": 3,
            "of": 12,
            "by_trial_kind": {"single": 1, "transfer": 2},
            "targets": ["food", "water"],
        },
        "degenerate_baselines": {"food": "predicts positive for 30 of 30 validation examples"},
    }
    text = degenerate_text(summary)
    assert text.startswith(
        "Degenerate models: 3 of 12 finished models (1 single, 2 transfer) predict one class "
        "for nearly every validation example, or a constant — targets food, water."
    )
    assert text.endswith("food (predicts positive for 30 of 30 validation examples).")
    none = {"degenerate_models": {"models": 0, "of": 4, "by_trial_kind": {}, "targets": []}}
    assert degenerate_text(none).startswith("No model is degenerate: none of the 4")
    assert degenerate_text({}) == ""  # evaluated before models were judged: nothing said
    frame = pd.DataFrame({"target": ["food", "water"], "pick": ["water", "food"]})
    assert mark_targets(frame, {"food"})["target"].tolist() == ["food †", "water"]
    assert mark_targets(frame, {})["target"].tolist() == ["food", "water"]
    searched = {"food": (pd.DataFrame(), _trace(0.1)[1] | {"tried": 1, "pool": 2, "hours": 0.1})}
    searched["food"][1]["best"] |= {"sources": ["water"]}
    searched["food"][1]["reference"] |= {"degenerate": "predicts positive for 30 of 30"}
    searched["food"][1]["stopped"] = "budget"
    assert search_summary_table(searched)["target"].tolist() == ["food †"]


def test_the_summary_says_what_was_left_out_and_that_gains_are_pooled_across_kinds() -> None:
    """Issues 31.4 and 31.9: unranked targets are counted; a pooled meta-model is said."""
    summary = {
        "degenerate_models": {"models": 0, "of": 6},
        "unranked_targets": {"count": 1, "targets": ["ner"], "why": "…"},
        "target_kinds": {"binary": 1, "qa": 1, "tagging": 1},
    }
    text = degenerate_text(summary)
    assert "Left out of the ranking metrics: 1 target(s) (ner)" in text
    assert "one model is fitted on the targets of 3 kinds (binary, qa, tagging)" in text
    one_kind = {**summary, "target_kinds": {"binary": 2}}
    assert "across kinds" not in degenerate_text(one_kind)
