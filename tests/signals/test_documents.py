from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROWS
from transferscout.signals.documents import document_sets
from transferscout.tasks import TableSpec, TaskSet, load_tasks


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


def test_a_larger_cap_keeps_every_document_of_a_smaller_one(keyword_tasks: TaskSet) -> None:
    small = document_sets(keyword_tasks, split="train", max_documents=3, seed=2)
    large = document_sets(keyword_tasks, split="train", max_documents=7, seed=2)
    for name in keyword_tasks.names:
        assert set(small.single[name]) <= set(large.single[name])


def test_pair_sets_reuse_the_single_sets_and_the_self_pair_is_the_single_set(
    keyword_tasks: TaskSet,
) -> None:
    sets = document_sets(keyword_tasks, split="train", max_documents=4, seed=0)
    full = document_sets(keyword_tasks, split="train", max_documents=None)
    names = keyword_tasks.names
    for i, a in enumerate(names):
        assert sets.pair[(a, a)] == sets.single[a]
        for b in names[i + 1 :]:
            both = set(full.pair[(a, b)])
            pair = set(sets.pair[(a, b)])
            assert pair <= both and len(pair) == min(4, len(both))
            reusable = both & (set(sets.single[a]) | set(sets.single[b]))
            # documents of D_a or D_b come first: as many as fit are taken
            assert len(pair & reusable) == min(4, len(reusable))


def test_needed_documents_of_a_model_are_its_pairs_sets(small_csv: Path) -> None:
    tasks = load_tasks(
        small_csv, TableSpec(label_columns=("food", "water"), split_column="split", id_column="id")
    )
    sets = document_sets(tasks, split="train", max_documents=None)
    assert sets.needed([("water", "food")]) == {
        "water": ["m1", "m11", "m12", "m2", "m3"],
        "food": ["m1", "m11", "m12", "m2", "m3"],
    }
    assert sets.needed([("food", "food")]) == {"food": ["m1", "m11", "m3"]}


def test_a_task_from_another_file_with_clashing_ids_shares_no_documents(
    small_csv: Path, csv_writer: Callable[..., Path]
) -> None:
    run_tasks = load_tasks(
        small_csv, TableSpec(label_columns=("food", "water"), split_column="split", id_column="id")
    )
    other_rows = [  # numbered like the run's rows, other texts; m3 has the run's text
        {"id": "m1", "text": "the bridge fell down", "broken": "1", "split": "train"},
        {"id": "m3", "text": "food and water please", "broken": "1", "split": "train"},
        {"id": "m4", "text": "all is calm", "broken": "0", "split": "train"},
        {"id": "m5", "text": "a wall cracked", "broken": "1", "split": "val"},
        {"id": "m6", "text": "sunny day", "broken": "0", "split": "val"},
        {"id": "m9", "text": "roof torn off", "broken": "1", "split": "test"},
        {"id": "m10", "text": "quiet street", "broken": "0", "split": "test"},
    ]
    spec = TableSpec(label_columns=("broken",), split_column="split", id_column="id")
    other = load_tasks(csv_writer(other_rows, "other.csv"), spec)
    tasks = TaskSet((*run_tasks.tasks, *other.tasks))
    sets = document_sets(tasks, split="train", max_documents=None)
    renamed = sets.single["broken"][0]
    assert renamed.startswith("m1~") and sets.single["broken"][1:] == ["m3"]
    assert sets.texts[renamed] == "the bridge fell down"
    assert sets.texts["m1"] == "we need food now"  # the run's document keeps its id
    assert sets.pair[("food", "broken")] == ["m3"]  # the same text is the same document
    assert sets.pair[("water", "broken")] == ["m3"]
    assert sets.key("m1", "the bridge fell down") == renamed
    assert sets.key("m1", "we need food now") == "m1"
    assert sets.key("m4", "all is calm") == "m4"  # unknown to the sets: its own id


def test_limited_sets_are_nested_and_alike_in_every_pair(keyword_tasks: TaskSet) -> None:
    """A model attributed on fewer documents holds every document of its pairs' smaller sets."""
    sets = document_sets(keyword_tasks, split="train", max_documents=None, seed=0)
    full = sets.for_pair("food", "water")
    assert sets.limited("food", "water", None) == full
    assert len(full["a"]) > 5 and len(full["ab"]) == 3  # the caps below cut D_food, D_water
    for most in (2, 5):
        cut = sets.limited("food", "water", most, seed=0)
        assert [len(ids) for ids in cut.values()] == [most, most, min(most, len(full["ab"]))]
        assert all(set(cut[name]) <= set(full[name]) for name in full)
        assert all(cut[name] == sorted(cut[name], key=full[name].index) for name in full)
    small, large = (sets.limited("food", "water", most, seed=0) for most in (2, 5))
    assert all(set(small[name]) <= set(large[name]) for name in small)
    # D_food is cut alike as the source of one pair, the target of another, and D_food,food.
    assert sets.limited("shelter", "food", 2)["b"] == small["a"]
    assert sets.limited("food", "food", 2) == {name: small["a"] for name in ("a", "b", "ab")}
    assert sets.limited("water", "food", 2)["ab"] == small["ab"]
    # A cap above a set's size keeps it whole.
    assert sets.limited("food", "water", 10_000) == full
