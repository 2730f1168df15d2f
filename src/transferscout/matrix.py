"""Anyone's transfer matrix as a run folder: the pool table the pool search's replay reads.

A *transfer matrix* is a table of measured transfers — for each target, each source (an
intermediate task or checkpoint) and each setting, the target's score after training from that
source — with each target's single-task score.  :func:`import_matrix` reads one into a run
folder, so that the pool search and the signal rankings can be replayed on results nobody
here trained:

- ``<run>/matrix/pool.csv``: the *pool table* (one row per (target, candidate), the contract
  of :mod:`transferscout.meta.pool`): ``target``, ``source``, ``setting``, ``seeds``,
  ``first_validation_gain`` (what a search observes after training the candidate once: the
  lowest seed's validation score minus the target's single-task validation score),
  ``first_validation_score``, ``validation_score`` (mean over seeds), ``validation_gain``,
  ``real_f1`` (the truth: the mean score over seeds), ``real_f1_sd``, ``real_gain``,
  ``target_score``, ``target_validation_score``, ``target_hours`` (the lowest seed's target
  stage hours; 1 per trial when the matrix has none), ``predicted_hours`` (known before
  training; NaN — equal cost per trial — unless the matrix gives them), then the signals;
- ``<run>/matrix.json``: where it came from (path, sha256, format) and what it holds (rows,
  candidates, targets, sources, settings, signals, whether it has hours and separate
  validation scores, rows left out and why).

When a matrix has no validation scores, decisions and truth read the same score (the
observation *is* the truth, one seed's of it); the import says so, and so does ``matrix.json``
(``has_validation``).

**Plain format** (CSV, one row per trained transfer): ``target``, ``source``, ``score``,
``single_task_score`` required; optional ``setting`` (default: one setting, ``default``),
``seed`` (an integer: the rows of one (target, source, setting) are its seeds — averaged for
the truth, the lowest seed is what a search observes), ``validation_score`` and
``single_task_validation_score`` (both or neither), ``hours`` (the target stage's realised
hours, on every row or none), ``predicted_hours`` (known before training); any other column
whose every non-empty cell is a number is a signal (an empty cell: not computed, NaN; one value
per candidate over its seeds).  A target's single-task score must be given on at least one of
its rows and be the same wherever given.  Scores stay on the file's scale.

**model-recycling format** (``<base>_table.csv`` of IBM/model-recycling, Choshen et al. 2022):
rows are starting checkpoints, columns target datasets, cells accuracy × 100 (a correlation ×
100 for stsb) of the checkpoint fine-tuned on the target, one run each.  Scores are divided by
100 (0-1, the scale of the pool search's prior and of this project's F1s), the single-task score
too: the base model's row (the first, its ``model_name`` the file's base model; a mean of runs)
is every target's single-task score.  An empty cell is a candidate not evaluated (left out).
``mnli_lp`` (a linear probe's MNLI accuracy × 100, kept on its scale: the pool search
standardises signals within each target) is the signal; empty, it stays NaN.  ``avg`` is *not*
a signal: it is the checkpoint's mean over the very target columns it would predict, the truth
itself leaking into the ranking.  Two kinds of rows are left out, and counted in
``matrix.json``: the base model's own later row (one run of the base model itself, no transfer:
its "gain" would be only the spread between one run and the mean of runs), and a checkpoint
listed again with the same target scores (``google/t5-v1_1-base`` repeats seven checkpoints,
the repeats with ``mnli_lp`` 0.0, a probe that did not run; the first row is kept).  There are
no hours and no validation scores: equal cost per trial, decisions and truth read the same
score.

Every check runs before anything is written: a user's mistake is one :class:`DataError`
naming the file, the line (1-based, the header is line 1) and the column.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from transferscout._text import counted
from transferscout.errors import DataError, TransferScoutError
from transferscout.grid.store import check_run_folder
from transferscout.meta.features import FIRST_GAIN, META_TARGET, REAL_GAIN
from transferscout.tasks.readers import RawTable, read_table

logger = logging.getLogger(__name__)

__all__ = [
    "MATRIX_FORMATS",
    "MATRIX_VERSION",
    "MatrixInfo",
    "import_matrix",
    "load_matrix_info",
    "load_matrix_table",
    "read_matrix",
]

MatrixFormat = Literal["plain", "model-recycling"]
MATRIX_FORMATS: tuple[str, ...] = ("plain", "model-recycling")

#: Version of ``matrix.json`` and ``matrix/pool.csv`` (read back by :func:`load_matrix_table`).
MATRIX_VERSION = 1

#: The one setting of a matrix without a ``setting`` column.
DEFAULT_SETTING = "default"

_REQUIRED = ("target", "source", "score", "single_task_score")
_RESERVED = (
    *_REQUIRED,
    "setting",
    "seed",
    "validation_score",
    "single_task_validation_score",
    "hours",
    "predicted_hours",
)

#: The pool table's columns before the signals (a signal may not take one of these names).
POOL_COLUMNS = (
    "target",
    "source",
    "setting",
    "seeds",
    FIRST_GAIN,
    "first_validation_score",
    "validation_score",
    META_TARGET,
    "real_f1",
    "real_f1_sd",
    REAL_GAIN,
    "target_score",
    "target_validation_score",
    "target_hours",
    "predicted_hours",
)

#: model-recycling's columns that are not targets: the file's row index, the checkpoint, its
#: mean over the targets (left out: it averages the truth) and the MNLI linear probe.
_RECYCLING_COLUMNS = ("", "model_name", "avg", "mnli_lp")


@dataclass(frozen=True)
class MatrixInfo:
    """What an imported matrix holds (``matrix.json``).

    Attributes:
        path: The matrix file, absolute.
        sha256: Its content's SHA-256.
        format: ``plain`` or ``model-recycling``.
        rows: Its data rows.
        candidates: Rows of the pool table.
        targets: Target names, sorted.
        sources: Sources with at least one candidate, sorted.
        settings: Settings, sorted.
        signals: Signal columns, in the file's order.
        has_hours: Whether it gives the target stages' hours (else: equal cost per trial).
        has_predicted_hours: Whether it gives hours known before training.
        has_validation: Whether it has validation scores apart from the scores (else
            decisions and truth read the same score).
        scale: How the file's scores were scaled into the pool table.
        text_columns: Other columns that are not numbers: not signals, left out.
        left_out: Why rows were left out -> how many (model-recycling: the base model's own
            row, repeated checkpoints, checkpoints evaluated on no target).
    """

    path: str
    sha256: str
    format: str
    rows: int
    candidates: int
    targets: list[str]
    sources: list[str]
    settings: list[str]
    signals: list[str]
    has_hours: bool
    has_predicted_hours: bool
    has_validation: bool
    scale: str
    text_columns: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)

    def summary(self) -> list[str]:
        """What the CLI prints: counts, cost, validation, signals."""
        lines = [
            f"{counted(len(self.targets), 'target')}, {counted(len(self.sources), 'source')}, "
            f"{counted(len(self.settings), 'setting')}, {counted(self.candidates, 'candidate')} "
            f"(from {counted(self.rows, 'row')}, {self.format} format)",
            "hours: the target stages' hours"
            if self.has_hours
            else "hours: none given, equal cost per trial",
            "validation: separate validation scores"
            if self.has_validation
            else "validation: none, one score: decisions and truth read the same score",
            "signals: " + (", ".join(self.signals) if self.signals else "none"),
        ]
        if self.text_columns:
            lines.append("not signals (text): " + ", ".join(self.text_columns))
        lines += [f"left out: {why}: {count}" for why, count in self.left_out.items() if count]
        return lines


def read_matrix(path: str | Path, *, format: str = "plain") -> pd.DataFrame:
    """The pool table of a transfer matrix file (see the module docstring).

    Raises:
        DataError: The file is missing, empty or malformed, or a value is unusable.
        TransferScoutError: An unknown format.
    """
    return _read(Path(path), format)[0]


def import_matrix(path: str | Path, run_dir: str | Path, *, format: str = "plain") -> MatrixInfo:
    """Write ``path``'s pool table and description into the run folder ``run_dir``.

    ``run_dir`` must be new, empty, or a matrix run (whose matrix is then replaced).  Everything
    is read and checked before anything is written.

    Raises:
        DataError: A bad matrix (nothing is written).
        TransferScoutError: ``run_dir`` holds something that is not a matrix run, or cannot be
            written.
    """
    run, source = Path(run_dir), Path(path)
    table, info = _read(source, format)
    check_run_folder(run)
    if run.is_dir() and any(run.iterdir()) and not (run / "matrix.json").is_file():
        raise TransferScoutError(
            f"{run}: not empty and not a matrix run (no matrix.json); import into a new or "
            "empty folder"
        )
    (run / "matrix").mkdir(parents=True, exist_ok=True)
    _write_atomically(run / "matrix" / "pool.csv", table.to_csv(index=False))
    text = json.dumps({"version": MATRIX_VERSION, **info.__dict__}, indent=2) + "\n"
    _write_atomically(run / "matrix.json", text)
    logger.debug("imported %s into %s", source, run)
    return info


def load_matrix_info(run_dir: str | Path) -> MatrixInfo:
    """The description of a matrix run (its ``matrix.json``).

    Raises:
        TransferScoutError: ``run_dir`` is not a matrix run, or was written by a newer version.
    """
    path = Path(run_dir) / "matrix.json"
    if not path.is_file():
        raise TransferScoutError(
            f"{run_dir}: not a matrix run (no matrix.json); create one with "
            "`transferscout tables import-matrix`"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    version = data.pop("version", None)
    if version != MATRIX_VERSION:
        raise TransferScoutError(
            f"{path}: matrix version {version!r}; this transferscout reads version {MATRIX_VERSION}"
        )
    return MatrixInfo(**data)


def load_matrix_table(run_dir: str | Path) -> pd.DataFrame:
    """The pool table of a matrix run, as :func:`read_matrix` returned it.

    Raises:
        TransferScoutError: ``run_dir`` is not a matrix run (or its pool table is missing).
    """
    info = load_matrix_info(run_dir)
    path = Path(run_dir) / "matrix" / "pool.csv"
    if not path.is_file():
        raise TransferScoutError(f"{path}: missing; import the matrix again")
    names = {"target": str, "source": str, "setting": str}
    # Names are read as written ("NA", "None" are names); only an empty cell is a missing number.
    table = pd.read_csv(path, dtype=names, keep_default_na=False, na_values=[""])
    missing = [c for c in (*POOL_COLUMNS, *info.signals) if c not in table.columns]
    if missing:
        raise TransferScoutError(f"{path}: no column {missing[0]!r}; import the matrix again")
    numeric = [c for c in table.columns if c not in names]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="raise").astype(float)
    table["seeds"] = table["seeds"].astype(int)
    return table


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _read(path: Path, format: str) -> tuple[pd.DataFrame, MatrixInfo]:
    if format not in MATRIX_FORMATS:
        raise TransferScoutError(
            f"matrix format {format!r}; expected one of {', '.join(MATRIX_FORMATS)}"
        )
    if path.is_dir():
        raise DataError("is a folder", path=path, expected="a CSV file")
    raw = read_table(path, format="csv")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if format == "plain":
        parsed = _parse_plain(raw)
    else:
        parsed = _parse_recycling(raw)
    table = _pool_table(parsed)
    sources = sorted(set(table["source"]))
    info = MatrixInfo(
        path=str(path.resolve()),
        sha256=digest,
        format=format,
        rows=len(raw),
        candidates=len(table),
        targets=sorted(set(table["target"])),
        sources=sources,
        settings=sorted(set(table["setting"])),
        signals=list(parsed.signals),
        has_hours=parsed.has_hours,
        has_predicted_hours=parsed.has_predicted_hours,
        has_validation=parsed.has_validation,
        scale=parsed.scale,
        text_columns=list(parsed.text_columns),
        left_out=parsed.left_out,
    )
    return table, info


@dataclass
class _Parsed:
    """Checked trials of a matrix: one record per (target, source, setting, seed)."""

    records: list[dict[str, Any]]
    baselines: dict[str, tuple[float, float]]  # target -> (test, validation) single-task score
    signals: tuple[str, ...]
    has_hours: bool
    has_predicted_hours: bool
    has_validation: bool
    scale: str
    left_out: dict[str, int] = field(default_factory=dict)
    text_columns: tuple[str, ...] = ()


def _number(
    raw: RawTable, row: int, column: str, *, what: str, low: float = -math.inf
) -> float | None:
    """A finite number at ``low`` or above, or ``None`` for an empty cell."""
    text = str(raw.columns[column][row]).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low:
        raise DataError(
            f"not {what}",
            path=raw.path,
            where=raw.locations[row],
            column=column,
            expected=what if low == -math.inf else f"{what} ≥ {low:g}",
            got=text,
        )
    return value


def _required(raw: RawTable, row: int, column: str, *, what: str, low: float = -math.inf) -> float:
    value = _number(raw, row, column, what=what, low=low)
    if value is None:
        raise DataError(
            "empty cell", path=raw.path, where=raw.locations[row], column=column, expected=what
        )
    return value


def _name(raw: RawTable, row: int, column: str) -> str:
    text = str(raw.columns[column][row]).strip()
    if not text:
        raise DataError(
            "empty cell", path=raw.path, where=raw.locations[row], column=column, expected="a name"
        )
    return text


def _missing_column(raw: RawTable, column: str, expected: str) -> DataError:
    return DataError(
        f"no column {column!r}",
        path=raw.path,
        where="line 1",
        expected=expected,
        got=", ".join(raw.columns),
    )


def _parse_plain(raw: RawTable) -> _Parsed:
    for column in _REQUIRED:
        if column not in raw.columns:
            raise _missing_column(raw, column, "the columns " + ", ".join(_REQUIRED))
    validation = [c in raw.columns for c in ("validation_score", "single_task_validation_score")]
    if any(validation) and not all(validation):
        column = "validation_score" if not validation[0] else "single_task_validation_score"
        raise _missing_column(
            raw, column, "validation_score and single_task_validation_score together, or neither"
        )
    has_validation = all(validation)
    has_hours = "hours" in raw.columns
    has_predicted = "predicted_hours" in raw.columns
    signals, text_columns = _plain_signals(raw)
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str, int], str] = {}
    given: dict[str, dict[str, tuple[float, str]]] = {"test": {}, "validation": {}}
    first_row: dict[str, str] = {}
    for row, where in enumerate(raw.locations):
        target, source = _name(raw, row, "target"), _name(raw, row, "source")
        setting = _name(raw, row, "setting") if "setting" in raw.columns else DEFAULT_SETTING
        if source == target:
            raise DataError(
                f"source {source!r} is its target",
                path=raw.path,
                where=where,
                column="source",
                expected="a transfer from another task (the single-task score goes in "
                "single_task_score)",
            )
        seed = _seed(raw, row) if "seed" in raw.columns else 0
        key = (target, source, setting, seed)
        if key in seen:
            raise DataError(
                f"duplicate row: target {target!r}, source {source!r}, setting {setting!r}"
                + (f", seed {seed}" if "seed" in raw.columns else "")
                + f" is also on {seen[key]}",
                path=raw.path,
                where=where,
                expected="one row per (target, source, setting"
                + (", seed)" if "seed" in raw.columns else "); add a seed column for seeds"),
            )
        seen[key] = where
        first_row.setdefault(target, where)
        score = _required(raw, row, "score", what="a number")
        record: dict[str, Any] = {
            "target": target,
            "source": source,
            "setting": setting,
            "seed": seed,
            "where": where,
            "score": score,
            "validation": score,
            "hours": _required(raw, row, "hours", what="hours", low=0.0) if has_hours else 1.0,
            "predicted_hours": (
                _required(raw, row, "predicted_hours", what="hours", low=0.0)
                if has_predicted
                else math.nan
            ),
        }
        if has_validation:
            record["validation"] = _required(raw, row, "validation_score", what="a number")
        for signal in signals:
            value = _number(raw, row, signal, what="a number")
            record[signal] = math.nan if value is None else value
        records.append(record)
        for split, column in (
            ("test", "single_task_score"),
            ("validation", "single_task_validation_score"),
        ):
            if split == "validation" and not has_validation:
                continue
            value = _number(raw, row, column, what="a number")
            if value is None:
                continue
            earlier = given[split].setdefault(target, (value, where))
            if earlier[0] != value:
                raise DataError(
                    f"target {target!r} has another single-task score on {earlier[1]}",
                    path=raw.path,
                    where=where,
                    column=column,
                    expected=f"the same on every row of the target ({earlier[0]!r})",
                    got=value,
                )
    baselines: dict[str, tuple[float, float]] = {}
    for target, where in first_row.items():
        for split, column in (
            ("test", "single_task_score"),
            ("validation", "single_task_validation_score"),
        ):
            if (split == "test" or has_validation) and target not in given[split]:
                raise DataError(
                    f"target {target!r} has no single-task score (its first row)",
                    path=raw.path,
                    where=where,
                    column=column,
                    expected="a number on at least one of the target's rows",
                )
        test = given["test"][target][0]
        baselines[target] = (test, given["validation"][target][0] if has_validation else test)
    _check_signals_per_candidate(raw, records, signals)
    return _Parsed(
        records,
        baselines,
        signals,
        has_hours,
        has_predicted,
        has_validation,
        "as in the file",
        text_columns=text_columns,
    )


def _seed(raw: RawTable, row: int) -> int:
    text = str(raw.columns["seed"][row]).strip()
    try:
        return int(text)
    except ValueError:
        raise DataError(
            "not an integer seed",
            path=raw.path,
            where=raw.locations[row],
            column="seed",
            expected="an integer",
            got=text,
        ) from None


def _plain_signals(raw: RawTable) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The other columns whose every non-empty cell is a number (signals), and the rest."""
    signals: list[str] = []
    others: list[str] = []
    for column, values in raw.columns.items():
        if column in _RESERVED:
            continue
        if column in POOL_COLUMNS:
            raise DataError(
                f"column {column!r} is a name of the pool table",
                path=raw.path,
                where="line 1",
                column=column,
                expected=f"a signal named otherwise than {', '.join(POOL_COLUMNS)}",
            )
        numbers = 0
        for row, cell in enumerate(values):
            text = str(cell).strip()
            if not text:
                continue
            try:
                float(text)
            except ValueError:
                if numbers:  # a numeric column with a typo, not a text column
                    raise DataError(
                        "not a number in a signal column",
                        path=raw.path,
                        where=raw.locations[row],
                        column=column,
                        expected="a number or an empty cell",
                        got=text,
                    ) from None
                break
            numbers += 1
        else:
            if numbers:
                signals.append(column)
                continue
        others.append(column)
    return tuple(signals), tuple(others)


