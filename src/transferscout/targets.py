"""A new target task for ``rank`` and ``search``: described like a run's data, prepared like it.

The target's data is described exactly as a run's ``[data]`` section describes its tasks — a
file with one 0/1 label column or a multi-label column and the label's name, a split column,
an id column, or a built-in corpus — or by a TOML file's ``[data]`` section.  Whatever the
description leaves out is taken from the run: the same file and columns when none is given
(a held-out label of the run's own data), and always the same preparation (seed, split
fractions, caps, cap strategy, duplicate policy) unless the user overrides it.

A target whose every single-task model is degenerate (predicts one class for nearly every
validation example, or a constant) is itself degenerate: every prediction about it would be
meaningless, so :func:`check_not_degenerate` refuses it with the numbers and what to change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transferscout.config import DataConfig, RunConfig, read_config_file
from transferscout.errors import ConfigError, DataError
from transferscout.grid.models import trial_degenerate
from transferscout.grid.store import TrialRow
from transferscout.tasks.task import Task

__all__ = ["SOURCE_KEYS", "check_not_degenerate", "data_section", "prepare_target"]

_LAYOUT_KEYS = (
    "corpus",
    "path",
    "format",
    "text_column",
    "label_columns",
    "multilabel_column",
    "label_delimiter",
    "split_column",
    "id_column",
    "tagged",
    "questions",
)

#: ``[data]`` keys that say where the data is and how it is laid out (not how it is prepared):
#: these, and any other column or kind key a run's ``[data]`` section has (a text-pair column).
SOURCE_KEYS = _LAYOUT_KEYS + tuple(
    f.name
    for f in dataclasses.fields(DataConfig)
    if f.name.endswith(("_column", "_kinds")) and f.name not in _LAYOUT_KEYS
)


def data_section(path: str | Path) -> dict[str, Any]:
    """The ``[data]`` table of a TOML file, as written (keys it leaves out stay unset).

    Its relative data paths are relative to the file's folder, as a run configuration's
    (:func:`~transferscout.config.read_config_file`).

    Raises:
        ConfigError: The file is missing, not TOML, or has no ``[data]`` table.
    """
    section = read_config_file(path).get("data")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: no [data] table describing the target's data")
    return section


def prepare_target(
    run: RunConfig,
    task: str,
    *,
    data: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Task:
    """Build one target task the way ``run``'s tasks were built.

    Args:
        run: The run's configuration.
        task: The label (task) to take from the data: a 0/1 column's name, a label of the
            multi-label column, or a built-in corpus category.
        data: ``[data]`` keys given by the user.  Source keys (:data:`SOURCE_KEYS`) replace
            the run's description as a whole when any is given; preparation keys (caps,
            seed, fractions, ...) override the run's one by one.
        name: The task's name (default: ``task``).

    Raises:
        ConfigError: An unknown key or a bad value.
        DataError: The data cannot be read or the label is not in it.
    """
    given = dict(data or {})
    unknown = sorted(set(given) - {f.name for f in dataclasses.fields(DataConfig)})
    if unknown:
        raise ConfigError(
            f"unknown data option {unknown[0]!r}; expected keys of a run's [data] section"
        )
    if "tables" in given:
        raise ConfigError(
            "a target is one table: describe it without data.tables (its path or corpus, "
            "columns and kind)"
        )
    base = dataclasses.asdict(run.data)
    # A held-out label is read from the run's first table ([data] itself); a label of one of
    # its further tables is described with that table's keys (--data, --data-config).
    base["tables"] = []
    if any(key in given for key in SOURCE_KEYS):  # a new description replaces the run's
        defaults = dataclasses.asdict(DataConfig(corpus=None))
        base.update({key: defaults[key] for key in SOURCE_KEYS})
    if "label_columns" not in given and "multilabel_column" not in given and "path" in given:
        given["label_columns"] = [task]  # a file and nothing else: the label is a 0/1 column
    base.update(given)
    if base.get("label_columns") is not None and base.get("multilabel_column") is None:
        base["label_columns"] = [task]
    # The task's own kind only: the run's kinds of its other labels do not apply to it.
    base["task_kinds"] = {k: v for k, v in (base.get("task_kinds") or {}).items() if k == task}
    base.update(tasks=[task], all_tasks=base.get("corpus") is not None and base.get("path") is None)
    try:
        config = DataConfig(**base)
    except TypeError as error:
        raise ConfigError(f"data options: {error}") from None
    config.task_options()  # checks caps, strategy, fractions before reading anything
    built = config.load()
    target = built[task]
    if name is not None and name != task:
        target = dataclasses.replace(target, name=name)
    return target


def check_not_degenerate(task: Task, reference: Sequence[TrialRow]) -> None:
    """Refuse a target whose every single-task model is degenerate on validation.

    A model is degenerate by its kind's rule (:func:`~transferscout.grid.models.trial_degenerate`:
    one class for nearly every validation example, or a constant); one model that is not is
    enough.  Models whose metrics the rule cannot judge (a kind without a rule, metrics
    recorded before its counts) leave the target accepted.

    Raises:
        DataError: With the training split's labels, each model's reason, and what to change.
    """
    done = [row for row in reference if row.metrics is not None]
    reasons = [trial_degenerate(row) for row in done]
    if not done or any(reason is None for reason in reasons):
        return
    models = "; ".join(
        f"lr {row.config['target']['settings']['learning_rate']:g}, seed {row.seed}: {reason}"
        for row, reason in zip(done, reasons, strict=True)
    )
    train = task.train
    raise DataError(
        f"target {task.name!r} is degenerate: every one of its {len(done)} single-task models "
        f"predicts one class for nearly everything, or a constant ({models}); its training "
        f"split has {task.kind.summary(train.labels, task.classes)} ({len(train)} examples), "
        "so any predicted score for it would be meaningless",
        expected=(
            "more examples of the rarer class(es) in training (--cap-strategy balanced, a "
            "larger --max-train-examples), or more epochs / a higher learning rate in the "
            "run's grid.target settings"
        ),
    )
