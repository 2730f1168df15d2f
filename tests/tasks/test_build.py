from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROWS
from transferscout.errors import ConfigError, DataError
from transferscout.tasks import TableSpec, Task, TaskOptions, TaskSet, load_tasks
from transferscout.tasks.task import Split

Writer = Callable[..., Path]
BINARY = TableSpec(label_columns=("food", "water"), split_column="split", id_column="id")


def _rows(n: int, *, seed: int = 0) -> list[dict[str, str]]:
    """n distinct texts with two labels of rates 0.3 and 0.5."""
    rng = np.random.default_rng(seed)
    return [
        {
            "text": f"message number {i}",
            "food": str(int(rng.random() < 0.3)),
            "water": str(int(rng.random() < 0.5)),
        }
        for i in range(n)
    ]


def test_label_columns_with_split_column(small_csv: Path) -> None:
    tasks = load_tasks(small_csv, BINARY)
    assert tasks.names == ["food", "water"]
    food = tasks["food"]
    assert food.train.ids == ("m1", "m2", "m3", "m4", "m11", "m12")
    assert food.train.labels.tolist() == [1, 0, 1, 0, 1, 0]
    assert food.validation.texts == (
        "hungry children in the village",
        "drinking water needed",
        "storm coming tonight",
    )
    assert food.test.labels.tolist() == [1, 0, 0]
    assert tasks["water"].test.labels.tolist() == [0, 1, 0]
    frame = tasks.describe()
    assert frame.loc[0, "train_positives"] == 3 and frame.loc[0, "train_rate"] == 0.5


def test_multilabel_column_each_format_gives_the_same_tasks(tmp_path: Path) -> None:
    labels = [["food"], ["water"], ["food", "water"], [], ["food"], ["water"], []] * 3
    texts = [f"text {i}" for i in range(len(labels))]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"text": t, "labels": ls}) + "\n"
            for t, ls in zip(texts, labels, strict=True)
        ),
        encoding="utf-8",
    )
    csv_path = tmp_path / "d.csv"
    csv_path.write_text(
        "text,labels\n"
        + "".join(f"{t},{';'.join(ls)}\n" for t, ls in zip(texts, labels, strict=True)),
        encoding="utf-8",
    )
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": texts, "labels": labels}), parquet)
    options = TaskOptions(fractions=(0.6, 0.2, 0.2), seed=5)
    from_jsonl = load_tasks(jsonl, TableSpec(multilabel_column="labels"), options)
    from_csv = load_tasks(
        csv_path, TableSpec(multilabel_column="labels", label_delimiter=";"), options
    )
    from_parquet = load_tasks(parquet, TableSpec(multilabel_column="labels"), options)
    assert from_jsonl.names == ["food", "water"]
    for name in ("food", "water"):
        assert from_jsonl[name].fingerprint == from_csv[name].fingerprint
        assert from_jsonl[name].fingerprint == from_parquet[name].fingerprint
    food = from_jsonl["food"]
    assert sum(len(split) for _, split in food.splits()) == len(labels)
    assert sum(split.positives for _, split in food.splits()) == 9


def test_hf_dataset_dict_splits_are_used(tmp_path: Path) -> None:
    import datasets

    def part(texts: Sequence[str], food: Sequence[int]) -> datasets.Dataset:
        return datasets.Dataset.from_dict({"text": list(texts), "food": list(food)})

    datasets.DatasetDict(
        {
            "train": part(["a", "b", "c"], [1, 0, 1]),
            "validation": part(["d", "e"], [0, 1]),
            "test": part(["f", "g"], [1, 0]),
        }
    ).save_to_disk(str(tmp_path / "dd"))
    tasks = load_tasks(tmp_path / "dd", TableSpec(label_columns=("food",)))
    assert tasks["food"].train.texts == ("a", "b", "c")
    assert tasks["food"].test.labels.tolist() == [1, 0]


def test_made_splits_are_deterministic_and_document_level(csv_writer: Writer) -> None:
    path = csv_writer(_rows(200))
    spec = TableSpec(label_columns=("food", "water"))
    first = load_tasks(path, spec, TaskOptions(seed=1))
    again = load_tasks(path, spec, TaskOptions(seed=1))
    other = load_tasks(path, spec, TaskOptions(seed=2))
    assert first["food"].fingerprint == again["food"].fingerprint
    assert first["food"].fingerprint != other["food"].fingerprint
    # One document split for all tasks: a document is in the same split for every task.
    for split in ("train", "validation", "test"):
        assert first["food"].split(split).ids == first["water"].split(split).ids
    assert [len(s) for _, s in first["food"].splits()] == [160, 20, 20]


