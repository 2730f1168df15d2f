"""Read a labelled text table from CSV/TSV, JSONL, Parquet or a Hugging Face datasets folder.

Every reader returns a :class:`RawTable`: the columns as Python lists plus, for each record,
where it is in the file (``"line 12"``, ``"row 3"``), so that later checks can point at the
exact record.  Readers decode strictly: bytes that are not UTF-8 are an error, not a guess.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transferscout.errors import DataError

__all__ = ["FORMATS", "RawTable", "read_table"]

Format = Literal["auto", "csv", "tsv", "jsonl", "parquet", "hf"]
FORMATS: tuple[str, ...] = ("auto", "csv", "tsv", "jsonl", "parquet", "hf")

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class RawTable:
    """Columns of a table as lists, with the location of each record in its file.

    Attributes:
        path: Where the table was read from.
        columns: Column name -> one value per record.
        locations: One human-readable location per record (``"line 7"``, ``"row 3"``).
        splits: The split each record came from, for sources that carry their own
            splits (a ``DatasetDict`` folder); ``None`` otherwise.
        class_names: Column -> its class names, for sources that declare them (a
            ``datasets`` ``ClassLabel`` feature, or a sequence of them); integer cells (or
            list items) of the column index them.
    """

    path: Path
    columns: dict[str, list[Any]]
    locations: list[str]
    splits: list[str] | None = None
    class_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.locations)

    def take(self, rows: Sequence[int]) -> RawTable:
        """A table with only the records at ``rows`` (their locations are kept)."""
        return RawTable(
            self.path,
            {name: [values[i] for i in rows] for name, values in self.columns.items()},
            [self.locations[i] for i in rows],
            None if self.splits is None else [self.splits[i] for i in rows],
            self.class_names,
        )

    def column(self, name: str, *, role: str) -> list[Any]:
        """Return a column, or raise a :class:`DataError` naming the columns that exist."""
        if name not in self.columns:
            raise DataError(
                f"no {role} column {name!r}",
                path=self.path,
                expected=f"one of the columns {', '.join(map(repr, self.columns))}",
            )
        return self.columns[name]


def read_table(path: str | Path, *, format: Format = "auto") -> RawTable:
    """Read a table of labelled texts.

    Args:
        path: A ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson`` or ``.parquet`` file, or a folder
            written by ``datasets.Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``.
        format: Force a format instead of guessing it from the suffix.

    Raises:
        DataError: The file is missing, of an unknown format, not UTF-8, or malformed.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path, expected="an existing file or folder")
    if format == "auto":
        format = _guess_format(path)
    if format == "hf":
        return _with_rows(_read_hf(path))
    if path.is_dir():
        raise DataError(
            f"is a folder, but format {format!r} needs a file",
            path=path,
            expected="a file, or format 'hf' for a Hugging Face datasets folder",
        )
    if format in ("csv", "tsv"):
        table = _read_delimited(path, "\t" if format == "tsv" else ",")
    elif format == "jsonl":
        table = _read_jsonl(path)
    elif format == "parquet":
        table = _read_parquet(path)
    else:
        raise DataError(f"unknown format {format!r}", path=path, expected=f"one of {FORMATS}")
    return _with_rows(table)


def _with_rows(table: RawTable) -> RawTable:
    if not len(table):
        raise DataError(
            "no data rows", path=table.path, expected="at least one record after the header"
        )
    return table


def _guess_format(path: Path) -> Format:
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise DataError(
        f"cannot tell the format from the suffix {suffix!r}",
        path=path,
        expected=f"one of {', '.join(_SUFFIXES)} or a datasets folder (or pass a format)",
    )


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"bytes that are not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
            path=path,
            where=f"line {line}",
            expected="UTF-8 text (re-save the file as UTF-8)",
        ) from None


