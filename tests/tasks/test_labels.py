from __future__ import annotations

import numpy as np
import pytest

from transferscout.tasks.labels import binary_value, label_key, label_names


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (0, 0),
        (True, 1),
        (False, 0),
        (1.0, 1),
        ("1", 1),
        (" 0 ", 0),
        ("1.0", 1),
        ("1.00", 1),  # a number is 0 or 1 however it is written
        (" +1 ", 1),
        ("0.0", 0),
        ("-0", 0),
        ("TRUE", 1),
        ("no", 0),
        (2, None),
        ("2", None),
        ("2.0", None),
        ("0.5", None),
        ("maybe", None),
        (None, None),
        (float("nan"), None),
        ("", None),
        (0.5, None),
    ],
)
def test_binary_value(value: object, expected: int | None) -> None:
    assert binary_value(value) == expected


def test_recode_applies_to_canonical_keys() -> None:
    assert label_key(2) == label_key(2.0) == label_key("2") == "2"
    assert binary_value(2, {"2": 0}) == 0
    assert binary_value("2.0", {"2.0": 1}) == 1
    # cells and keys are read the same way: a number's every spelling is recoded
    assert label_key("2.0") == label_key(" 02 ") == "2"
    assert binary_value("2.0", {"2": 0}) == binary_value(2, {"2.00": 0}) == 0


@pytest.mark.parametrize(
    ("value", "delimiter", "expected"),
    [
        (["food", "water"], None, ["food", "water"]),
        (("food",), None, ["food"]),
        (np.array(["a", "b"]), None, ["a", "b"]),
        ("food; water ;", ";", ["food", "water"]),
        ('["food", "water"]', None, ["food", "water"]),
        ("food", None, ["food"]),
        ("food|food", "|", ["food"]),
        ("", ";", []),
        (None, None, []),
        ([], None, []),
        ([1, 2], None, ["1", "2"]),
        ("[not json", None, None),
        ([{"a": 1}], None, None),
        (3.5, None, None),
    ],
)
def test_label_names(value: object, delimiter: str | None, expected: list[str] | None) -> None:
    assert label_names(value, delimiter) == expected
