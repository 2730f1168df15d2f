from __future__ import annotations

from pathlib import Path

from tests.conftest import ROWS
from transferscout.signals.documents import document_sets
from transferscout.tasks import TableSpec, load_tasks


def test_positive_documents_of_tasks_and_pairs(small_csv: Path) -> None:
    tasks = load_tasks(
        small_csv, TableSpec(label_columns=("food", "water"), split_column="split", id_column="id")
    )
    sets = document_sets(tasks, split="train", max_documents=None)
    assert sets.single == {"food": ["m1", "m3", "m11"], "water": ["m2", "m3", "m12"]}
    assert sets.pair[("food", "water")] == ["m3"]
    assert sets.pair[("food", "food")] == ["m1", "m3", "m11"]
    assert sets.for_pair("water", "food") == {
        "a": ["m2", "m3", "m12"],
        "b": ["m1", "m3", "m11"],
        "ab": ["m3"],
    }
    texts = {row["id"]: row["text"] for row in ROWS}
    assert sets.texts == {doc: texts[doc] for doc in ["m1", "m11", "m12", "m2", "m3"]}


def test_caps_are_seeded_samples(small_csv: Path) -> None:
    tasks = load_tasks(
        small_csv, TableSpec(label_columns=("food", "water"), split_column="split", id_column="id")
    )
    first = document_sets(tasks, split="train", max_documents=2, seed=1)
    assert first == document_sets(tasks, split="train", max_documents=2, seed=1)
    assert all(len(ids) == 2 for ids in first.single.values())
    assert set(first.single["food"]) <= {"m1", "m3", "m11"}
