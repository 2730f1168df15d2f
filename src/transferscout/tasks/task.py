"""The task data model: a text (or text-pair) task of some kind with fixed splits, and a task set.

A :class:`Task` keeps, for each split, the document ids, texts (and second texts of a pair
task) and labels; its :class:`~transferscout.kinds.TaskKind` says what the labels are (0/1,
class ids, values) and how everything downstream treats them.  Document ids
are shared by every task built from the same table, so a document that is positive for two
tasks can be recognised as the same document (ANSAT's ``D_AB`` needs that).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from transferscout.errors import DataError
from transferscout.kinds import BINARY, TaskKind

__all__ = ["SPLITS", "DataNote", "Split", "Task", "TaskSet"]

#: The three splits every task has, in this order.
SPLITS: tuple[str, str, str] = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a task: parallel sequences of document ids, texts and labels.

    ``pairs`` holds the second text of each example of a text-pair task (``None``: single
    texts).  Labels are 0/1 (binary), class ids (multi-class) or values (regression).
    """

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    labels: npt.NDArray[Any]
    pairs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not (len(self.ids) == len(self.texts) == len(self.labels)) or (
            self.pairs is not None and len(self.pairs) != len(self.ids)
        ):
            raise ValueError(
                f"ids, texts, labels (and pairs) must have one entry per document; got "
                f"{len(self.ids)}, {len(self.texts)} and {len(self.labels)}"
            )
        self.labels.setflags(write=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def positives(self) -> int:
        """Number of documents labelled 1."""
        return int(self.labels.sum())

    @property
    def positive_rate(self) -> float:
        """Fraction of documents labelled 1 (0.0 for an empty split)."""
        return self.positives / len(self) if len(self) else 0.0

    def subset(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> Split:
        """Return the documents at ``indices``, in that order."""
        index = np.asarray(indices, dtype=np.intp)
        return Split(
            ids=tuple(self.ids[i] for i in index),
            texts=tuple(self.texts[i] for i in index),
            labels=self.labels[index].copy(),
            pairs=None if self.pairs is None else tuple(self.pairs[i] for i in index),
        )


@dataclass(frozen=True, eq=False)
class Task:
    """A named task of some kind with train, validation and test splits.

    Attributes:
        kind: What the labels are and how every stage treats them (default binary).
        classes: The class names of a multi-class task, in class-id order.
    """

    name: str
    train: Split
    validation: Split
    test: Split
    kind: TaskKind = BINARY
    classes: tuple[str, ...] = ()

    @property
    def num_outputs(self) -> int:
        """Width of the task's head."""
        return self.kind.num_outputs(self.classes)

    @property
    def is_pair(self) -> bool:
        """Whether examples are text pairs."""
        return self.train.pairs is not None

    def split(self, name: str) -> Split:
        """Return the split called ``name`` (one of :data:`SPLITS`)."""
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        split: Split = getattr(self, name)
        return split

    def splits(self) -> Iterator[tuple[str, Split]]:
        """Iterate over ``(split name, split)`` in the order of :data:`SPLITS`."""
        for name in SPLITS:
            yield name, self.split(name)

    @cached_property
    def fingerprint(self) -> str:
        """A content hash of the task: its name and every split's ids, texts and labels.

        Two tasks with the same fingerprint hold exactly the same data, whatever file or
        options they came from, so the fingerprint keys every cache built on a task.  A binary
        single-text task hashes exactly as before task kinds existed (``v1``); other tasks
        also hash their kind, class names and second texts (``v2``).
        """
        digest = hashlib.sha256()
        if self.kind is BINARY and not self.is_pair:
            digest.update(json.dumps(["transferscout-task-v1", self.name]).encode())
            for name, split in self.splits():
                digest.update(json.dumps([name, split.ids, split.texts]).encode())
                digest.update(split.labels.astype(np.int8).tobytes())
            return digest.hexdigest()
        header = ["transferscout-task-v2", self.name, self.kind.name, list(self.classes)]
        digest.update(json.dumps(header).encode())
        for name, split in self.splits():
            digest.update(json.dumps([name, split.ids, split.texts, split.pairs]).encode())
            digest.update(self.kind.label_bytes(split.labels))
        return digest.hexdigest()


@dataclass(frozen=True)
class DataNote:
    """Something done to the data on purpose while building tasks, with a count.

    ``kind`` is a short machine-readable key (``duplicate_text``, ``recoded_label``,
    ``excluded_task``, ``capped`` …); ``detail`` says what and why in words.
    """

    kind: str
    count: int
    detail: str


@dataclass(frozen=True, eq=False)
class TaskSet(Mapping[str, Task]):
    """An ordered collection of tasks with unique names, plus notes on how it was built."""

    tasks: tuple[Task, ...]
    source: str = ""
    notes: tuple[DataNote, ...] = ()
    _by_name: dict[str, Task] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Task] = {}
        for task in self.tasks:
            if task.name in by_name:
                raise DataError(
                    f"duplicate task name {task.name!r}",
                    path=self.source or None,
                    expected="every task to have a different name",
                )
            by_name[task.name] = task
        object.__setattr__(self, "_by_name", by_name)

    def __getitem__(self, name: str) -> Task:
        try:
            return self._by_name[name]
        except KeyError:
            raise unknown_task_error(name, list(self._by_name), self.source) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def names(self) -> list[str]:
        """Task names in order."""
        return list(self._by_name)

    def select(self, names: Sequence[str]) -> TaskSet:
        """Return a task set with only ``names``, in the order given."""
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise DataError(
                    f"task {name!r} is selected twice",
                    path=self.source or None,
                    expected="each task name once",
                )
            seen.add(name)
        return TaskSet(tuple(self[name] for name in names), self.source, self.notes)

    def describe(self) -> pd.DataFrame:
        """One row per task: kind, primary metric, split sizes and labels, the fingerprint.

        ``<split>_positives``/``<split>_rate`` count the documents ANSAT treats as the task's
        positive ones (binary: label 1; multi-class: not of the majority training class;
        regression: above the training median); ``<split>_labels`` describes the labels.
        """
        rows = []
        for task in self.tasks:
            row: dict[str, object] = {
                "task": task.name,
                "kind": task.kind.name,
                "metric": task.kind.primary_metric,
                "pair": task.is_pair,
            }
            for name, split in task.splits():
                positives = int(task.kind.positive_mask(split.labels, task.train.labels).sum())
                row[name] = len(split)
                row[f"{name}_positives"] = positives
                row[f"{name}_rate"] = round(positives / len(split), 4) if len(split) else 0.0
                row[f"{name}_labels"] = task.kind.summary(split.labels, task.classes)
            row["fingerprint"] = task.fingerprint[:12]
            rows.append(row)
        return pd.DataFrame(rows)


def unknown_task_error(name: str, available: Sequence[str], source: str = "") -> DataError:
    """Build the error for a task name that is not in ``available``, suggesting close names."""
    import difflib

    close = difflib.get_close_matches(name, available, n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    return DataError(
        f"unknown task {name!r}{hint}",
        path=source or None,
        expected=f"one of {', '.join(available) if available else '(no tasks)'}",
    )
