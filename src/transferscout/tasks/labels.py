"""Turn raw label cells into 0/1 values and multi-label cells into lists of label names."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from transferscout.kinds.classes import number_text

__all__ = ["binary_value", "label_key", "label_names"]

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def label_key(value: Any) -> str | None:
    """A canonical string for a raw label cell, or ``None`` for a missing one.

    ``2``, ``2.0``, ``"2"``, ``"2.0"`` and ``" 02 "`` all give ``"2"`` (a number is one value
    however it is written, see :func:`~transferscout.kinds.classes.number_text`); booleans
    give ``"1"``/``"0"``; other strings are stripped and lower-cased.  Recoding tables are
    keyed by this (their keys are read the same way).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip().lower()
        return number_text(text) or text or None
    return repr(value)


def binary_value(value: Any, recode: Mapping[str, int] | None = None) -> int | None:
    """Return 0 or 1 for a label cell, or ``None`` when the cell is not a valid 0/1 label.

    Accepted: 0/1 as integers, floats, booleans or strings (``"1.0"``, ``"true"``/``"false"``,
    ``"yes"``/``"no"`` too).  ``recode`` maps other values to 0 or 1 first (cells and keys
    compared as :func:`label_key` reads them: ``{"2": 0}`` applies to ``"2.0"`` too).
    """
    key = label_key(value)
    if key is None:
        return None
    if recode:
        table = {label_key(raw): label for raw, label in recode.items()}
        if key in table:
            return table[key]
    if key in _TRUE:
        return 1
    if key in _FALSE:
        return 0
    return None


def label_names(value: Any, delimiter: str | None) -> list[str] | None:
    """The label names in a multi-label cell, or ``None`` if the cell cannot be read.

    A cell is a list (JSONL, Parquet, datasets), a JSON list written as a string (``'["a",
    "b"]'``), a ``delimiter``-separated string (``"a;b"``) or, without a delimiter, a single
    label.  A missing or empty cell has no labels.  Names are stripped; empty names are
    ignored; repeated names count once.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                return None
        elif delimiter is not None:
            value = text.split(delimiter)
        else:
            value = [text]
    if not isinstance(value, list | tuple):
        try:
            value = list(value)  # numpy arrays and other sequences from Parquet
        except TypeError:
            return None
    names: list[str] = []
    for item in value:
        if isinstance(item, str | int) and not isinstance(item, bool):
            name = str(item).strip()
            if name and name not in names:
                names.append(name)
        elif item is not None:
            return None
    return names