def _read_delimited(path: Path, delimiter: str) -> RawTable:
    text = _decode(path)
    # A field may be as long as the file (the csv module refuses > 131,072 characters by
    # default); the limit is process-wide, so it is only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # newline="": records end only at \n, \r or \r\n, as CSV defines; str.splitlines would
    # also break inside fields at U+2028, U+0085, form feed and other Unicode line breaks.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("the file is empty", path=path, expected="a header row") from None
    except csv.Error as error:
        raise DataError(f"malformed header: {error}", path=path, where="line 1") from None
    _check_header(path, header)
    columns: dict[str, list[Any]] = {name: [] for name in header}
    locations: list[str] = []
    start = 2
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise DataError(
                f"malformed record: {error}", path=path, where=f"line {start}"
            ) from None
        where = f"line {start}" if reader.line_num == start else f"lines {start}-{reader.line_num}"
        start = reader.line_num + 1
        if not record:  # a blank line
            continue
        if len(record) != len(header):
            raise DataError(
                "wrong number of fields",
                path=path,
                where=where,
                expected=f"{len(header)} fields as in the header",
                got=len(record),
            )
        for name, value in zip(header, record, strict=True):
            columns[name].append(value)
        locations.append(where)
    return RawTable(path, columns, locations)


def _check_header(path: Path, header: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(
                f"duplicate column name {name!r} in the header",
                path=path,
                where="line 1",
                expected="every column (and so every task) to have a different name",
            )
        seen.add(name)


def _read_jsonl(path: Path) -> RawTable:
    text = _decode(path)
    columns: dict[str, list[Any]] = {}
    locations: list[str] = []
    # Records end at \n only (JSON strings may hold U+2028, U+0085 and other Unicode breaks).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"not valid JSON ({error.msg} at column {error.colno})",
                path=path,
                where=f"line {number}",
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                "not a JSON object",
                path=path,
                where=f"line {number}",
                expected="one object per line",
                got=record,
            )
        for name in record.keys() - columns.keys():
            columns[name] = [None] * len(locations)
        for name, values in columns.items():
            values.append(record.get(name))
        locations.append(f"line {number}")
    return RawTable(path, columns, locations)


def _read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"cannot read as Parquet: {error}", path=path) from None
    columns = table.to_pydict()
    return RawTable(path, columns, [f"row {i + 1}" for i in range(table.num_rows)])


def _read_hf(path: Path) -> RawTable:
    from transferscout._offline import enable_offline_mode

    enable_offline_mode()
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as error:  # datasets raises FileNotFoundError/ValueError variants
        raise DataError(
            f"cannot read as a Hugging Face datasets folder: {error}",
            path=path,
            expected="a folder written by Dataset.save_to_disk or DatasetDict.save_to_disk",
        ) from None
    if isinstance(loaded, datasets.Dataset):
        parts = [(None, loaded)]
    else:
        parts = list(loaded.items())
    columns: dict[str, list[Any]] = {}
    locations: list[str] = []
    splits: list[str] = []
    class_names = {
        name: tuple(str(n) for n in label.names)
        for name, feature in parts[0][1].features.items()
        # a ClassLabel column, or a sequence of ClassLabel (one tag per word)
        for label in (feature, getattr(feature, "feature", None))
        if isinstance(label, datasets.ClassLabel)
    }
    for split, dataset in parts:
        data = dataset.to_dict()
        if columns and set(data) != set(columns):
            raise DataError(
                f"split {split!r} has different columns from the others",
                path=path,
                expected=f"the columns {sorted(columns)}",
                got=sorted(data),
            )
        for name, values in data.items():
            columns.setdefault(name, []).extend(values)
        prefix = f"split {split!r}, " if split is not None else ""
        locations.extend(f"{prefix}row {i + 1}" for i in range(dataset.num_rows))
        splits.extend([str(split)] * dataset.num_rows)
    has_splits = not isinstance(loaded, datasets.Dataset)
    return RawTable(path, columns, locations, splits if has_splits else None, class_names)