def _check_signals_per_candidate(
    raw: RawTable, records: Sequence[dict[str, Any]], signals: Sequence[str]
) -> None:
    """A signal is known before training: one value per candidate, whatever its seeds."""
    values: dict[tuple[str, str, str, str], tuple[float, str]] = {}
    for record in records:
        for signal in signals:
            value = record[signal]
            if math.isnan(value):
                continue
            key = (record["target"], record["source"], record["setting"], signal)
            earlier = values.setdefault(key, (value, record["where"]))
            if earlier[0] != value:
                raise DataError(
                    f"another value of the signal on {earlier[1]} (same candidate, another seed)",
                    path=raw.path,
                    where=record["where"],
                    column=signal,
                    expected=f"one value per candidate ({earlier[0]!r})",
                    got=value,
                )


def _parse_recycling(raw: RawTable) -> _Parsed:
    for column in ("model_name", "mnli_lp"):
        if column not in raw.columns:
            raise _missing_column(
                raw, column, "a model-recycling table: model_name, avg, mnli_lp, then the targets"
            )
    targets = [c for c in raw.columns if c not in _RECYCLING_COLUMNS]
    if not targets:
        raise _missing_column(raw, "<target>", "at least one target column after mnli_lp")
    names = [_name(raw, row, "model_name") for row in range(len(raw))]
    base = names[0]
    stem = raw.path.name.removesuffix("_table.csv")
    if raw.path.name.endswith("_table.csv") and base.replace("/", "_") != stem:
        raise DataError(
            "the first row is not the base model",
            path=raw.path,
            where=raw.locations[0],
            column="model_name",
            expected=f"the file's base model {stem!r} (its no-transfer row)",
            got=base,
        )
    what = "accuracy × 100 (a correlation × 100 for stsb)"

    def score(row: int, column: str) -> float | None:
        value = _number(raw, row, column, what=what, low=-100.0)
        if value is not None and value > 100:
            raise DataError(
                "not a score × 100",
                path=raw.path,
                where=raw.locations[row],
                column=column,
                expected=f"{what}, at most 100",
                got=raw.columns[column][row],
            )
        return value

    baselines: dict[str, tuple[float, float]] = {}
    for target in targets:
        value = score(0, target)
        if value is None:
            raise DataError(
                f"target {target!r} has no single-task score (the base model's row is empty)",
                path=raw.path,
                where=raw.locations[0],
                column=target,
                expected=f"{what} of {base} fine-tuned on {target}",
            )
        baselines[target] = (value / 100, value / 100)
    left_out = {
        "the base model's own rows (no transfer)": 0,
        "repeated checkpoints (same scores; the first row kept)": 0,
        "checkpoints evaluated on no target": 0,
    }
    kept: dict[str, tuple[list[float | None], str]] = {}
    records: list[dict[str, Any]] = []
    for row in range(1, len(raw)):
        name, where = names[row], raw.locations[row]
        scores = [score(row, target) for target in targets]
        probe = _number(raw, row, "mnli_lp", what="an accuracy × 100", low=0.0)
        if name == base:
            left_out["the base model's own rows (no transfer)"] += 1
            continue
        if name in kept:
            if kept[name][0] != scores:
                raise DataError(
                    f"duplicate row: checkpoint {name!r} is also on {kept[name][1]}, with other "
                    "scores",
                    path=raw.path,
                    where=where,
                    column="model_name",
                    expected="one row per checkpoint",
                )
            left_out["repeated checkpoints (same scores; the first row kept)"] += 1
            continue
        kept[name] = (scores, where)
        if all(value is None for value in scores):
            left_out["checkpoints evaluated on no target"] += 1
            continue
        for target, value in zip(targets, scores, strict=True):
            if value is None:
                continue
            records.append(
                {
                    "target": target,
                    "source": name,
                    "setting": DEFAULT_SETTING,
                    "seed": 0,
                    "where": where,
                    "score": value / 100,
                    "validation": value / 100,
                    "hours": 1.0,
                    "predicted_hours": math.nan,
                    "mnli_lp": math.nan if probe is None else probe,
                }
            )
    evaluated = {record["target"] for record in records}
    for target in targets:
        if target not in evaluated:
            raise DataError(
                f"target {target!r} has no candidate (no checkpoint evaluated on it)",
                path=raw.path,
                where="line 1",
                column=target,
                expected="at least one score besides the base model's",
            )
    return _Parsed(
        records,
        baselines,
        ("mnli_lp",),
        False,
        False,
        False,
        "scores and single-task scores: the file's accuracy × 100 divided by 100; mnli_lp as "
        "in the file",
        {why: count for why, count in left_out.items() if count},
    )


