from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transferscout.cli import app

runner = CliRunner()


def test_describe_a_data_file(small_csv: Path) -> None:
    result = runner.invoke(
        app,
        [
            "tasks", "describe", "--data", str(small_csv), "--label-columns", "food,water",
            "--split-column", "split", "--id-column", "id",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 tasks" in result.output
    assert "3/6" in result.output  # food: 3 positives of 6 training examples


def test_describe_as_json(small_csv: Path) -> None:
    result = runner.invoke(
        app,
        [
            "tasks", "describe", "--data", str(small_csv), "--label-columns", "food",
            "--split-column", "split", "--output", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["tasks"][0]["task"] == "food"
    assert payload["tasks"][0]["test_positives"] == 1


def test_bad_input_is_a_clear_error_with_exit_code_2(small_csv: Path) -> None:
    result = runner.invoke(
        app, ["tasks", "describe", "--data", str(small_csv), "--label-columns", "fod"]
    )
    assert result.exit_code == 2
    assert "no label column 'fod'" in result.stderr


@pytest.mark.corpus
def test_describe_the_builtin_corpus() -> None:
    result = runner.invoke(app, ["tasks", "describe", "--corpus", "disaster-response"])
    assert result.exit_code == 0, result.output
    for name in ("request", "missing_people", "aid_related"):
        assert name in result.output
    assert "duplicate_text" in result.output and "77" in result.output


def test_describe_an_encoder(tiny_encoder_dir: Path) -> None:
    result = runner.invoke(
        app, ["encoders", "describe", str(tiny_encoder_dir), "--num-layers", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "layers" in result.output and "32" in result.output
    assert "BERT (model_type 'bert')" in result.output
    assert "the pooler output (after its tanh)" in result.output
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.count("│") == 3
    }
    assert lines["layers"] == "2 (bert.encoder.layer)"
    assert lines["token types"] == "yes" and lines["baseline default"] == "pad"


def test_grid_run_and_status(tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path) -> None:
    config = tmp_path / "grid.toml"
    config.write_text(
        f'[data]\npath = "{keyword_csv}"\nlabel_columns = ["food", "water"]\n'
        "fractions = [0.6, 0.2, 0.2]\n"
        f'[encoder]\nsource = "{tiny_encoder_dir}"\n'
        "[grid.target]\nmax_length = [32]\n[grid.source]\nmax_length = [32]\n"
    )
    run_dir = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "grid",
            "run",
            str(run_dir),
            "-c",
            str(config),
            "-s",
            "executor.device=cpu",
            "-s",
            "executor.workers=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 done" in result.output  # 2 single-task + 2 transfer trials
    assert (run_dir / "config.json").exists()
    status = runner.invoke(app, ["status", str(run_dir)])
    assert status.exit_code == 0
    assert "4 trials: 4 done, 0 failed, 0 running, 0 pending" in status.output


def test_grid_run_with_a_bad_override(tmp_path: Path) -> None:
    result = runner.invoke(app, ["grid", "run", str(tmp_path / "run"), "-s", "grid.sedes=[1]"])
    assert result.exit_code == 2
    assert "unknown configuration key 'grid.sedes'" in result.stderr
    assert not (tmp_path / "run").exists()
