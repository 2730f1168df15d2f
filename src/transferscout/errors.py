"""Exceptions raised by transferscout.

Every error about user input names where the problem is (file, row or line, column, task,
split) and what was expected, so that it can be fixed without reading the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "DataError", "EncoderError", "TransferScoutError"]


class TransferScoutError(Exception):
    """Base class of every error transferscout raises on purpose."""


class DataError(TransferScoutError, ValueError):
    """Bad task data: a missing file or column, an unusable value, an impossible task.

    Attributes:
        problem: What is wrong, in a few words.
        path: The file or folder the data came from, when known.
        where: The row or line (e.g. ``"line 12"``), when the problem is in one record.
        column: The column concerned, when there is one.
        expected: What was expected instead.
        got: The offending value, when there is one.
    """

    _MISSING = object()

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        where: str | None = None,
        column: str | None = None,
        expected: str | None = None,
        got: Any = _MISSING,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.where = where
        self.column = column
        self.expected = expected
        self.got = None if got is DataError._MISSING else got
        location = ", ".join(
            part
            for part in (
                self.path,
                where,
                None if column is None else f"column {column!r}",
            )
            if part
        )
        message = f"{location}: {problem}" if location else problem
        if expected is not None:
            message += f"; expected {expected}"
        if got is not DataError._MISSING:
            message += f", got {_short_repr(got)}"
        super().__init__(message)


class EncoderError(TransferScoutError, ValueError):
    """An encoder that cannot be found or loaded, or a bad encoder option."""


class ConfigError(TransferScoutError, ValueError):
    """A configuration value that is unknown or invalid."""


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
