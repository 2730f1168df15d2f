from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import keyword_rows, write_csv
from tests.run_config import grid_config, write_config
from transferscout.cli import app
from transferscout.grid.store import RunStore

runner = CliRunner()


@pytest.mark.slow
def test_rank_refuses_a_run_without_signals_as_evaluate_does(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = tmp_path / "grid.toml"
    labels = ["food", "water", "shelter"]
    data = {"path": str(keyword_csv), "label_columns": labels, "fractions": [0.6, 0.2, 0.2]}
    write_config(config, grid_config(data, tiny_encoder_dir))
    run_dir = tmp_path / "run"
    trained = runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)])
    assert trained.exit_code == 0, trained.output  # trials, but no signal computed
    evaluated = runner.invoke(app, ["evaluate", str(run_dir)])
    assert evaluated.exit_code == 2 and "no feature set could be evaluated" in evaluated.stderr
    rows = [{"text": r["text"], "camp": r["shelter"]} for r in keyword_rows(40, seed=5)]
    data = write_csv(tmp_path / "camp.csv", rows)
    with RunStore(run_dir, readonly=True) as store:
        before = len(store.rows())
    result = runner.invoke(
        app, ["rank", str(run_dir), "--data", str(data), "--label-column", "camp"]
    )
    assert result.exit_code == 2, result.output
    assert "has no transferability signals" in result.stderr and "signals" in result.stderr
    with RunStore(run_dir, readonly=True) as store:
        assert len(store.rows()) == before  # refused before training the target's model
