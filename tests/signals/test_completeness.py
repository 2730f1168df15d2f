from __future__ import annotations

import math

from transferscout.signals.completeness import summarize_completeness


def test_summary_skips_undefined_errors() -> None:
    summary = summarize_completeness([0.1, float("nan"), 0.3, 0.2])
    assert (summary.median, summary.max, summary.documents) == (0.2, 0.3, 3)
    empty = summarize_completeness([float("nan")])
    assert empty.documents == 0 and math.isnan(empty.median)
