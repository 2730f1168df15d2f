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
    # A finished grid says so instead of an ETA of nothing.
    assert "every trial has finished" in status.output and "ETA" not in status.output
    assert "not evaluated yet" in status.output


def test_grid_run_with_a_bad_override(tmp_path: Path) -> None:
    result = runner.invoke(app, ["grid", "run", str(tmp_path / "run"), "-s", "grid.sedes=[1]"])
    assert result.exit_code == 2
    assert "unknown configuration key 'grid.sedes'" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "command", [["rank", "--task", "food"], ["search", "--target", "food", "--budget", "1t"]]
)
def test_rank_and_search_take_overrides_of_the_runs_configuration(
    tmp_path: Path, command: list[str]
) -> None:
    """-s reaches the run's configuration (a misspelt key is refused before anything runs)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"grid": {"seeds": [0]}}))
    name, *rest = command
    result = runner.invoke(app, [name, str(run_dir), *rest, "-s", "grid.sedes=[1]"])
    assert result.exit_code == 2, result.output
    assert "unknown configuration key 'grid.sedes'; did you mean 'grid.seeds'?" in result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json"]


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


@pytest.mark.slow  # three grid runs (about 30 s)
def test_a_full_store_is_one_line_and_exit_2_and_loses_no_finished_trial(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transferscout.grid.store import RunStore

    config = _grid_config(tmp_path, keyword_csv, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    single = runner.invoke(
        app, ["grid", "run", str(run_dir), "-c", str(config), "-s", "grid.sources=[]"]
    )
    assert single.exit_code == 0, single.output
    assert "2 done" in single.output  # the two single-task trials
    # The store may not grow by one page more (SQLite's max_page_count): the transfer trials
    # find it full, as on a full disk.
    monkeypatch.setenv("TRANSFERSCOUT_STORE_PAGES", "0")
    full = runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)])
    assert full.exit_code == 2, full.output
    assert full.stderr.splitlines()[-1] == (
        f"error: {run_dir / 'store.sqlite'}: the run's store cannot be written (database or "
        "disk is full); free space on the disk that holds it (or move the run folder to one "
        "with room), then run the same command again: everything recorded before is kept"
    )
    assert "Traceback" not in full.stderr
    monkeypatch.delenv("TRANSFERSCOUT_STORE_PAGES")
    again = runner.invoke(app, ["grid", "run", str(run_dir), "-c", str(config)])
    assert again.exit_code == 0, again.output
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows()
    assert (
        sorted((r.kind, r.status) for r in rows)
        == [("single", "done")] * 2 + [("transfer", "done")] * 2
    )
    assert all(r.attempts == 1 for r in rows if r.kind == "single")  # not trained again


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


# -- text is printed as it is, never read as rich markup ----------------------------------------
MARKUP = "[[a.b]] [/x] ["  # a config section, a closing tag, a lone bracket: all must survive

#: Each case: the files written (name -> text), the command, the one line expected on stderr
#: (``{dir}``: the folder the command runs in).  Text that rich markup would eat or refuse,
#: then messages that were weak (a class id, a Python TypeError, "a tag column in 1..0").
ONE_LINE_ERRORS = {
    "a SQuAD context with BBCode and a wrong answer_start": (
        {
            "squad.json": json.dumps(
                {
                    "version": "1.1",
                    "data": [
                        {
                            "title": "t",
                            "paragraphs": [
                                {
                                    "context": "[quote]we need water[/quote] at the bridge",
                                    "qas": [
                                        {
                                            "id": "q1",
                                            "question": "where",
                                            "answers": [{"text": "the bridge", "answer_start": 20}],
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ),
            "run.toml": '[data]\ncorpus = "none"\n[[data.questions]]\nname = "qa"\n'
            'path = "squad.json"\n',
        },
        ["run", "run.toml", "-o", "run"],
        "{dir}/squad.json, data[0].paragraphs[0].qas[0]: answer 1 of question 'q1' is not at "
        "its answer_start 20 in the context; expected the context to read 'the bridge' there, "
        "got '[/quote] a'",
    ),
    "a kind named in [[data.questions]]": (
        {
            "d.csv": "text,food\na,1\nb,0\n",
            "run.toml": '[data]\npath = "d.csv"\nlabel_columns = ["food"]\n'
            'task_kinds = { food = "qa" }\n',
        },
        ["run", "run.toml", "-o", "run"],
        "label column 'food': question-answering tasks are read from SQuAD JSON or tables of "
        "question, context and answers: give them in [[data.questions]]",
    ),
    "a missing file with brackets in its name": (
        {
            "run.toml": '[data]\ncorpus = "none"\n[[data.tagged]]\nname = "ner"\n'
            'path = "ner[v2].conll"\n'
        },
        ["run", "run.toml", "-o", "run"],
        "{dir}/ner[v2].conll: file not found; expected an existing file",
    ),
    "a --data-config with no [data] section": (
        {"target.toml": "[grid]\nseeds = [0]\n"},
        ["rank", "run", "--data-config", "target.toml", "--task", "x"],
        "target.toml: no [data] table describing the target's data",
    ),
    "a data file whose path holds markup": (
        {f"{MARKUP}.csv": "text,food\na,1\nb,0\n"},
        ["tasks", "describe", "--data", f"{MARKUP}.csv", "--label-columns", "fod"],
        f"{MARKUP}.csv: no label column 'fod'; expected one of the columns 'text', 'food'",
    ),
    "a class seen only in the test split": (
        {
            "d.csv": "text,topic,split\n"
            + "".join(f"t{i},{c},train\n" for i, c in enumerate(["food", "water"] * 2))
            + "v,food,validation\nw,water,validation\nx,tents,test\ny,food,test\n"
        },
        [
            "tasks",
            "describe",
            "--data",
            "d.csv",
            "--label-columns",
            "topic",
            "--kinds",
            "topic=multiclass",
            "--split-column",
            "split",
        ],
        "d.csv: task 'topic': class 'tents' occurs in the test split but never in training; "
        "expected every class of validation and test to occur in training (add data, merge "
        "rare classes, or change the split)",
    ),
    "a [[data.tagged]] without its name": (
        {"run.toml": '[data]\ncorpus = "none"\n[[data.tagged]]\npath = "ner.conll"\n'},
        ["run", "run.toml", "-o", "run"],
        "data.tagged[0]: no 'name' key; every [[data.tagged]] entry needs one",
    ),
    "a CoNLL word without its tag": (
        {
            "ner.conll": "rain\n",
            "run.toml": '[data]\ncorpus = "none"\n[[data.tagged]]\nname = "ner"\n'
            'path = "ner.conll"\n',
        },
        ["run", "run.toml", "-o", "run"],
        "{dir}/ner.conll, line 1: no tag column 1: the line has 1 column; expected at least 2 "
        "columns separated by spaces or tabs: the word, then its tag at index 1 (tag_index), "
        "got 'rain'",
    ),
}


@pytest.mark.parametrize("case", list(ONE_LINE_ERRORS))
def test_error_text_is_printed_verbatim_in_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, args, expected = ONE_LINE_ERRORS[case]
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)  # "[/x]" is a folder "["
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == ["error: " + expected.format(dir=tmp_path)]
    assert not (tmp_path / "run").exists()


def test_log_records_and_table_cells_are_printed_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import keyword_rows, write_csv

    rows = [{"text": r["text"], MARKUP: r["food"]} for r in keyword_rows(30)]
    (tmp_path / "[[a.b]] [").mkdir()
    write_csv(tmp_path / "[[a.b]] [" / "x] [.csv", rows)  # the path reads "[[a.b]] [/x] [.csv"
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["tasks", "describe", "--data", f"{MARKUP}.csv", "--label-columns", MARKUP]
    )
    assert result.exit_code == 0, result.output
    assert f"INFO     built 1 task from {MARKUP}.csv" in result.stderr  # a log record
    cells = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line]
    assert cells[0] == MARKUP  # the task (named as its column) in the table's first column
    assert f"from {MARKUP}.csv;" in result.stdout  # the caption


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
