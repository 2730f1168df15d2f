from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import transferscout
from transferscout.cli import app
from transferscout.errors import TransferScoutError
from transferscout.matrix import import_matrix
from transferscout.matrix_evaluation import evaluate_matrix, is_matrix_run

runner = CliRunner()

ROBERTA = Path(__file__).parent / "fixtures" / "model-recycling" / "roberta-base_table.csv"

#: Two targets, three sources, one setting, one score (no validation, no hours), a probe signal.
#: t1: single-task 0.50; a 0.60, b 0.70, c 0.55 (best b, probe ranks c > a > b).
#: t2: single-task 0.40; a 0.45, b 0.30, c 0.42 (best a, probe ranks a > c > b).
SMALL = "\n".join(
    [
        "target,source,score,single_task_score,probe",
        "t1,a,0.60,0.50,2",
        "t1,b,0.70,0.50,1",
        "t1,c,0.55,0.50,3",
        "t2,a,0.45,0.40,5",
        "t2,b,0.30,0.40,1",
        "t2,c,0.42,0.40,4",
        "",
    ]
)


def _small_run(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text(SMALL, encoding="utf-8")
    run = tmp_path / "small-run"
    import_matrix(path, run)
    return run


def test_evaluate_on_a_hand_made_matrix_through_the_cli(tmp_path: Path) -> None:
    run = _small_run(tmp_path)
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "reads the matrix's signals: probe" in out
    assert "signal hours: 0 — the matrix records no signal cost" in out
    assert "equal cost per trial" in out
    assert "decisions and truth read the same score" in out
    for name in ("pool_replay.csv", "pool_replay_targets.csv", "rankings.csv", "summary.json"):
        assert (run / "evaluation" / name).is_file()
    markdown = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "## The pool search replayed" in markdown and "## Rankings by signal" in markdown
    assert "found 30%" in markdown and "equal cost per trial" in markdown
    assert (run / "report" / "report.html").read_text(encoding="utf-8").startswith("<!doctype")
    summary = json.loads((run / "evaluation" / "summary.json").read_text(encoding="utf-8"))
    assert summary["policy"] == {"signals": ["probe"], "setting_columns": []}
    assert summary["budget_unit"] == "candidates"
    # one setting: the hyperparameters-only baseline is left out, and said so
    replay = pd.read_csv(run / "evaluation" / "pool_replay.csv")
    assert "online:hyperparameters" not in set(replay["method"])
    assert "online:hyperparameters" in summary["pool_replay"]["skipped"]
    # 30% of 6 candidates: 1.8 trials, so one; the oracle trains t1's b (gain 0.20) first
    oracle = summary["pool_replay"]["by_budget"]["0.3"]["oracle"]
    assert oracle["trials"] == 1.0
    assert oracle["loss_found"] == pytest.approx((0.0 + 0.05) / 2)  # t2 still 0.45 - 0.40
    # `report` rewrites the same report from the files
    again = runner.invoke(app, ["report", str(run)])
    assert again.exit_code == 0, again.output
    assert (run / "report" / "report.md").read_text(encoding="utf-8") == markdown


def test_the_rankings_of_the_hand_made_matrix(tmp_path: Path) -> None:
    result = transferscout.evaluate_matrix(_small_run(tmp_path), budgets=(1.0,), random_orders=3)
    per = result.ranking_targets.set_index(["method", "target"])
    # probe's first pick: c on t1 (0.70 - 0.55), a on t2 (the best: 0)
    assert per.at[("signal:probe", "t1"), "loss@1"] == pytest.approx(0.15)
    assert per.at[("signal:probe", "t2"), "loss@1"] == pytest.approx(0.0)
    assert per.at[("signal:probe", "t1"), "rank_of_best"] == 3.0
    assert per.at[("signal:probe", "t1"), "regret@1"] == pytest.approx(0.15 / 0.70 * 100)
    # random: the first pick's expectation is the mean of the three
    assert per.at[("random", "t1"), "loss@1"] == pytest.approx(0.70 - (0.60 + 0.70 + 0.55) / 3)
    assert per.at[("random", "t1"), "rank_of_best"] == pytest.approx(2.0)  # (3 + 1) / 2
    assert per.at[("signal:probe", "t2"), "spearman"] == pytest.approx(1.0)
    assert per.at[("signal:probe", "t1"), "spearman"] == pytest.approx(-1.0)
    # at 100% every order trains everything: every method finds every target's best
    replay = result.replay.summary.set_index("method")
    assert replay.at["random", "loss_found"] == pytest.approx(0.0, abs=1e-12)  # sums of scores
    assert replay.at["signal:probe", "within"] == 1.0
    assert result.report.markdown.is_file()


def test_a_matrix_with_hours_validation_and_settings_uses_them(tmp_path: Path) -> None:
    rows = ["target,source,setting,score,validation_score,single_task_score,"]
    rows[0] += "single_task_validation_score,hours"
    for target, own in (("t1", 0.5), ("t2", 0.4)):
        for i, source in enumerate("abc"):
            for j, setting in enumerate(("lr1", "lr2")):
                score = own + 0.02 * i - 0.03 * j
                rows.append(
                    f"{target},{source},{setting},{score:.2f},{score + 0.01:.2f},{own},{own},"
                    f"{1 + j}"
                )
    path = tmp_path / "rich.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    run = tmp_path / "rich"
    import_matrix(path, run)
    result = evaluate_matrix(run, budgets=(0.5,), random_orders=2)
    assert "hours: the matrix's target-stage hours; budgets are shares of their sum" in (
        result.notes
    )
    assert "decisions read the validation scores; the truth is the (test) score" in result.notes
    assert result.summary["policy"]["setting_columns"] == ["setting"]
    assert "online:hyperparameters" in set(result.replay.summary["method"])
    assert result.summary["policy"]["signals"] == []
    assert set(result.rankings["method"]) == {"random"}  # no signal: random alone
    # half of the 18 target-stage hours
    assert (result.replay.summary["budget_hours"] == 9.0).all()


def test_roberta_base_at_a_short_budget(tmp_path: Path) -> None:
    run = tmp_path / "roberta"
    import_matrix(ROBERTA, run, format="model-recycling")
    assert is_matrix_run(run)
    result = evaluate_matrix(run, budgets=(0.002,), random_orders=2)
    product = result.replay.summary.set_index("method").loc["pool"]
    assert 0 < product["trials"] <= 0.002 * 13860  # 27 trials at most
    assert len(result.replay.trace) == product["trials"]
    ranked = result.rankings.set_index(["method", "metric"])
    assert ranked.at[("signal:mnli_lp", "ndcg@3"), "targets"] == 36
    assert result.summary["policy"]["signals"] == ["mnli_lp"]


def test_evaluate_refuses_a_folder_that_is_neither_a_run_nor_a_matrix_run(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    for target in (folder, tmp_path / "missing"):
        result = runner.invoke(app, ["evaluate", str(target)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "neither a run" in lines[0] and "matrix" in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "missing").exists()
    with pytest.raises(TransferScoutError, match="not a matrix run"):
        evaluate_matrix(folder)


def test_a_matrix_run_takes_no_overrides(tmp_path: Path) -> None:
    run = _small_run(tmp_path)
    result = runner.invoke(app, ["evaluate", str(run), "-s", "evaluation.seed=1"])
    assert result.exit_code == 2 and "without a configuration" in result.output
    assert not (run / "evaluation").exists()
