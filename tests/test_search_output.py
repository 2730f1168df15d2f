"""A search reads each target kind's own primary metric (not a binary F1 every kind lacks)."""

from __future__ import annotations

import math
from typing import Any

from tests.conftest import done_row
from transferscout import search_output
from transferscout.grid.store import TrialRow


def _row(target: dict[str, Any], metrics: dict[str, float] | None) -> TrialRow:
    return done_row(
        target="topic",
        config={
            "target": {"settings": {"learning_rate": 1e-4, "max_length": 32}, **target},
            "source": None,
            "encoder": {"source": "tiny", "num_layers": 2},
        },
        metrics=metrics,
        target_seconds=3600.0,
    )


MULTICLASS = {"task_kind": "multiclass", "outputs": 3}


def test_scores_are_the_kinds_primary_metric() -> None:
    row = _row(MULTICLASS, {"validation_macro_f1": 0.6, "test_macro_f1": 0.5, "test_f1": 0.9})
    assert search_output.validation_score(row) == 0.6 and search_output.test_score(row) == 0.5
    binary = _row({}, {"validation_f1": 0.3, "test_f1": 0.4})
    assert search_output.validation_score(binary) == 0.3 and search_output.test_score(binary) == 0.4
    assert search_output.validation_score(_row(MULTICLASS, {})) == -math.inf  # never chosen
    assert math.isnan(search_output.test_score(_row(MULTICLASS, None)))
