from __future__ import annotations

import math

import numpy as np
import pytest

from transferscout.signals.completeness import completeness_errors, summarize_completeness


def test_error_is_the_worst_layers_relative_gap() -> None:
    # Two layers, three documents, two token positions (the last of document 2 is padding).
    scores = np.array(
        [
            [[1.0, 1.0], [0.5, 0.0], [3.0, 0.0]],
            [[1.5, 0.5], [1.0, 0.0], [1.0, 1.0]],
        ]
    )
    difference = np.array([2.0, 1.0, 0.0])
    errors = completeness_errors(scores, difference)
    # doc 0: layers sum to 2.0 and 2.0 -> 0; doc 1: 0.5 and 1.0 -> max(0.5, 0) = 0.5;
    # doc 2: F(x) = F(x'), no relative error.
    assert errors[0] == 0.0
    assert errors[1] == 0.5
    assert math.isnan(errors[2])


def test_summary_skips_undefined_errors() -> None:
    summary = summarize_completeness([0.1, float("nan"), 0.3, 0.2])
    assert (summary.median, summary.max, summary.documents) == (0.2, 0.3, 3)
    empty = summarize_completeness([float("nan")])
    assert empty.documents == 0 and math.isnan(empty.median)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="documents"):
        completeness_errors(np.zeros((2, 3, 4)), np.zeros(2))