def test_fingerprint_changes_with_any_label_or_text() -> None:
    def task(labels: list[int], texts: tuple[str, ...] = ("a", "b")) -> Task:
        split = Split(ids=("1", "2"), texts=texts, labels=np.array(labels, dtype=np.int8))
        return Task("t", split, split, split)

    base = task([1, 0]).fingerprint
    assert base == task([1, 0]).fingerprint
    assert base != task([0, 1]).fingerprint
    assert base != task([1, 0], ("a", "c")).fingerprint
    assert len(base) == 64


def test_duplicates_are_dropped_counted_and_reported(csv_writer: Writer) -> None:
    rows = [*ROWS, {**ROWS[0], "id": "m13", "food": "0"}, {**ROWS[3], "id": "m14"}]
    tasks = load_tasks(csv_writer(rows), BINARY)
    assert "m13" not in tasks["food"].train.ids and "m14" not in tasks["food"].train.ids
    (note,) = tasks.notes
    assert note.kind == "duplicate_text" and note.count == 2
    assert "1 had labels different" in note.detail


def test_duplicates_can_be_an_error(csv_writer: Writer) -> None:
    rows = [*ROWS, {**ROWS[0], "id": "m13"}]
    with pytest.raises(DataError, match=r"line 14: duplicate text \(same as line 2\)"):
        load_tasks(csv_writer(rows), BINARY, TaskOptions(duplicates="error"))


def test_duplicate_ids_with_different_texts(csv_writer: Writer) -> None:
    rows = [*ROWS, {**ROWS[0], "text": "another text"}]
    with pytest.raises(DataError, match=r"line 14, column 'id': duplicate document id"):
        load_tasks(csv_writer(rows), BINARY)


def test_missing_column_names_the_columns_that_exist(small_csv: Path) -> None:
    with pytest.raises(DataError) as info:
        load_tasks(small_csv, TableSpec(text_column="message", label_columns=("food",)))
    assert "no text column 'message'" in str(info.value)
    assert "'id', 'text', 'food', 'water', 'split'" in str(info.value)
    with pytest.raises(DataError, match="no label column 'shelter'"):
        load_tasks(small_csv, TableSpec(label_columns=("food", "shelter")))


def test_empty_text_names_row_and_column(csv_writer: Writer) -> None:
    rows = [dict(row) for row in ROWS]
    rows[4]["text"] = "   "
    with pytest.raises(DataError) as info:
        load_tasks(csv_writer(rows), BINARY)
    assert info.value.where == "line 6" and info.value.column == "text"
    assert "the text is empty" in str(info.value)


def test_label_that_is_not_binary(csv_writer: Writer) -> None:
    rows = [dict(row) for row in ROWS]
    rows[2]["water"] = "2"
    with pytest.raises(DataError) as info:
        load_tasks(csv_writer(rows), BINARY)
    assert str(info.value).endswith(
        "line 4, column 'water': the label is not 0 or 1; expected 0 or 1, got '2'"
    )


def test_recode_reads_a_value_as_binary_and_reports_it(csv_writer: Writer) -> None:
    rows = [dict(row) for row in ROWS]
    rows[2]["water"] = "2"
    spec = TableSpec(
        label_columns=("food", "water"), split_column="split", recode={"water": {"2": 0}}
    )
    tasks = load_tasks(csv_writer(rows), spec)
    assert tasks["water"].train.labels.tolist()[2] == 0
    assert [(n.kind, n.count) for n in tasks.notes] == [("recoded_label", 1)]


