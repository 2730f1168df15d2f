"""Reading a multi-class column: one class per number, one spelling per name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transferscout.errors import DataError
from transferscout.kinds import get_kind

MULTICLASS = get_kind("multiclass")


def _read(values: list[Any], classes: list[str] | None = None) -> tuple[list[int], tuple[str, ...]]:
    locations = [f"line {i + 2}" for i in range(len(values))]
    labels, names = MULTICLASS.read_labels(
        values, locations, path="d.csv", column="topic", classes=classes
    )
    return np.asarray(labels).tolist(), names


def test_a_number_is_one_class_however_it_is_written() -> None:
    # CSV strings, JSON integers and floats of the same three numbers: three classes, not six
    cells: list[Any] = ["1", "1.0", 2, "2.0", " 03 ", 3.0, "3", 1.0, "+2"]
    assert _read(cells) == ([0, 0, 1, 1, 2, 2, 2, 0, 1], ("1", "2", "3"))
    assert _read(["10", "9.0", "10.00"]) == ([1, 0, 1], ("9", "10"))  # sorted as numbers
    # numbers that are not integers: one class per value, named by its shortest spelling
    assert _read(["0.5", 0.5, "0.50", "2.5"]) == ([0, 0, 0, 1], ("0.5", "2.5"))


def test_names_are_kept_as_written() -> None:
    assert _read(["news", " direct", "social ", "news"]) == (
        [1, 0, 2, 1],
        ("direct", "news", "social"),
    )


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            ["food", "water", "food", "Food"],
            "d.csv, column 'topic': the classes 'food' (line 2) and 'Food' (line 5) differ only "
            "in case or spacing; expected one spelling per class (fix the data: the two "
            "spellings would silently be two classes)",
        ),
        (
            ["New York", "Paris", "new  york"],
            "d.csv, column 'topic': the classes 'New York' (line 2) and 'new  york' (line 4) "
            "differ only in case or spacing",
        ),
    ],
)
def test_two_spellings_of_one_class_are_refused(cells: list[str], message: str) -> None:
    with pytest.raises(DataError) as error:
        _read(cells)
    assert str(error.value).startswith(message)


def test_a_classlabel_column_keeps_its_names_and_order() -> None:
    names = ["Food", "food", "1.0"]  # declared names are the classes, as declared
    assert _read([2, "Food", 1, "1.0"], names) == ([2, 0, 1, 2], tuple(names))
    with pytest.raises(DataError, match=r"line 3, column 'topic': the class is not one of"):
        _read(["Food", "water"], names)
