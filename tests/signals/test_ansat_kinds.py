"""ANSAT across task kinds: the generalised document sets and attributed outputs, by hand.

Definition (README, "ANSAT for every kind"): a task's positive documents are binary: label 1;
multi-class: not of the task's majority training class; regression: above the task's training
median.  The attributed output of a document with the model of task T is binary: the positive
logit; multi-class: the gold class's logit when the document belongs to T, else the logit of
the class the model predicts; regression: the output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transferscout.encoders import load_encoder
from transferscout.kinds import KINDS
from transferscout.signals.ansat_stage import attribution_targets
from transferscout.signals.attributions import AttributionSettings, attribute_documents
from transferscout.signals.documents import document_sets
from transferscout.tasks import Split, Task, TaskSet
from transferscout.training.finetune import predict_proba


def _split(ids: list[str], labels: list[float], dtype: type) -> Split:
    return Split(tuple(ids), tuple(f"text of {i}" for i in ids), np.array(labels, dtype=dtype))


def _hand_tasks() -> TaskSet:
    ids = ["d1", "d2", "d3", "d4", "d5"]
    # topic: majority training class is 0 -> positives are the documents of classes 1 and 2
    topic = Task(
        "topic",
        _split(ids, [0, 0, 0, 1, 2], np.int64),
        _split(["v1"], [0], np.int64),
        _split(["t1", "t2", "t3"], [0, 1, 2], np.int64),
        KINDS["multiclass"],
        ("a", "b", "c"),
    )
    # words: training median 3 -> positives are the documents above 3
    words = Task(
        "words",
        _split(ids, [1, 2, 3, 4, 5], np.float64),
        _split(["v1"], [1], np.float64),
        _split(["t1", "t2", "t3"], [9, 3, 4], np.float64),
        KINDS["regression"],
    )
    urgent = Task(
        "urgent",
        _split(ids, [1, 0, 0, 1, 1], np.int8),
        _split(["v1"], [1], np.int8),
        _split(["t1", "t2", "t3"], [0, 1, 1], np.int8),
    )
    return TaskSet((topic, words, urgent))


def test_document_sets_of_each_kind_by_hand() -> None:
    sets = document_sets(_hand_tasks(), split="test", max_documents=None)
    assert sets.single == {"topic": ["t2", "t3"], "words": ["t1", "t3"], "urgent": ["t2", "t3"]}
    assert sets.for_pair("topic", "words")["ab"] == ["t3"]
    assert sets.for_pair("urgent", "topic")["ab"] == ["t2", "t3"]
    train = document_sets(_hand_tasks(), split="train", max_documents=None)
    assert train.single["topic"] == ["d4", "d5"] and train.single["words"] == ["d4", "d5"]


def test_attributed_outputs_follow_the_kind(tiny_encoder_dir: Path) -> None:
    tasks = _hand_tasks()
    sets = document_sets(tasks, split="test", max_documents=None)
    encoder = load_encoder(str(tiny_encoder_dir), num_labels=3)
    documents = ["t2", "t3", "d9"]  # t2, t3 belong to topic; d9 is another task's document
    sets.texts["d9"] = "water for the village"
    targets = attribution_targets(encoder, tasks["topic"], documents, sets, 32)
    predicted = predict_proba(
        encoder.model,
        encoder.tokenizer,
        [sets.texts["d9"]],
        max_length=32,
        kind=KINDS["multiclass"],
    ).argmax(axis=1)[0]
    assert targets == {"t2": 1, "t3": 2, "d9": int(predicted)}  # gold classes, else predicted
    one = load_encoder(str(tiny_encoder_dir), num_labels=1)
    assert attribution_targets(one, tasks["words"], documents, sets, 32) == dict.fromkeys(
        documents, 0
    )
    two = load_encoder(str(tiny_encoder_dir), num_labels=2)
    assert attribution_targets(two, tasks["urgent"], documents, sets, 32) == dict.fromkeys(
        documents, 1
    )


def test_a_pair_is_attributed_over_the_words_of_both_texts(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    settings = AttributionSettings(n_steps=8, max_length=32)
    words, tokens, _ = attribute_documents(
        encoder.model,
        encoder.tokenizer,
        {"p": "need food", "s": "need food"},
        settings,
        pairs={"p": "send water here"},
    )
    pair = words[words["doc_id"] == "p"]
    assert pair["word"].tolist() == ["need", "food", "send", "water", "here"]
    assert pair["word_index"].tolist() == [0, 1, 2, 3, 4]
    assert words[words["doc_id"] == "s"]["word"].tolist() == ["need", "food"]
    # the pair's tokens: [CLS] need food [SEP] send water here [SEP]
    assert tokens[tokens["doc_id"] == "p"]["token"].tolist() == [
        "[CLS]",
        "need",
        "food",
        "[SEP]",
        "send",
        "water",
        "here",
        "[SEP]",
    ]
    # conductance of the pair differs from the first text alone (the second text matters)
    assert not np.allclose(pair["score"].to_numpy()[:2], words[words["doc_id"] == "s"]["score"])


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_multiple_attributed_outputs_in_one_call_match_one_by_one(
    tiny_encoder_dir: Path, kind: str
) -> None:
    width = 3 if kind == "multiclass" else 1
    encoder = load_encoder(str(tiny_encoder_dir), num_labels=width)
    settings = AttributionSettings(n_steps=6, max_length=32, target=0)
    documents = {"a": "need food now", "b": "water please", "c": "the road is closed"}
    targets = {"a": 0, "b": width - 1, "c": 0}
    together, _, _ = attribute_documents(
        encoder.model, encoder.tokenizer, documents, settings, targets=targets
    )
    for doc, text in documents.items():
        alone, _, _ = attribute_documents(
            encoder.model,
            encoder.tokenizer,
            {doc: text},
            AttributionSettings(n_steps=6, max_length=32, target=targets[doc]),
        )
        np.testing.assert_allclose(
            together[together["doc_id"] == doc]["score"].to_numpy(),
            alone["score"].to_numpy(),
            rtol=1e-5,
            atol=1e-7,
        )
