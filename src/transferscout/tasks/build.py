"""Build a :class:`TaskSet` from a raw table: validate, de-duplicate, split, select and cap.

The steps, in order: read the text (and second text), id and label cells — each label column
by its task's kind (every bad cell is an error naming its record and column); drop exact
duplicate texts (counted); assign document-level splits (from a split column, from the
source's own splits, or by seeded stratification of every task's strata: binary labels,
classes, value bins); select tasks; let each task's kind check its splits; cap examples.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from transferscout._text import counted
from transferscout.errors import ConfigError, DataError
from transferscout.kinds import BINARY, KINDS, TaskKind, get_kind
from transferscout.tasks.labels import label_key, label_names
from transferscout.tasks.readers import Format, RawTable, read_table
from transferscout.tasks.splits import stratified_split
from transferscout.tasks.task import SPLITS, DataNote, Split, Task, TaskSet, unknown_task_error

__all__ = ["TableSpec", "TaskOptions", "build_tasks", "cap_task", "load_tasks"]

logger = logging.getLogger(__name__)

CapStrategy = Literal["stratified", "balanced"]
DuplicatePolicy = Literal["drop", "keep", "error"]

_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}


@dataclass(frozen=True)
class TableSpec:
    """Which columns of a table hold the text, the labels, the split and the document id.

    Give either ``label_columns`` (one column per task, the column name is the task name) or
    ``multilabel_column`` (one column listing each document's labels; every label becomes a
    binary task).

    Attributes:
        text_column: The column with the document text.
        text_pair_column: A column with a second text per record: every task is then a
            text-pair task (the pair is encoded as the encoder's sentence pair).
        label_columns: One column per task: 0/1 (binary), a class name or integer
            (multi-class), or a number (regression), as ``kinds`` says.
        kinds: Label column -> task kind (``binary``, ``multiclass``, ``regression``);
            columns not named are binary.
        stratify_columns: The label columns whose strata the seeded split balances
            (``None``: all).  A built-in corpus names its original columns here, so that a
            task added later does not move any document to another split.
        multilabel_column: One column with a list of label names per document.
        label_delimiter: Separator of label names in a string multi-label cell (e.g. ``";"``).
        split_column: A column of ``train``/``validation``/``test`` (``val``/``dev`` accepted);
            without one, splits are made by seeded stratification.
        id_column: A column of unique document ids; without one, the record number is used.
        recode: Per label column, raw label values to read as 0 or 1 (e.g. ``{"related":
            {"2": 0}}``); every recoded cell is counted in the task set's notes.
    """

    text_column: str = "text"
    text_pair_column: str | None = None
    label_columns: tuple[str, ...] | None = None
    multilabel_column: str | None = None
    label_delimiter: str | None = None
    split_column: str | None = None
    id_column: str | None = None
    recode: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)
    stratify_columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.label_columns is None) == (self.multilabel_column is None):
            raise ConfigError(
                "give exactly one of label_columns (one 0/1 column per task) or "
                "multilabel_column (one column listing each document's labels)"
            )
        if self.label_columns is not None:
            object.__setattr__(self, "label_columns", tuple(self.label_columns))
            if not self.label_columns:
                raise ConfigError("label_columns is empty; expected at least one column")
        for column, table in self.recode.items():
            for raw, value in table.items():
                if value not in (0, 1):
                    raise ConfigError(f"recode[{column!r}][{raw!r}] = {value!r}; expected 0 or 1")
        for column, kind in self.kinds.items():
            get_kind(kind)
            if self.label_columns is None or column not in self.label_columns:
                raise ConfigError(
                    f"kinds[{column!r}] = {kind!r}, but {column!r} is not a label column; "
                    "kinds apply to label_columns"
                )

    def kind_of(self, column: str) -> TaskKind:
        """The kind of the task of a label column (binary unless ``kinds`` says otherwise)."""
        return KINDS[self.kinds[column]] if column in self.kinds else BINARY


@dataclass(frozen=True)
class TaskOptions:
    """How tasks are selected, split and capped.

    Attributes:
        tasks: Task names to keep, in this order; ``None`` keeps every task.
        seed: Seeds the stratified split and the capping samples.
        fractions: Train, validation and test shares when splits are made here.
        max_train_examples: Cap on each task's training examples (``None``: no cap).
        max_eval_examples: Cap on each task's validation and test examples; these caps always
            keep the positive rate, so that F1 on them stays comparable.
        cap_strategy: ``"stratified"`` keeps the task's positive rate in the capped training
            data; ``"balanced"`` takes as many positives as negatives: ``min(cap // 2,
            positives, negatives)`` of each (so possibly fewer than the cap).
        duplicates: Exact duplicate texts are dropped (first kept, counted), kept, or an error.
        min_positives: Each selected task needs at least this many positive and this many
            negative examples in every split.
    """

    tasks: tuple[str, ...] | None = None
    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    cap_strategy: CapStrategy = "stratified"
    duplicates: DuplicatePolicy = "drop"
    min_positives: int = 1

    def __post_init__(self) -> None:
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(self.tasks))
        fractions = tuple(float(f) for f in self.fractions)
        if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
            raise ConfigError(
                f"fractions = {self.fractions!r}; expected three positive shares "
                "(train, validation, test) summing to 1"
            )
        object.__setattr__(self, "fractions", fractions)
        for name in ("max_train_examples", "max_eval_examples"):
            cap = getattr(self, name)
            if cap is not None and cap < 2 * self.min_positives:
                raise ConfigError(
                    f"{name} = {cap}; expected at least {2 * self.min_positives} (room for "
                    "min_positives positives and as many negatives) or None"
                )
        if self.cap_strategy not in ("stratified", "balanced"):
            raise ConfigError(
                f"cap_strategy = {self.cap_strategy!r}; expected 'stratified' or 'balanced'"
            )
        if self.duplicates not in ("drop", "keep", "error"):
            raise ConfigError(
                f"duplicates = {self.duplicates!r}; expected 'drop', 'keep' or 'error'"
            )
        if self.min_positives < 1:
            raise ConfigError(f"min_positives = {self.min_positives}; expected at least 1")


def load_tasks(
    path: str | Path,
    spec: TableSpec,
    options: TaskOptions | None = None,
    *,
    format: Format = "auto",
) -> TaskSet:
    """Read a labelled table and build its binary tasks.

    Example:
        >>> spec = TableSpec(text_column="message", label_columns=("food", "water"))
        >>> tasks = load_tasks("messages.csv", spec, TaskOptions(max_train_examples=2000))
    """
    table = read_table(path, format=format)
    return build_tasks(table, spec, options or TaskOptions())


def build_tasks(
    table: RawTable,
    spec: TableSpec,
    options: TaskOptions,
    *,
    default_tasks: Sequence[str] | None = None,
    notes: Sequence[DataNote] = (),
) -> TaskSet:
    """Build the tasks of an already read table (see the module docstring for the steps).

    Args:
        table: The raw table.
        spec: Which columns mean what.
        options: Selection, splitting and capping.
        default_tasks: The tasks to keep when ``options.tasks`` is ``None`` (default: all).
        notes: Notes from the caller (e.g. a built-in corpus) to put first.
    """
    notes_out = list(notes)
    texts = _texts(table, spec.text_column)
    pairs = None if spec.text_pair_column is None else _texts(table, spec.text_pair_column)
    ids = _ids(table, spec.id_column)
    columns = _label_columns(table, spec, notes_out)
    for column in columns:
        column.kind.check_texts(
            texts, column.labels, table.locations, path=table.path, column=column.name
        )
    names = [column.name for column in columns]
    split_of = _fixed_splits(table, spec.split_column)

    keys = texts if pairs is None else [f"{a}\x00{b}" for a, b in zip(texts, pairs, strict=True)]
    # one row of labels per record, as objects: a tagging task's label is a tuple of tags
    labels = np.empty((len(texts), len(columns)), dtype=object)
    for j, column in enumerate(columns):
        labels[:, j] = column.labels.tolist() if column.labels.dtype != object else column.labels
    _check_case_duplicates(table, spec, names, labels)
    keep = _deduplicate(table, keys, labels, options.duplicates, notes_out)
    _check_unique_ids(table, ids, keep, spec.id_column)
    texts = [texts[i] for i in keep]
    pairs = None if pairs is None else [pairs[i] for i in keep]
    ids = [ids[i] for i in keep]
    columns = [column.take(keep) for column in columns]
    if split_of is not None:
        split_of = split_of[keep]
    else:
        strata = np.column_stack(
            [
                column.kind.strata(column.labels)
                for column in columns
                if spec.stratify_columns is None or column.name in spec.stratify_columns
            ]
        )
        split_of = stratified_split(strata, options.fractions, seed=options.seed)

    selected = _select(names, options.tasks, default_tasks, table.path)
    tasks = []
    for name in selected:
        column = columns[names.index(name)]
        task = _make_task(column, ids, texts, pairs, split_of)
        task.kind.check(
            task.name,
            [(split_name, split.labels) for split_name, split in task.splits()],
            options.min_positives,
            table.path,
            classes=task.classes,
        )
        tasks.append(cap_task(task, options, notes_out))
    logger.info("built %s from %s", counted(len(tasks), "task"), table.path)
    return TaskSet(tuple(tasks), str(table.path), tuple(notes_out))


@dataclass(frozen=True)
class _LabelColumn:
    """One task's labels over every record of the table, read by the task's kind."""

    name: str
    kind: TaskKind
    labels: npt.NDArray[Any]
    classes: tuple[str, ...] = ()

    def take(self, rows: list[int]) -> _LabelColumn:
        return _LabelColumn(self.name, self.kind, self.labels[rows], self.classes)


def _texts(table: RawTable, column: str) -> list[str]:
    values = table.column(column, role="text")
    texts = []
    for value, where in zip(values, table.locations, strict=True):
        if not isinstance(value, str):
            raise DataError(
                "the text is not a string" if value is not None else "the text is missing",
                path=table.path,
                where=where,
                column=column,
                expected="a non-empty string",
                got=value,
            )
        text = value.strip()
        if not text:
            raise DataError(
                "the text is empty",
                path=table.path,
                where=where,
                column=column,
                expected="a non-empty string",
            )
        texts.append(text)
    return texts


def _ids(table: RawTable, column: str | None) -> list[str]:
    if column is None:
        return [str(i + 1) for i in range(len(table))]
    ids = []
    for value, where in zip(table.column(column, role="id"), table.locations, strict=True):
        key = "" if value is None else str(value).strip()
        if not key:
            raise DataError(
                "the document id is missing",
                path=table.path,
                where=where,
                column=column,
                expected="a unique id",
            )
        ids.append(key)
    return ids


def _check_unique_ids(table: RawTable, ids: list[str], keep: list[int], column: str | None) -> None:
    """Ids must be unique among the kept records (exact duplicate rows were dropped before)."""
    first_seen: dict[str, int] = {}
    for i in keep:
        j = first_seen.setdefault(ids[i], i)
        if j != i:
            raise DataError(
                f"duplicate document id (also at {table.locations[j]}, with a different text)",
                path=table.path,
                where=table.locations[i],
                column=column,
                expected="a unique id per distinct text",
                got=ids[i],
            )


def _label_columns(table: RawTable, spec: TableSpec, notes: list[DataNote]) -> list[_LabelColumn]:
    if spec.label_columns is not None:
        return _kind_columns(table, spec, notes)
    assert spec.multilabel_column is not None
    column = spec.multilabel_column
    per_record = []
    for value, where in zip(table.column(column, role="multi-label"), table.locations, strict=True):
        labels = label_names(value, spec.label_delimiter)
        if labels is None:
            raise DataError(
                "cannot read the labels",
                path=table.path,
                where=where,
                column=column,
                expected="a list of label names, a JSON list, or a delimited string"
                + (f" (delimiter {spec.label_delimiter!r})" if spec.label_delimiter else ""),
                got=value,
            )
        per_record.append(labels)
    names = sorted({label for labels in per_record for label in labels})
    if not names:
        raise DataError(
            "no document has any label",
            path=table.path,
            column=column,
            expected="at least one label name",
        )
    index = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(per_record), len(names)), dtype=np.int8)
    for i, labels in enumerate(per_record):
        matrix[i, [index[label] for label in labels]] = 1
    return [_LabelColumn(name, BINARY, matrix[:, j].copy()) for j, name in enumerate(names)]


def _check_case_duplicates(
    table: RawTable, spec: TableSpec, names: list[str], matrix: npt.NDArray[Any]
) -> None:
    """Labels that differ only in case are one label spelt twice, not two tasks: refuse them."""
    first: dict[str, int] = {}
    for j, name in enumerate(names):
        i = first.setdefault(name.casefold(), j)
        if i == j:
            continue
        spellings = f"{names[i]!r} and {name!r}"
        if spec.multilabel_column is not None:  # say where each spelling first occurs
            where = [table.locations[int(np.argmax(matrix[:, k]))] for k in (i, j)]
            spellings = f"{names[i]!r} ({where[0]}) and {name!r} ({where[1]})"
        raise DataError(
            f"labels {spellings} differ only in case",
            path=table.path,
            column=spec.multilabel_column,
            expected="one spelling per label (fix the data; case-folded duplicates would "
            "silently become two tasks)",
        )


def _kind_columns(table: RawTable, spec: TableSpec, notes: list[DataNote]) -> list[_LabelColumn]:
    assert spec.label_columns is not None
    seen: set[str] = set()
    for name in spec.label_columns:
        if name in seen:
            raise DataError(
                f"duplicate task name {name!r} in label_columns",
                path=table.path,
                column=name,
                expected="every label column once",
            )
        seen.add(name)
    columns = []
    for name in spec.label_columns:
        kind = spec.kind_of(name)
        recode = spec.recode.get(name, {})
        values = table.column(name, role="label")
        labels, classes = kind.read_labels(
            values,
            table.locations,
            path=table.path,
            column=name,
            classes=table.class_names.get(name),
            recode=recode,
        )
        _note_recoded(name, values, recode, notes)
        # a kind whose metric depends on the labels (tags that are not BIO) picks it here
        columns.append(_LabelColumn(name, kind.for_classes(classes), labels, classes))
    return columns


def _note_recoded(
    column: str, values: list[Any], recode: Mapping[str, int], notes: list[DataNote]
) -> None:
    if not recode:
        return
    counts = Counter(label_key(value) for value in values)
    for key, value in recode.items():
        count = counts[label_key(key)]
        if count:
            notes.append(
                DataNote(
                    "recoded_label",
                    count,
                    f"label {column!r}: value {key} read as {value} in {count} records",
                )
            )


def _fixed_splits(table: RawTable, column: str | None) -> npt.NDArray[np.intp] | None:
    if column is not None:
        raw = table.column(column, role="split")
    elif table.splits is not None:
        raw = list(table.splits)
    else:
        return None
    out = np.empty(len(raw), dtype=np.intp)
    for i, (value, where) in enumerate(zip(raw, table.locations, strict=True)):
        name = _SPLIT_ALIASES.get(str(value).strip().lower()) if value is not None else None
        if name is None:
            raise DataError(
                "unknown split name",
                path=table.path,
                where=where,
                column=column,
                expected="train, validation (or val, valid, dev) or test",
                got=value,
            )
        out[i] = SPLITS.index(name)
    for index, name in enumerate(SPLITS):
        if not np.any(out == index):
            raise DataError(
                f"no record is in the {name} split",
                path=table.path,
                column=column,
                expected="records in each of train, validation and test "
                "(or leave out the split column to split by seeded stratification)",
            )
    return out


def _deduplicate(
    table: RawTable,
    texts: list[str],
    matrix: npt.NDArray[Any],
    policy: DuplicatePolicy,
    notes: list[DataNote],
) -> list[int]:
    if policy == "keep":
        return list(range(len(texts)))
    first: dict[str, int] = {}
    keep = []
    conflicts = 0
    for i, text in enumerate(texts):
        j = first.get(text)
        if j is None:
            first[text] = i
            keep.append(i)
            continue
        if policy == "error":
            raise DataError(
                f"duplicate text (same as {table.locations[j]})",
                path=table.path,
                where=table.locations[i],
                expected="each text once (or duplicates='drop')",
            )
        conflicts += int(np.any(matrix[i] != matrix[j]))
    dropped = len(texts) - len(keep)
    if dropped:
        detail = f"exact duplicate texts dropped, first occurrence kept ({conflicts} had labels "
        detail += "different from the kept copy)"
        notes.append(DataNote("duplicate_text", dropped, detail))
    return keep


def _select(
    names: list[str],
    wanted: Sequence[str] | None,
    default: Sequence[str] | None,
    path: Path,
) -> list[str]:
    chosen = list(wanted if wanted is not None else default if default is not None else names)
    seen: set[str] = set()
    for name in chosen:
        if name not in names:
            raise unknown_task_error(name, names, str(path))
        if name in seen:
            raise DataError(f"task {name!r} is selected twice", path=path, expected="each once")
        seen.add(name)
    if not chosen:
        raise DataError("no task selected", path=path, expected="at least one task")
    return chosen


def _make_task(
    column: _LabelColumn,
    ids: list[str],
    texts: list[str],
    pairs: list[str] | None,
    split_of: npt.NDArray[np.intp],
) -> Task:
    splits = {}
    for index, split in enumerate(SPLITS):
        rows = np.flatnonzero(split_of == index)
        splits[split] = Split(
            ids=tuple(ids[i] for i in rows),
            texts=tuple(texts[i] for i in rows),
            labels=column.labels[rows].copy(),
            pairs=None if pairs is None else tuple(pairs[i] for i in rows),
        )
    return Task(name=column.name, kind=column.kind, classes=column.classes, **splits)


def cap_task(task: Task, options: TaskOptions, notes: list[DataNote]) -> Task:
    """The task with each split capped as ``options`` say (its kind picks the rows)."""
    caps = {
        "train": (options.max_train_examples, options.cap_strategy),
        "validation": (options.max_eval_examples, "stratified"),
        "test": (options.max_eval_examples, "stratified"),
    }
    splits: dict[str, Split] = {}
    for name, split in task.splits():
        cap, strategy = caps[name]
        if cap is None or (len(split) <= cap and strategy == "stratified"):
            splits[name] = split
            continue
        rng = np.random.default_rng([options.seed, _stable_int(task.name), SPLITS.index(name)])
        rows = task.kind.cap(split.labels, cap, strategy, options.min_positives, rng)
        if len(rows) < len(split):
            notes.append(
                DataNote(
                    "capped",
                    len(split) - len(rows),
                    f"task {task.name!r}, {name} split: {len(split)} -> {len(rows)} "
                    f"examples ({task.kind.cap_method(strategy)})",
                )
            )
        splits[name] = split.subset(rows)
    return Task(name=task.name, kind=task.kind, classes=task.classes, **splits)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
