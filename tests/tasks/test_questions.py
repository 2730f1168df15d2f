"""Extractive questions from SQuAD JSON, JSONL, Parquet and datasets folders; answer checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from transferscout.config import load_config
from transferscout.errors import ConfigError, DataError
from transferscout.kinds.qa import Answer
from transferscout.tasks import TaskOptions
from transferscout.tasks.questions import (
    QuestionsSpec,
    load_question_task,
    question_task,
    read_questions,
)

CONTEXT = "Send tents to Gonaives city. Water is short in Hinche."


def _squad(qas: list[dict[str, Any]], context: str = CONTEXT) -> dict[str, Any]:
    return {
        "version": "1.1",
        "data": [
            {"title": "t", "paragraphs": [{"context": "Rain tonight.", "qas": []}]},
            {"title": "u", "paragraphs": [{"context": context, "qas": qas}]},
        ],
    }


QAS = [
    {"id": "q1", "question": "Where?", "answers": [{"text": "Gonaives city", "answer_start": 14}]},
    {
        "id": "q2",
        "question": "What is short?",
        "answers": [{"text": "Water", "answer_start": 29}, {"text": "Water", "answer_start": 29}],
    },
]


def _write_squad(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_squad_json(tmp_path: Path) -> None:
    questions = read_questions(_write_squad(tmp_path, _squad(QAS)))
    assert questions.ids == ["q1", "q2"]
    assert questions.questions == ["Where?", "What is short?"]
    assert questions.contexts == [CONTEXT, CONTEXT]
    assert questions.answers[0] == (Answer("Gonaives city", 14),)
    assert len(questions.answers[1]) == 2 and questions.answers[1][0].end == 34
    assert questions.locations == ["data[1].paragraphs[0].qas[0]", "data[1].paragraphs[0].qas[1]"]
    assert questions.splits is None


def test_squad_errors_name_the_question(tmp_path: Path) -> None:
    shifted = [{**QAS[0], "answers": [{"text": "Gonaives city", "answer_start": 13}]}]
    with pytest.raises(DataError) as error:
        read_questions(_write_squad(tmp_path, _squad(shifted)))
    message = str(error.value)
    assert "dev.json, data[1].paragraphs[0].qas[0]: answer 1 of question 'q1' is not at" in message
    assert "answer_start 13" in message and "got ' Gonaives cit'" in message
    impossible = [{**QAS[0], "is_impossible": True, "answers": []}]
    with pytest.raises(DataError, match="'q1' is unanswerable"):
        read_questions(_write_squad(tmp_path, _squad(impossible)))
    with pytest.raises(DataError, match="'q1' has no answer"):
        read_questions(_write_squad(tmp_path, _squad([{**QAS[0], "answers": []}])))
    with pytest.raises(DataError, match=r"qas\[1\]: question id 'q1' is repeated \(first at"):
        read_questions(_write_squad(tmp_path, _squad([QAS[0], {**QAS[1], "id": "q1"}])))
    with pytest.raises(DataError, match=r"data\[1\].paragraphs\[0\]: no usable 'context'"):
        read_questions(_write_squad(tmp_path, _squad(QAS, context="")))
    with pytest.raises(DataError, match="the file: no usable 'data'"):
        read_questions(_write_squad(tmp_path, [1, 2]))
    path = tmp_path / "bad.json"
    path.write_text('{"data": [\n}', encoding="utf-8")
    with pytest.raises(DataError, match="bad.json, line 2: not valid JSON"):
        read_questions(path)


def _records() -> list[dict[str, Any]]:
    return [
        {
            "id": "a",
            "question": "Where?",
            "context": CONTEXT,
            "answers": {"text": ["Gonaives city"], "answer_start": [14]},
        },
        {
            "id": "b",
            "question": "Which town is short of water?",
            "context": CONTEXT,
            "answers": {"text": ["Hinche", "Hinche."], "answer_start": [47, 47]},
        },
    ]


def _jsonl(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_parquet_and_datasets_tables(tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = _records()
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "q.parquet")
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(records[:1]),
            "test": datasets.Dataset.from_list(records[1:]),
        }
    ).save_to_disk(str(tmp_path / "hf"))
    for path in (_jsonl(tmp_path, records), tmp_path / "q.parquet", tmp_path / "hf"):
        questions = read_questions(path)
        assert questions.ids == ["a", "b"]
        assert questions.answers[1] == (Answer("Hinche", 47), Answer("Hinche.", 47))
    assert read_questions(tmp_path / "hf").splits == ["train", "test"]
    # a list of answer objects and no id column: the location is the id
    listed = [{k: v for k, v in records[0].items() if k != "id"}]
    listed[0]["answers"] = [{"text": "tents", "answer_start": 5}]
    questions = read_questions(_jsonl(tmp_path, listed))
    assert questions.ids == ["line 1"] and questions.answers == [(Answer("tents", 5),)]


def test_table_errors_name_the_line_and_question(tmp_path: Path) -> None:
    records = _records()
    records[1]["answers"] = {"text": ["Hinche"], "answer_start": [46]}
    with pytest.raises(DataError) as error:
        read_questions(_jsonl(tmp_path, records))
    assert "q.jsonl, line 2: answer 1 of question 'b' is not at its answer_start 46" in str(
        error.value
    )
    records[1]["answers"] = {"text": ["Hinche"], "answer_start": ["47"]}
    with pytest.raises(DataError, match="line 2: answer 1 of question 'b' has no usable answer_st"):
        read_questions(_jsonl(tmp_path, records))
    records[1]["answers"] = {"text": ["Hinche", "x"], "answer_start": [47]}
    with pytest.raises(DataError, match="line 2: cannot read the answers"):
        read_questions(_jsonl(tmp_path, records))
    records[1]["answers"] = {"text": [], "answer_start": []}
    with pytest.raises(DataError, match="line 2: question 'b' has no answer"):
        read_questions(_jsonl(tmp_path, records))
    records[1]["context"] = ""
    with pytest.raises(DataError, match="line 2, column 'context': cannot read the context"):
        read_questions(_jsonl(tmp_path, records))
    with pytest.raises(DataError, match="no question column 'query'"):
        read_questions(_jsonl(tmp_path, _records()), question_column="query")


def test_a_question_task_is_split_by_context_checked_and_capped(tmp_path: Path) -> None:
    from tests.conftest import templated_squad

    questions = read_questions(templated_squad(tmp_path / "aid.json", 20, seed=3))
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    task, notes = question_task("aid", questions, options)
    assert task.kind.name == "qa" and task.is_pair and notes == []
    sizes = [len(split) for _, split in task.splits()]
    assert sum(sizes) == 40 and sizes == [24, 8, 8]  # 12/4/4 contexts of two questions each
    contexts = [set(split.pairs or ()) for _, split in task.splits()]
    assert len(contexts[0] | contexts[1] | contexts[2]) == 20
    assert not (contexts[0] & contexts[1] or contexts[0] & contexts[2] or contexts[1] & contexts[2])
    for _, split in task.splits():  # every question keeps its context and answers
        for ident, question, context, answers in zip(
            split.ids, split.texts, split.pairs or (), split.labels, strict=True
        ):
            i = questions.ids.index(ident)
            assert (question, context) == (questions.questions[i], questions.contexts[i])
            assert answers == questions.answers[i]
    again, _ = question_task("aid", questions, options)
    assert again.fingerprint == task.fingerprint
    shifted, _ = question_task("aid", questions, TaskOptions(fractions=(0.6, 0.2, 0.2), seed=1))
    assert shifted.fingerprint != task.fingerprint
    capped, notes = question_task("aid", questions, TaskOptions(max_train_examples=5))
    assert len(capped.train) == 5
    # issue 31.9: a QA cap is no stratified one (questions have no strata), and says so
    assert [n.kind for n in notes] == ["capped"]
    assert "(a random sample: questions have no classes to stratify)" in notes[0].detail
    assert "stratified)" not in notes[0].detail


def test_question_task_errors(tmp_path: Path) -> None:
    from tests.conftest import templated_squad

    with pytest.raises(ConfigError, match="'aid': give either path"):
        QuestionsSpec("aid")
    with pytest.raises(ConfigError, match="give either path"):
        QuestionsSpec("aid", path="a.json", train="b.json")
    files = [templated_squad(tmp_path / f"{n}.json", 3, seed=0) for n in ("a", "b", "c")]
    spec = QuestionsSpec("aid", train=str(files[0]), validation=str(files[1]), test=str(files[2]))
    with pytest.raises(DataError, match=r"b.json: question id 'c0a' is also in .*a.json"):
        load_question_task(spec, TaskOptions())
    # two contexts cannot fill three splits
    two = read_questions(templated_squad(tmp_path / "two.json", 2, seed=0))
    with pytest.raises(DataError, match="task 'aid' has 0 question"):
        question_task("aid", two, TaskOptions())


def test_questions_in_a_run_configuration(tmp_path: Path) -> None:
    from tests.conftest import templated_squad

    templated_squad(tmp_path / "aid.json", 10, seed=0)
    (tmp_path / "run.toml").write_text(
        '[data]\ncorpus = "none"\n\n[[data.questions]]\nname = "aid"\npath = "aid.json"\n',
        encoding="utf-8",
    )
    tasks = load_config(tmp_path / "run.toml").data.load()
    assert tasks.names == ["aid"] and tasks["aid"].kind.name == "qa"
    assert sum(len(split) for _, split in tasks["aid"].splits()) == 20
