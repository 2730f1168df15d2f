from __future__ import annotations

import pytest

from transferscout._text import counted


@pytest.mark.parametrize(
    ("number", "words", "expected"),
    [
        (1, ("task",), "1 task"),
        (0, ("task",), "0 tasks"),
        (6, ("single trial",), "6 single trials"),
        (1, ("candidate",), "1 candidate"),
        (2, ("child", "children"), "2 children"),
    ],
)
def test_a_count_takes_the_noun_its_number_needs(
    number: int, words: tuple[str, ...], expected: str
) -> None:
    assert counted(number, *words) == expected
