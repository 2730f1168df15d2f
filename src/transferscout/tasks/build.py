"""Build a :class:`TaskSet` from a raw table: validate, de-duplicate, split, select and cap.

The steps, in order: read the text, id and label cells (every bad cell is an error naming
its record and column); drop exact duplicate texts (counted); assign document-level splits
(from a split column, from the source's own splits, or by seeded multi-label stratification);
select tasks; check each task has positives and negatives in every split; cap examples.
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

from transferscout.errors import ConfigError, DataError
from transferscout.tasks.labels import binary_value, label_key, label_names
from transferscout.tasks.readers import Format, RawTable, read_table
from transferscout.tasks.splits import stratified_split
from transferscout.tasks.task import SPLITS, DataNote, Split, Task, TaskSet, unknown_task_error

__all__ = ["TableSpec", "TaskOptions", "build_tasks", "load_tasks"]

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

    Give either ``label_columns`` (one 0/1 column per task, the column name is the task
    name) or ``multilabel_column`` (one column listing each document's labels; every label
    becomes a binary task).

    Attributes:
        text_column: The column with the document text.
        label_columns: One 0/1 column per task.
        multilabel_column: One column with a list of label names per document.
        label_delimiter: Separator of label names in a string multi-label cell (e.g. ``";"``).
        split_column: A column of ``train``/``validation``/``test`` (``val``/``dev`` accepted);
            without one, splits are made by seeded stratification.
        id_column: A column of unique document ids; without one, the record number is used.
        recode: Per label column, raw label values to read as 0 or 1 (e.g. ``{"related":
            {"2": 0}}``); every recoded cell is counted in the task set's notes.
    """

    text_column: str = "text"
    label_columns: tuple[str, ...] | None = None
    multilabel_column: str | None = None
    label_delimiter: str | None = None
    split_column: str | None = None
    id_column: str | None = None
    recode: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

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
    ids = _ids(table, spec.id_column)
    names, matrix = _label_matrix(table, spec, notes_out)
    _check_case_duplicates(table, spec, names, matrix)
    split_of = _fixed_splits(table, spec.split_column)

    keep = _deduplicate(table, texts, matrix, options.duplicates, notes_out)
    _check_unique_ids(table, ids, keep, spec.id_column)
    texts = [texts[i] for i in keep]
    ids = [ids[i] for i in keep]
    matrix = matrix[keep]
    if split_of is not None:
        split_of = split_of[keep]
    else:
        split_of = stratified_split(matrix, options.fractions, seed=options.seed)

    selected = _select(names, options.tasks, default_tasks, table.path)
    tasks = []
    for name in selected:
        column = matrix[:, names.index(name)]
        task = _make_task(name, ids, texts, column, split_of)
        _check_task(task, options.min_positives, table.path)
        tasks.append(_cap_task(task, options, notes_out))
    logger.info("built %d tasks from %s", len(tasks), table.path)
    return TaskSet(tuple(tasks), str(table.path), tuple(notes_out))


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


def _label_matrix(
    table: RawTable, spec: TableSpec, notes: list[DataNote]
) -> tuple[list[str], npt.NDArray[np.int8]]:
    if spec.label_columns is not None:
        return list(spec.label_columns), _binary_columns(table, spec, notes)
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
    return names, matrix


def _check_case_duplicates(
    table: RawTable, spec: TableSpec, names: list[str], matrix: npt.NDArray[np.int8]
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


def _binary_columns(
    table: RawTable, spec: TableSpec, notes: list[DataNote]
) -> npt.NDArray[np.int8]:
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
    matrix = np.zeros((len(table), len(spec.label_columns)), dtype=np.int8)
    for j, name in enumerate(spec.label_columns):
        recode = spec.recode.get(name, {})
        values = table.column(name, role="label")
        # Label cells repeat a handful of distinct values: parse each distinct value once.
        parsed: dict[tuple[type, object], int | None] = {}
        for i, value in enumerate(values):
            try:
                label = parsed[type(value), value]
            except KeyError:
                label = parsed[type(value), value] = binary_value(value, recode)
            except TypeError:  # an unhashable cell, e.g. a list
                label = binary_value(value, recode)
            if label is None:
                raise DataError(
                    "the label is not 0 or 1"
                    if value not in (None, "")
                    else "the label is missing",
                    path=table.path,
                    where=table.locations[i],
                    column=name,
                    expected="0 or 1",
                    got=value,
                )
            matrix[i, j] = label
        _note_recoded(name, values, recode, notes)
    return matrix


def _note_recoded(
    column: str, values: list[Any], recode: Mapping[str, int], notes: list[DataNote]
) -> None:
    if not recode:
        return
    counts = Counter(label_key(value) for value in values)
    for key, value in recode.items():
        if counts[key]:
            notes.append(
                DataNote(
                    "recoded_label",
                    counts[key],
                    f"label {column!r}: value {key} read as {value} in {counts[key]} records",
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
    matrix: npt.NDArray[np.int8],
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
    name: str,
    ids: list[str],
    texts: list[str],
    labels: npt.NDArray[np.int8],
    split_of: npt.NDArray[np.intp],
) -> Task:
    splits = {}
    for index, split in enumerate(SPLITS):
        rows = np.flatnonzero(split_of == index)
        splits[split] = Split(
            ids=tuple(ids[i] for i in rows),
            texts=tuple(texts[i] for i in rows),
            labels=labels[rows].copy(),
        )
    return Task(name=name, **splits)


def _check_task(task: Task, minimum: int, path: Path) -> None:
    for split_name, split in task.splits():
        negatives = len(split) - split.positives
        for kind, count in (("positive", split.positives), ("negative", negatives)):
            if count < minimum:
                raise DataError(
                    f"task {task.name!r} has {count} {kind} example(s) in the {split_name} split",
                    path=path,
                    expected=f"at least {minimum} {kind} example(s) in every split "
                    "(drop the task, add data, or change the split)",
                )


def _cap_task(task: Task, options: TaskOptions, notes: list[DataNote]) -> Task:
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
        rows = _cap_rows(split.labels, cap, strategy, options.min_positives, rng)
        if len(rows) < len(split):
            notes.append(
                DataNote(
                    "capped",
                    len(split) - len(rows),
                    f"task {task.name!r}, {name} split: {len(split)} -> {len(rows)} "
                    f"examples ({strategy})",
                )
            )
        splits[name] = split.subset(rows)
    return Task(name=task.name, **splits)


def _cap_rows(
    labels: npt.NDArray[np.int8],
    cap: int,
    strategy: str,
    minimum: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.intp]:
    """Sample at most ``cap`` rows: stratified (keep the rate) or balanced; sorted."""
    positives = np.flatnonzero(labels == 1)
    negatives = np.flatnonzero(labels == 0)
    cap = min(cap, len(labels))
    if strategy == "balanced":
        n_pos = n_neg = min(len(positives), len(negatives), cap // 2)
    else:
        n_pos = round(cap * len(positives) / len(labels))
        n_pos = min(max(n_pos, minimum), len(positives), cap - minimum)
        n_neg = cap - n_pos
    chosen = np.concatenate(
        [rng.choice(positives, n_pos, replace=False), rng.choice(negatives, n_neg, replace=False)]
    )
    return np.sort(chosen)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
