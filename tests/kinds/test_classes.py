"""What binary and multi-class share: one spelling per number."""

from __future__ import annotations

import pytest

from transferscout.kinds.classes import number_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "1"),
        ("1.0", "1"),
        (" +1.00 ", "1"),
        ("01", "1"),
        ("1e0", "1"),
        ("1.", "1"),
        ("-0", "0"),
        ("0.0", "0"),
        ("-2.50", "-2.5"),
        (".5", "0.5"),
        ("1.5e1", "15"),
        ("100.00", "100"),
        ("1e-7", "0.0000001"),
        ("10e39", "1E+40"),  # beyond 10^30: not written out digit by digit
        # exact, not a float: these differ in the 17th digit and stay apart
        ("0.10000000000000001", "0.10000000000000001"),
        ("food", None),
        ("nan", None),
        ("inf", None),
        ("1,5", None),
        ("1.2.3", None),
        ("1 0", None),
        ("", None),
        ("1e9999999999", None),  # an exponent beyond Decimal's range is not a number here
    ],
)
def test_number_text_is_one_spelling_per_number(text: str, expected: str | None) -> None:
    assert number_text(text) == expected
