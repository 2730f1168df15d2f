"""Building multi-class, regression and text-pair tasks, and their errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import KIND_SPEC, PAIR_SPEC, kind_rows
from transferscout.errors import DataError
from transferscout.kinds import KINDS
from transferscout.tasks import TableSpec, TaskOptions, TaskSet, load_tasks

Writer = Callable[[Sequence[dict[str, str]]], Path]


def test_each_kind_reads_its_column(kind_tasks: TaskSet) -> None:
    topic, words, urgent = kind_tasks["topic"], kind_tasks["words"], kind_tasks["urgent"]
    assert (urgent.kind, topic.kind, words.kind) == tuple(
        KINDS[k] for k in ("binary", "multiclass", "regression")
    )
    assert topic.classes == ("food", "shelter", "water") and topic.num_outputs == 3
    for split in (topic.train, topic.test):
        for text, label in zip(split.texts, split.labels, strict=True):
            assert {"food": "food", "shelter": "tent", "water": "water"}[
                topic.classes[label]
            ] in text.split()
    for text, value in zip(words.train.texts, words.train.labels, strict=True):
        assert value == len(text.split())  # the regression score is the word count
    assert words.train.labels.dtype == np.float64 and words.num_outputs == 1
    # every task of a table shares one document split
    assert topic.test.ids == words.test.ids == urgent.test.ids
    frame = kind_tasks.describe().set_index("task")
    assert frame.loc["topic", "metric"] == "macro_f1" and frame.loc["words", "kind"] == "regression"


def test_the_split_is_stratified_by_class_and_by_value_bins(kind_tasks: TaskSet) -> None:
    topic = kind_tasks["topic"]
    for split in (topic.train, topic.validation, topic.test):
        counts = np.bincount(split.labels, minlength=3)
        assert counts.max() - counts.min() <= 1  # 20 of each class, spread evenly
    words = kind_tasks["words"]
    assert abs(np.median(words.test.labels) - np.median(words.train.labels)) <= 1


def test_pairs_are_kept_and_change_the_fingerprint(pair_tasks: TaskSet, csv_writer: Writer) -> None:
    share = pair_tasks["share"]
    assert share.is_pair and share.train.pairs is not None
    assert len(share.train.pairs) == len(share.train.texts)
    for text, second, label in zip(
        share.train.texts, share.train.pairs, share.train.labels, strict=True
    ):
        assert (text.split()[-1] == second.split()[0]) == bool(label)
    single = load_tasks(
        csv_writer([{k: v for k, v in r.items() if k != "second"} for r in _pair_like()]),
        TableSpec(label_columns=("share",), id_column="id"),
        TaskOptions(fractions=(0.6, 0.2, 0.2)),
    )
    assert not single["share"].is_pair


def _pair_like() -> list[dict[str, str]]:
    from tests.conftest import pair_rows

    return pair_rows()


def test_class_ids_from_a_datasets_class_label(tmp_path: Path) -> None:
    import datasets

    rows = kind_rows(30)
    names = ["food", "shelter", "water"]
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "topic": datasets.ClassLabel(names=names),
        }
    )
    data = {"text": [r["text"] for r in rows], "topic": [names.index(r["topic"]) for r in rows]}
    datasets.Dataset.from_dict(data, features=features).save_to_disk(str(tmp_path / "d"))
    tasks = load_tasks(
        tmp_path / "d",
        TableSpec(label_columns=("topic",), kinds={"topic": "multiclass"}),
        TaskOptions(fractions=(0.6, 0.2, 0.2)),
    )
    topic = tasks["topic"]
    assert topic.classes == tuple(names)
    assert [names[i] for i in topic.train.labels] == [
        r["topic"] for r in rows if r["text"] in set(topic.train.texts)
    ]


def test_integer_classes_from_jsonl(tmp_path: Path) -> None:
    rows = [{"text": f"t {i}", "y": i % 3 * 5} for i in range(30)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tasks = load_tasks(path, TableSpec(label_columns=("y",), kinds={"y": "multiclass"}))
    assert tasks["y"].classes == ("0", "5", "10")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"words": "many"}, r"line 5, column 'words': the value is not a number"),
        ({"topic": ""}, r"line 5, column 'topic': the class is missing"),
        ({"text": "x"}, None),
    ],
)
def test_bad_cells_name_their_record(
    csv_writer: Writer, change: dict[str, str], message: str | None
) -> None:
    rows = kind_rows()
    rows[3] = {**rows[3], **change}
    if message is None:
        load_tasks(csv_writer(rows), KIND_SPEC)
        return
    with pytest.raises(DataError, match=message):
        load_tasks(csv_writer(rows), KIND_SPEC)


def test_an_empty_second_text_is_an_error(csv_writer: Writer) -> None:
    from tests.conftest import pair_rows

    rows = pair_rows()
    rows[6]["second"] = "  "
    with pytest.raises(DataError, match=r"line 8, column 'second': the text is empty"):
        load_tasks(csv_writer(rows), PAIR_SPEC)


def test_fewer_than_two_classes_is_an_error(csv_writer: Writer) -> None:
    rows = [{**r, "topic": "food"} for r in kind_rows()]
    with pytest.raises(DataError, match="column 'topic': the multi-class column has 1 class"):
        load_tasks(csv_writer(rows), KIND_SPEC)


def test_a_class_seen_only_in_test_is_an_error(csv_writer: Writer) -> None:
    rows = [{**r, "split": "train"} for r in kind_rows(30)]
    rows[-1] |= {"split": "test", "topic": "medicine"}
    rows[-2] |= {"split": "validation"}
    spec = TableSpec(label_columns=("topic",), kinds={"topic": "multiclass"}, split_column="split")
    with pytest.raises(DataError, match=r"class 'medicine' occurs in the test split but never in"):
        load_tasks(csv_writer(rows), spec)


def test_caps_by_kind(tmp_path: Path) -> None:
    from tests.conftest import write_csv

    path = write_csv(tmp_path / "k.csv", kind_rows(90))
    options = TaskOptions(fractions=(0.6, 0.2, 0.2), max_train_examples=12, cap_strategy="balanced")
    tasks = load_tasks(path, KIND_SPEC, options)
    assert np.bincount(tasks["topic"].train.labels).tolist() == [4, 4, 4]
    assert len(tasks["words"].train) <= 12


def _describe(data: Path, *args: str) -> tuple[int, str]:
    """``tasks describe`` of ``data``'s three kinds: exit code and output (stderr on exit 2)."""
    from typer.testing import CliRunner

    from transferscout.cli import app

    result = CliRunner().invoke(
        app,
        [
            "tasks", "describe", "--data", str(data), "--label-columns", "urgent,topic,words",
            "--kinds", "topic=multiclass,words=regression", "--output", "json", *args,
        ],
    )  # fmt: skip
    return result.exit_code, result.stdout if result.exit_code == 0 else result.stderr


