"""Read extractive questions (question, context, answer spans) from SQuAD JSON and tables.

SQuAD v1.1 JSON nests questions under their context: ``{"data": [{"paragraphs":
[{"context": ..., "qas": [{"id": ..., "question": ..., "answers": [{"text": ...,
"answer_start": ...}]}]}]}]}``.  JSONL, Parquet and ``datasets`` folders hold one question
per record with ``question``, ``context`` and ``answers`` columns, the answers as SQuAD's
``datasets`` form ``{"text": [...], "answer_start": [...]}`` (or a list of ``{"text",
"answer_start"}`` objects), and an optional ``id`` column.

Every answer is checked against its context: the text at ``answer_start`` must be the answer's
text, else the error names the question id and its location (the line of a JSONL file, the
row of a table, ``data[0].paragraphs[1].qas[2]`` of a SQuAD file).  Unanswerable questions
(SQuAD 2.0's ``is_impossible``, or no answer) are refused: they are out of scope.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from transferscout.errors import DataError
from transferscout.kinds.qa import Answer, answer_labels
from transferscout.tasks.files import FileTaskSpec
from transferscout.tasks.readers import Format, RawTable, _decode, read_table
from transferscout.tasks.task import SPLITS, DataNote, Split, Task

if TYPE_CHECKING:
    from transferscout.tasks.build import TaskOptions

__all__ = [
    "Questions",
    "QuestionsSpec",
    "load_question_task",
    "question_task",
    "questions_from_table",
    "read_questions",
    "read_squad",
]


@dataclass(frozen=True)
class Questions:
    """Questions with their contexts and gold answers, checked against the contexts.

    Attributes:
        path: Where they were read from.
        ids: Each question's id (its ``id``, else its location).
        questions: The question texts.
        contexts: The context each question's answer is a span of.
        answers: Each question's gold answers (at least one; training uses the first).
        locations: Where each question is in its file.
        splits: The split each question came from (a ``DatasetDict`` folder), else ``None``.
    """

    path: Path
    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[tuple[Answer, ...]]
    locations: list[str]
    splits: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)


def read_questions(
    path: str | Path,
    *,
    format: str = "auto",
    question_column: str = "question",
    context_column: str = "context",
    answers_column: str = "answers",
    id_column: str = "id",
) -> Questions:
    """Read extractive questions.

    Args:
        path: A SQuAD JSON file (format ``"squad"``, or the suffix ``.json``), or a JSONL or
            Parquet file or ``datasets`` folder with one question per record.
        format: As :func:`~transferscout.tasks.readers.read_table`, plus ``"squad"``.
        question_column: The column of question texts (tables only).
        context_column: The column of contexts (tables only).
        answers_column: The column of answers (tables only).
        id_column: The column of question ids (tables only; optional: without it, a
            question's location is its id).

    Raises:
        DataError: Unreadable data, a missing column or field, an answer that is not at its
            ``answer_start`` in the context, an unanswerable question, a repeated id.
    """
    path = Path(path)
    if format == "squad" or (format == "auto" and path.suffix.lower() == ".json"):
        return read_squad(path)
    table = read_table(path, format=cast(Format, format))
    return questions_from_table(
        table,
        question_column=question_column,
        context_column=context_column,
        answers_column=answers_column,
        id_column=id_column,
    )


def read_squad(path: str | Path) -> Questions:
    """Read a SQuAD v1.1 JSON file (``data`` -> ``paragraphs`` -> ``qas``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path, expected="an existing SQuAD JSON file")
    try:
        document = json.loads(_decode(path))
    except json.JSONDecodeError as error:
        raise DataError(
            f"not valid JSON ({error.msg} at column {error.colno})",
            path=path,
            where=f"line {error.lineno}",
        ) from None
    records = _Records(path)
    articles = _field(document, "data", list, path, "the file", '{"data": [...]} (SQuAD JSON)')
    for i, article in enumerate(articles):
        where = f"data[{i}]"
        for j, paragraph in enumerate(
            _field(article, "paragraphs", list, path, where, "a list of paragraphs")
        ):
            here = f"{where}.paragraphs[{j}]"
            context = _field(paragraph, "context", str, path, here, "the context text")
            for k, qa in enumerate(_field(paragraph, "qas", list, path, here, "a list of qas")):
                location = f"{here}.qas[{k}]"
                ident = _field(qa, "id", (str, int), path, location, "the question's id")
                if qa.get("is_impossible"):
                    raise DataError(
                        f"question {str(ident)!r} is unanswerable (is_impossible)",
                        path=path,
                        where=location,
                        expected="answerable questions only (SQuAD 2.0's unanswerable "
                        "questions are not supported)",
                    )
                records.add(
                    str(ident),
                    _field(qa, "question", str, path, location, "the question text"),
                    context,
                    _field(qa, "answers", list, path, location, "a list of answers"),
                    location,
                )
    return records.finish(None)


def questions_from_table(
    table: RawTable,
    *,
    question_column: str = "question",
    context_column: str = "context",
    answers_column: str = "answers",
    id_column: str = "id",
) -> Questions:
    """Questions from a table with one question per record (``id_column`` is optional)."""
    questions = table.column(question_column, role="question")
    contexts = table.column(context_column, role="context")
    answers = table.column(answers_column, role="answers")
    ids = table.columns.get(id_column, table.locations)
    records = _Records(table.path)
    for ident, question, context, cell, where in zip(
        ids, questions, contexts, answers, table.locations, strict=True
    ):
        for value, column in ((question, question_column), (context, context_column)):
            if not isinstance(value, str) or not value.strip():
                raise DataError(
                    f"cannot read the {column} text",
                    path=table.path,
                    where=where,
                    column=column,
                    expected="a non-empty string",
                    got=value,
                )
        records.add(str(ident), question, context, _answer_list(cell, where, table), where)
    return records.finish(table.splits)


def _answer_list(cell: Any, where: str, table: RawTable) -> list[Any]:
    """SQuAD's ``{"text": [...], "answer_start": [...]}`` as a list of answer objects."""
    if isinstance(cell, dict) and set(cell) >= {"text", "answer_start"}:
        texts, starts = cell["text"], cell["answer_start"]
        if isinstance(texts, list | tuple) and isinstance(starts, list | tuple):
            if len(texts) == len(starts):
                return [{"text": t, "answer_start": s} for t, s in zip(texts, starts, strict=True)]
    elif isinstance(cell, list | tuple):
        return list(cell)
    raise DataError(
        "cannot read the answers",
        path=table.path,
        where=where,
        expected='{"text": [...], "answer_start": [...]} with one start per text, '
        'or a list of {"text", "answer_start"} objects',
        got=cell,
    )


class _Records:
    """Questions as they are read: each answer checked, ids kept unique."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: list[str] = []
        self.questions: list[str] = []
        self.contexts: list[str] = []
        self.answers: list[tuple[Answer, ...]] = []
        self.locations: list[str] = []
        self.seen: dict[str, str] = {}

    def add(
        self, ident: str, question: str, context: str, answers: Sequence[Any], where: str
    ) -> None:
        if ident in self.seen:
            raise DataError(
                f"question id {ident!r} is repeated (first at {self.seen[ident]})",
                path=self.path,
                where=where,
                expected="a different id for every question",
            )
        self.seen[ident] = where
        if not answers:
            raise DataError(
                f"question {ident!r} has no answer",
                path=self.path,
                where=where,
                expected="at least one answer (unanswerable questions are not supported)",
            )
        self.ids.append(ident)
        self.questions.append(question)
        self.contexts.append(context)
        self.answers.append(
            tuple(self._answer(a, n, ident, context, where) for n, a in enumerate(answers, 1))
        )
        self.locations.append(where)

    def _answer(self, answer: Any, n: int, ident: str, context: str, where: str) -> Answer:
        what = f"answer {n} of question {ident!r}"
        text = answer.get("text") if isinstance(answer, dict) else None
        start = answer.get("answer_start") if isinstance(answer, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                f"{what} has no text",
                path=self.path,
                where=where,
                expected="a non-empty answer text",
                got=answer,
            )
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise DataError(
                f"{what} has no usable answer_start",
                path=self.path,
                where=where,
                expected="a character offset (an integer from 0)",
                got=start,
            )
        found = context[start : start + len(text)]
        if found != text:
            raise DataError(
                f"{what} is not at its answer_start {start} in the context",
                path=self.path,
                where=where,
                expected=f"the context to read {text!r} there",
                got=found,
            )
        return Answer(text, start)

    def finish(self, splits: list[str] | None) -> Questions:
        if not self.ids:
            raise DataError("no questions", path=self.path, expected="at least one question")
        return Questions(
            self.path,
            self.ids,
            self.questions,
            self.contexts,
            self.answers,
            self.locations,
            splits,
        )


def _field(
    record: Any,
    name: str,
    kind: type | tuple[type, ...],
    path: Path,
    where: str,
    expected: str,
) -> Any:
    """``record[name]`` of type ``kind`` (strings non-empty), or a DataError naming ``where``."""
    value = record.get(name) if isinstance(record, dict) else None
    if (
        not isinstance(value, kind)
        or isinstance(value, bool)
        or (isinstance(value, str) and not value.strip())
    ):
        raise DataError(
            f"no usable {name!r}",
            path=path,
            where=where,
            expected=expected,
            got=value if isinstance(record, dict) else record,
        )
    return value


@dataclass(frozen=True)
class QuestionsSpec(FileTaskSpec):
    """One extractive-QA task read from questions (``[[data.questions]]``).

    Attributes:
        name: The task's name.
        path: One file (or ``datasets`` folder) split here: questions of one context stay
            together (contexts are split at random in ``fractions``, seeded); or leave it out
            and give ``train``, ``validation`` and ``test`` files.
        train: The training file (with ``validation`` and ``test``).
        validation: The validation file.
        test: The test file.
        format: As :func:`read_questions` (``auto``: SQuAD JSON for ``.json``).
        question_column: The column of questions (tables).
        context_column: The column of contexts (tables).
        answers_column: The column of answers (tables).
        id_column: The column of question ids (tables; optional).
    """

    what: ClassVar[str] = "question"

    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"
    id_column: str = "id"

    def read(self, path: str) -> Questions:
        """Read one of the task's files."""
        return read_questions(
            path,
            format=self.format,
            question_column=self.question_column,
            context_column=self.context_column,
            answers_column=self.answers_column,
            id_column=self.id_column,
        )


def load_question_task(spec: QuestionsSpec, options: TaskOptions) -> tuple[Task, list[DataNote]]:
    """Read a question task's files and build its task (see :func:`question_task`)."""
    return question_task(spec.name, [spec.read(f) for f in spec.files()], options)


def question_task(
    name: str,
    questions: Questions | Sequence[Questions],
    options: TaskOptions,
) -> tuple[Task, list[DataNote]]:
    """An extractive-QA task from questions, checked and capped; and its notes.

    One :class:`Questions` is split here by context: the distinct contexts are assigned to
    splits in ``options.fractions`` (seeded by ``options.seed``), and each question follows
    its context, so that no context is seen in training and tested on.  Three are the train,
    validation and test splits.  A split's ``texts`` are the questions, its ``pairs`` the
    contexts and its ``labels`` each question's tuple of :class:`Answer`.  Ids repeated
    across the three files are an error.

    Raises:
        DataError: A split without questions, or an id repeated across files.
    """
    from transferscout.kinds import KINDS
    from transferscout.tasks.build import cap_task
    from transferscout.tasks.splits import stratified_split

    kind = KINDS["qa"]
    parts = [questions] if isinstance(questions, Questions) else list(questions)
    seen: dict[str, Path] = {}
    for part in parts:
        for ident in part.ids:
            if ident in seen:
                raise DataError(
                    f"question id {ident!r} is also in {seen[ident]}",
                    path=part.path,
                    expected="a different id for every question of a task",
                )
            seen[ident] = part.path
    if len(parts) == 1:
        (part,) = parts
        contexts = list(dict.fromkeys(part.contexts))
        context_split = stratified_split(
            np.ones((len(contexts), 1), dtype=np.int8), options.fractions, seed=options.seed
        )
        of_context = dict(zip(contexts, context_split.tolist(), strict=True))
        split_of = np.array([of_context[c] for c in part.contexts], dtype=np.intp)
    elif len(parts) == 3:
        split_of = np.repeat(np.arange(3), [len(p) for p in parts])
    else:
        raise ValueError("expected one part (split here) or three (train, validation, test)")
    ids = [i for p in parts for i in p.ids]
    texts = [q for p in parts for q in p.questions]
    pairs = [c for p in parts for c in p.contexts]
    labels = answer_labels([a for p in parts for a in p.answers])
    splits: dict[str, Split] = {}
    for number, split_name in enumerate(SPLITS):
        chosen = np.flatnonzero(split_of == number)
        splits[split_name] = Split(
            ids=tuple(ids[i] for i in chosen),
            texts=tuple(texts[i] for i in chosen),
            labels=labels[chosen].copy(),
            pairs=tuple(pairs[i] for i in chosen),
        )
    task = Task(name=name, kind=kind, classes=(), **splits)
    kind.check(
        name,
        [(n, split.labels) for n, split in task.splits()],
        options.min_positives,
        parts[0].path,
    )
    notes: list[DataNote] = []
    return cap_task(task, options, notes), notes
