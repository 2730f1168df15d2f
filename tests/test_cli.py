from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.run_config import grid_config, write_config
from transferscout.cli import app

runner = CliRunner()
FRACTIONS = [0.6, 0.2, 0.2]


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
    config = _grid_config(tmp_path, keyword_csv, tiny_encoder_dir)
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


def test_describe_shows_each_tasks_kind_and_metric(tmp_path: Path) -> None:
    from tests.conftest import kind_rows, pair_rows, write_csv

    data = write_csv(tmp_path / "kinds.csv", kind_rows())
    result = runner.invoke(
        app,
        [
            "tasks", "describe", "--data", str(data), "--label-columns", "urgent,topic,words",
            "--kinds", "topic=multiclass,words=regression", "--output", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {row["task"]: row for row in json.loads(result.stdout)["tasks"]}
    assert {name: (row["kind"], row["metric"]) for name, row in rows.items()} == {
        "urgent": ("binary", "f1"),
        "topic": ("multiclass", "macro_f1"),
        "words": ("regression", "spearman"),
    }
    pairs = write_csv(tmp_path / "pairs.csv", pair_rows())
    result = runner.invoke(
        app,
        [
            "tasks", "describe", "--data", str(pairs), "--label-columns", "share",
            "--text-pair-column", "second", "--output", "json",
        ],
    )  # fmt: skip
    assert json.loads(result.stdout)["tasks"][0]["pair"] is True
    bad = runner.invoke(
        app, ["tasks", "describe", "--data", str(data), "--label-columns", "topic",
              "--kinds", "topic=ordinal"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "unknown task kind 'ordinal'" in bad.stderr


def _grid_config(tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path) -> Path:
    data = {"path": str(keyword_csv), "label_columns": ["food", "water"], "fractions": FRACTIONS}
    return write_config(tmp_path / "grid.toml", grid_config(data, tiny_encoder_dir))


@pytest.mark.parametrize("command", ["run", "grid"])
def test_a_run_folder_that_is_a_file_is_one_line_and_exit_2(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path, command: str
) -> None:
    config = _grid_config(tmp_path, keyword_csv, tiny_encoder_dir)
    folder = tmp_path / "taken"
    folder.write_text("not a folder")
    args = (
        ["run", str(config), "--run-dir", str(folder)]
        if command == "run"
        else ["grid", "run", str(folder), "-c", str(config)]
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "is a file, not a run folder" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert folder.read_text() == "not a folder"


def test_rank_output_must_be_known_before_any_work(tmp_path: Path, small_csv: Path) -> None:
    result = runner.invoke(
        app,
        ["rank", str(tmp_path / "no-run"), "--data", str(small_csv), "--label-column", "food",
         "--output", "bogus"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--output 'bogus'; expected table, csv or json" in result.stderr


def test_status_of_an_emptied_store_says_what_to_do(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = _grid_config(tmp_path, keyword_csv, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)]).exit_code == 0
    (run_dir / "store.sqlite").write_bytes(b"")
    for args in (["status", str(run_dir)], ["grid", "run", str(run_dir), "-c", str(config)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "store.sqlite is empty" in result.stderr and "afresh" in result.stderr
    assert (run_dir / "store.sqlite").stat().st_size == 0


def test_stage_commands_use_the_runs_configuration_by_default(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = _grid_config(tmp_path, keyword_csv, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)]).exit_code == 0
    again = runner.invoke(app, ["grid", "run", str(run_dir)])  # no -c: the run's config.json
    assert again.exit_code == 0, again.output
    assert "4 done" in again.output and "(0 trials run now)" in again.output


def test_an_internal_error_shows_its_traceback_and_says_it_is_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import transferscout.grid.status

    def broken(run_dir: object) -> None:
        raise KeyError("internal")

    monkeypatch.setattr(transferscout.grid.status, "run_status", broken)
    with pytest.raises(SystemExit) as info:
        app(["status", str(tmp_path)], prog_name="transferscout")
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'internal'" in err
    assert "a bug in transferscout" in err


def test_an_environment_error_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    import transferscout.grid.status

    def full(run_dir: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "store.sqlite"))

    monkeypatch.setattr(transferscout.grid.status, "run_status", full)
    with pytest.raises(SystemExit) as info:
        app(["status", str(tmp_path)], prog_name="transferscout")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1


def test_report_without_an_evaluation_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no evaluation to report" in result.stderr
    assert not (tmp_path / "report").exists()


def test_tasks_describe_a_configuration_with_several_tables(tmp_path: Path) -> None:
    from tests.test_config import MIXED_POOL, _mixed_pool

    path = _mixed_pool(tmp_path)
    result = runner.invoke(app, ["tasks", "describe", "--config", str(path), "--output", "json"])
    assert result.exit_code == 0, result.output
    tasks = json.loads(result.stdout)["tasks"]
    assert [(t["task"], t["kind"], t["pair"]) for t in tasks] == [
        ("urgent", "binary", False),
        ("topic", "multiclass", False),
        ("share", "binary", True),
    ]
    path.write_text(MIXED_POOL + '\n[[data.tables]]\nformat = "csv"\n')
    bad = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "run")])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "error: data.tables[1]: give exactly one of path (a file) or corpus (built-in)"
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["rank", "--help"], ["[data] section", "[[data.questions]]"]),
        (["tasks", "describe", "--help"], ["[data] tasks", "[[data.tables]]"]),
    ],
)
def test_help_shows_config_sections_in_brackets(command: list[str], shown: list[str]) -> None:
    result = runner.invoke(app, command, env={"COLUMNS": "240"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # rich wraps and pads; compare the words
    for section in shown:
        assert section in text  # rich markup would read "[data]" as a style and drop it


def test_grid_run_reuses_trials_of_other_library_versions_unless_asked_to_retrain(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    import sqlite3

    config = _grid_config(tmp_path, keyword_csv, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)]).exit_code == 0

    def upgrade() -> None:  # as an older transformers left the store
        with sqlite3.connect(run_dir / "store.sqlite") as db:
            db.execute(
                "UPDATE trials SET config = json_set(config, '$.versions.transformers', '4.1')"
            )

    upgrade()
    reused = runner.invoke(app, ["grid", "run", str(run_dir)])
    assert reused.exit_code == 0, reused.output
    assert "(0 trials run now)" in reused.output
    assert "reusing 4 finished trials" in " ".join(reused.output.split())
    again = runner.invoke(app, ["grid", "run", str(run_dir), "--retrain-on-version-change"])
    assert again.exit_code == 0, again.output
    assert "4 done" in again.output and "(4 trials run now)" in again.output
    upgrade()
    settled = runner.invoke(app, ["grid", "run", str(run_dir)])  # the flag is not kept
    assert "(0 trials run now)" in settled.output
    assert "reusing 4" in " ".join(settled.output.split())