def test_numbers_spelt_several_ways_read_as_the_clean_column(tmp_path: Path) -> None:
    from tests.conftest import write_csv

    # topic as class ids 1..3, urgent as 0/1: the messy copy spells each number four ways
    ids = {topic: str(i + 1) for i, topic in enumerate(sorted({r["topic"] for r in kind_rows()}))}
    clean = [{**r, "topic": ids[r["topic"]]} for r in kind_rows()]
    ways = ("{}", "{}.0", " 0{} ", "+{}.00")
    messy = [
        {
            **r,
            "topic": ways[i % 4].format(r["topic"]),
            "urgent": ways[i // 2 % 4].format(r["urgent"]),
        }
        for i, r in enumerate(clean)
    ]
    assert {r["topic"] for r in messy} > {"1", "1.0", "2.0", " 03 "}  # really messy
    code, out = _describe(write_csv(tmp_path / "clean.csv", clean))
    assert code == 0, out
    expected = json.loads(out)["tasks"]
    code, out = _describe(write_csv(tmp_path / "messy.csv", messy))
    assert code == 0, out
    got = json.loads(out)["tasks"]
    # three classes, not twelve; the same labels and fingerprints as the clean file
    assert got[1]["train_labels"] == expected[1]["train_labels"] == "1:15 2:16 3:16"
    assert [t["fingerprint"] for t in got] == [t["fingerprint"] for t in expected]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"topic": "Food"},
            "column 'topic': the classes 'food' (line 2) and 'Food' (line 6) differ only in "
            "case or spacing; expected one spelling per class (fix the data: the two "
            "spellings would silently be two classes)",
        ),
        (
            {"words": "4,5"},
            "line 6, column 'words': the value is not a number; expected a finite number "
            "(regression column), got '4,5'",
        ),
        (
            {"urgent": "2.0"},
            "line 6, column 'urgent': the label is not 0 or 1; expected 0 or 1, got '2.0'",
        ),
    ],
)
def test_a_messy_label_cell_is_one_line_and_exit_2_and_nothing_is_written(
    tmp_path: Path, csv_writer: Writer, change: dict[str, str], message: str
) -> None:
    from typer.testing import CliRunner

    from transferscout.cli import app

    rows = kind_rows()
    assert rows[0]["topic"] == "food" and all(r["topic"] != "food" for r in rows[1:3])
    rows[3] = {**rows[3], "topic": "food"}
    rows[4] = {**rows[4], **change}
    data = csv_writer(rows)
    code, err = _describe(data)
    assert code == 2
    assert err.strip().splitlines() == [f"error: {data}, {message}"]
    config = tmp_path / "run.toml"
    config.write_text(
        f'[data]\npath = "{data.name}"\nlabel_columns = ["urgent", "topic", "words"]\n'
        'task_kinds = { topic = "multiclass", words = "regression" }\n'
    )
    run = CliRunner().invoke(app, ["run", str(config), "-o", str(tmp_path / "run")])
    assert run.exit_code == 2
    assert run.stderr.strip().splitlines() == [f"error: {data}, {message}"]
    assert not (tmp_path / "run").exists()
