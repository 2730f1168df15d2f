"""The cold-start benchmark's tables, on the hand-made pool table of the replay's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import load_benchmark
from tests.evaluation.test_pool_replay import pool_table
from transferscout.evaluation.pool_replay import pool_replay

cold_start = load_benchmark("cold_start")


def test_grids_side_by_side_and_the_issue_targets() -> None:
    one = pool_replay(pool_table(), ["setting"], budgets=(0.1, 0.2), random_orders=2)
    results = {"left": one, "right": one}
    lines = cold_start.side_by_side(results, 0.2).splitlines()
    assert lines[0] == "| method | left | right |"
    methods = [line.split(" | ")[0].removeprefix("| ") for line in lines[2:]]
    assert methods[0] == "**pool**" and methods[-1] == "oracle"
    assert len(methods) == len(set(methods))  # each method once, whatever the budgets
    oracle = one.summary.query("method == 'oracle' and budget == 0.2").iloc[0]
    assert lines[-1].count(f"{oracle['loss_found']:.4f} ({oracle['within']:.0%})") == 2
    checks = cold_start.targets_check(results)
    assert len(checks) == 2 and checks[0].startswith("- left: at 10%: loss ")
    assert "vs online:hyperparameters at 20%" in checks[0]
    assert "| left | 2 | 6 | 9.000 |" in cold_start.facts_table(results)


def test_model_recycling_tables_are_found_or_skipped_with_a_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fixtures = Path(__file__).parent.parent / "fixtures" / "model-recycling"
    with caplog.at_level("WARNING", logger="cold_start"):
        grids = cold_start.recycling_grids(fixtures)
    assert list(grids) == ["mr roberta-base", "mr google_t5-v1_1-base"]
    assert sum("is absent, skipped" in r.getMessage() for r in caplog.records) == 4
    grid = grids["mr google_t5-v1_1-base"](tmp_path)
    assert grid.setting_columns == [] and grid.family_hours == {}
    assert grid.prior is not None and grid.prior.signals == ("mnli_lp",)
    assert len(grid.table) == 1368 and grid.signals == ("mnli_lp",)


def test_a_matrix_is_checked_against_random_and_the_mnli_lp_order() -> None:
    table = pool_table().assign(target_hours=1.0, predicted_hours=float("nan"))
    table["mnli_lp"] = table["textemb_cosine"]
    one = pool_replay(table, [], budgets=(0.1, 0.5), random_orders=2, signals=("mnli_lp",))
    (line,) = cold_start.targets_check({"mr tiny": one})
    assert line.startswith("- mr tiny: at 10%: loss ")
    assert "vs random (" in line and "vs signal:mnli_lp (" in line
