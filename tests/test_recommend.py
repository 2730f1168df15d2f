from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import keyword_rows, write_csv
from tests.run_config import grid_config, write_config
from transferscout.cli import app
from transferscout.grid.store import RunStore
from transferscout.recommend import interval_is_informative

runner = CliRunner()


@pytest.mark.slow
def test_rank_refuses_a_run_without_signals(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = tmp_path / "grid.toml"
    labels = ["food", "water", "shelter"]
    data = {"path": str(keyword_csv), "label_columns": labels, "fractions": [0.6, 0.2, 0.2]}
    write_config(config, grid_config(data, tiny_encoder_dir))
    run_dir = tmp_path / "run"
    trained = runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)])
    assert trained.exit_code == 0, trained.output  # trials, but no signal computed
    # The evaluation still has the single-task models' validation scores (meta:f1), read from
    # the trials; every signal-based feature set is skipped.
    evaluated = runner.invoke(app, ["evaluate", str(run_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    assert summary["skipped_feature_sets"] == ["f1+ansat", "f1+ansat+taskemb", "all"]
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


@pytest.mark.parametrize(
    ("halfwidth", "bounds", "informative"),
    [
        (0.25, (0.0, 1.0), True),  # width 0.5: exactly half of an F1's range
        (0.26, (0.0, 1.0), False),
        (0.47, (0.0, 1.0), False),  # the +-0.47 rank printed on every row
        (0.5, (-1.0, 1.0), True),  # Spearman's rho: the range is 2
        (0.51, (-1.0, 1.0), False),
        (float("inf"), (0.0, 1.0), False),  # too few residuals for an interval
    ],
)
def test_an_interval_wider_than_half_the_metrics_range_is_uninformative(
    halfwidth: float, bounds: tuple[float, float], informative: bool
) -> None:
    assert interval_is_informative(halfwidth, bounds) is informative