def _pool_table(parsed: _Parsed) -> pd.DataFrame:
    """One row per (target, source, setting): seeds averaged, the lowest seed observed."""
    trials = pd.DataFrame(parsed.records)
    keys = ["target", "source", "setting"]
    trials = trials.sort_values([*keys, "seed"], kind="stable")
    grouped = trials.groupby(keys, as_index=False, sort=True)
    table = grouped.agg(
        seeds=("score", "size"),
        first_validation_score=("validation", "first"),
        validation_score=("validation", "mean"),
        real_f1=("score", "mean"),
        real_f1_sd=("score", "std"),
        target_hours=("hours", "first"),
        predicted_hours=("predicted_hours", "first"),
    )
    for signal in parsed.signals:  # one value per candidate (NaN: not computed)
        table[signal] = grouped[signal].max()[signal].to_numpy()
    test = {target: scores[0] for target, scores in parsed.baselines.items()}
    validation = {target: scores[1] for target, scores in parsed.baselines.items()}
    table["target_score"] = table["target"].map(test)
    table["target_validation_score"] = table["target"].map(validation)
    table[FIRST_GAIN] = table["first_validation_score"] - table["target_validation_score"]
    table[META_TARGET] = table["validation_score"] - table["target_validation_score"]
    table[REAL_GAIN] = table["real_f1"] - table["target_score"]
    table["seeds"] = table["seeds"].astype(int)
    columns = [*POOL_COLUMNS, *parsed.signals]
    out = table[columns].reset_index(drop=True)
    floats = [c for c in columns if c not in ("target", "source", "setting", "seeds")]
    out[floats] = out[floats].astype(np.float64)
    return out
