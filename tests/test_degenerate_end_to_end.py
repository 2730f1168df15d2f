"""A tiny run whose models learn nothing is flagged by ``run``, ``status``, the report and search.

At a learning rate of 1e-9 the tiny random encoder's models stay as initialised: each predicts
one class for every validation document (the kinds' rule,
:meth:`transferscout.kinds.TaskKind.degenerate`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import keyword_rows, write_csv
from tests.run_config import KEYWORDS, tiny_config, write_config
from transferscout.cli import app
from transferscout.grid.models import trial_degenerate
from transferscout.grid.store import RunStore

pytestmark = pytest.mark.slow

runner = CliRunner()


def _text(output: str) -> str:
    """The output with the console's line wrapping undone."""
    return " ".join(output.split())


def test_a_run_that_learns_nothing_is_flagged_everywhere(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    data = write_csv(tmp_path / "keywords.csv", keyword_rows(90, seed=3))
    stage = {"learning_rate": [1e-9], "epochs": [1]}
    changes = {
        f"grid.{part}.{key}": value for part in ("target", "source") for key, value in stage.items()
    }
    config = write_config(
        tmp_path / "run.toml",
        tiny_config({**KEYWORDS, "path": str(data)}, tiny_encoder_dir, changes),
    )
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["run", str(config), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows(status="done")
    reasons = {row.id: trial_degenerate(row) for row in rows}
    assert len(rows) == 3 + 6 and all(reasons.values()), reasons
    shown = _text(result.output)
    assert "Degenerate models: 9 of 9 finished models (3 single, 6 transfer)" in shown
    assert "targets food, shelter, water." in shown
    assert "food †" in shown  # the best-source table marks the target's degenerate baseline

    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    assert summary["degenerate_models"]["models"] == 9
    assert summary["degenerate_models"]["by_trial_kind"] == {"single": 3, "transfer": 6}
    assert sorted(summary["degenerate_baselines"]) == ["food", "shelter", "water"]
    # 18 validation documents (20% of 90), each predicted the same class
    assert re.match(
        r"predicts (positive|negative) for 18 of 18 validation examples",
        summary["degenerate_baselines"]["food"],
    )
    table1 = pd.read_csv(run_dir / "evaluation" / "table1.csv")
    assert table1["degenerate"].all() and table1["baseline_degenerate"].all()

    status = runner.invoke(app, ["status", str(run_dir)])
    assert status.exit_code == 0, status.output
    assert "9 degenerate models" in _text(status.output)
    assert "targets: food, shelter, water" in _text(status.output)
    assert "evaluation and report written" in _text(status.output)
    assert f"report: {run_dir / 'report' / 'report.html'}" in _text(status.output)

    report = (run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "Degenerate models: 9 of 9 finished models" in report
    assert (
        "food †" in report
        and "the target's single-task baseline is degenerate, or its best transfer" in report
    )

    # Every single-task model of the target is degenerate: the search refuses it.
    searched = runner.invoke(
        app, ["search", str(run_dir), "--target", "food", "--budget", "1trials"]
    )
    assert searched.exit_code == 2, searched.output
    assert "target 'food' is degenerate: every one of its 1 single-task models" in _text(
        searched.output
    )