def test_missing_label(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "food": 1}\n{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2, column 'food': the label is missing"):
        load_tasks(path, TableSpec(label_columns=("food",)))


def test_unknown_task_suggests_close_names(small_csv: Path) -> None:
    with pytest.raises(DataError, match=r"unknown task 'fod' \(did you mean 'food'\?\)"):
        load_tasks(small_csv, BINARY, TaskOptions(tasks=("fod",)))


def test_task_selection_keeps_the_given_order(small_csv: Path) -> None:
    assert load_tasks(small_csv, BINARY, TaskOptions(tasks=("water", "food"))).names == [
        "water",
        "food",
    ]


def test_task_without_positive_in_a_split(csv_writer: Writer) -> None:
    rows = [dict(row) for row in ROWS]
    rows[7]["food"] = "0"  # the only positive food message of the test split
    with pytest.raises(DataError) as info:
        load_tasks(csv_writer(rows), BINARY)
    assert "task 'food' has 0 positive example(s) in the test split" in str(info.value)


def test_task_without_negative_in_a_split(csv_writer: Writer) -> None:
    rows = [dict(row) for row in ROWS]
    for row in rows:
        if row["split"] == "val":
            row["water"] = "1"
    with pytest.raises(DataError, match="'water' has 0 negative example.s. in the validation"):
        load_tasks(csv_writer(rows), BINARY)


def test_duplicate_task_names(small_csv: Path) -> None:
    with pytest.raises(DataError, match="duplicate task name 'food' in label_columns"):
        load_tasks(small_csv, TableSpec(label_columns=("food", "water", "food")))
    tasks = load_tasks(small_csv, BINARY)
    with pytest.raises(DataError, match="duplicate task name 'food'"):
        TaskSet((tasks["food"], tasks["water"], tasks["food"]))
    with pytest.raises(DataError, match="selected twice"):
        tasks.select(["food", "food"])


def test_unknown_split_value(csv_writer: Writer) -> None:
    rows = [dict(row) for row in ROWS]
    rows[0]["split"] = "holdout"
    with pytest.raises(DataError, match=r"line 2, column 'split': unknown split name"):
        load_tasks(csv_writer(rows), BINARY)


def test_split_column_without_a_test_split(csv_writer: Writer) -> None:
    rows = [{**row, "split": "train" if row["split"] == "test" else row["split"]} for row in ROWS]
    with pytest.raises(DataError, match="no record is in the test split"):
        load_tasks(csv_writer(rows), BINARY)


def test_multilabel_cell_that_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": 3.5}\n')
    with pytest.raises(DataError, match=r"line 2, column 'labels': cannot read the labels"):
        load_tasks(path, TableSpec(multilabel_column="labels"))


def test_stratified_cap_keeps_the_positive_rate(csv_writer: Writer) -> None:
    path = csv_writer(_rows(400))
    spec = TableSpec(label_columns=("food", "water"))
    full = load_tasks(path, spec, TaskOptions(seed=0))["food"]
    capped_set = load_tasks(path, spec, TaskOptions(seed=0, max_train_examples=100))
    capped = capped_set["food"]
    assert len(capped.train) == 100
    assert capped.train.positives == round(100 * full.train.positive_rate)
    assert set(capped.train.ids) <= set(full.train.ids)
    assert capped.test.ids == full.test.ids  # no eval cap asked for
    assert any(n.kind == "capped" and "320 -> 100" in n.detail for n in capped_set.notes)
    again = load_tasks(path, spec, TaskOptions(seed=0, max_train_examples=100))["food"]
    assert again.fingerprint == capped.fingerprint


def test_balanced_cap_takes_as_many_positives_as_negatives(csv_writer: Writer) -> None:
    path = csv_writer(_rows(400))
    options = TaskOptions(
        seed=0, max_train_examples=60, max_eval_examples=20, cap_strategy="balanced"
    )
    food = load_tasks(path, TableSpec(label_columns=("food", "water")), options)["food"]
    assert len(food.train) == 60 and food.train.positives == 30
    assert len(food.test) == 20 and 1 <= food.test.positives < 10  # eval caps keep the rate


def test_balanced_cap_with_few_positives_takes_them_all_and_as_many_negatives(
    csv_writer: Writer,
) -> None:
    rows = _rows(300)
    path = csv_writer(rows)
    options = TaskOptions(seed=0, max_train_examples=500, cap_strategy="balanced")
    food = load_tasks(path, TableSpec(label_columns=("food", "water")), options)["food"]
    full = load_tasks(path, TableSpec(label_columns=("food", "water")), TaskOptions(seed=0))
    assert food.train.positives == full["food"].train.positives == 62
    assert len(food.train) == 2 * 62


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fractions": (0.5, 0.5, 0.5)},
        {"fractions": (0.9, 0.1)},
        {"max_train_examples": 1},
        {"cap_strategy": "oversample"},
        {"duplicates": "merge"},
        {"min_positives": 0},
    ],
)
def test_bad_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TaskOptions(**kwargs)  # type: ignore[arg-type]


def test_spec_needs_exactly_one_kind_of_labels() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        TableSpec()
    with pytest.raises(ConfigError, match="exactly one of"):
        TableSpec(label_columns=("a",), multilabel_column="labels")
    with pytest.raises(ConfigError, match="expected 0 or 1"):
        TableSpec(label_columns=("a",), recode={"a": {"2": 5}})


def test_labels_differing_only_in_case_are_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "cased.jsonl"
    records = [
        {"text": f"message {i}", "labels": ["Food"] if i % 2 else ["water"]} for i in range(9)
    ]
    records.append({"text": "rice please", "labels": ["food"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_tasks(path, TableSpec(multilabel_column="labels"))
    message = str(info.value)
    assert "labels 'Food' (line 2) and 'food' (line 10) differ only in case" in message
    assert "column 'labels'" in message


def test_label_columns_differing_only_in_case_are_duplicates(csv_writer: Writer) -> None:
    rows = [{"text": f"t{i}", "Food": str(i % 2), "food": str(i % 3 == 0)} for i in range(9)]
    path = csv_writer(rows)
    with pytest.raises(DataError, match="labels 'Food' and 'food' differ only in case"):
        load_tasks(path, TableSpec(label_columns=("Food", "food")))
