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


def test_a_degenerate_single_task_model_is_marked_on_the_model_card() -> None:
    # 3 classes, 30 validation documents: class 0 for 29 of them (1 other < 0.1 x 20 others)
    counts = {"validation_top_class_predicted": 29, "validation_top_class_gold": 10}
    weak = _row(
        MULTICLASS,
        {"validation_macro_f1": 0.2, "test_macro_f1": 0.2, "validation_top_class_total": 30}
        | counts,
    )
    learnt = _row(
        MULTICLASS,
        {
            "validation_macro_f1": 0.6,
            "test_macro_f1": 0.5,
            "validation_top_class_predicted": 12,
            "validation_top_class_gold": 10,
            "validation_top_class_total": 30,
        },
    )
    assert search_output.row_summary(learnt, "transfer")["degenerate"] is None
    reason = search_output.row_summary(weak, "single-task")["degenerate"]
    assert reason == (
        "predicts one class for 29 of 30 validation examples (20 are not one class; 1 "
        "predictions are not)"
    )
    card = search_output.model_card(
        "topic", (learnt, "transfer"), weak, (1, 0), 2, 2.0, "2trials", labels=None
    )
    assert "| this model |" in card and "| single-task model † |" in card
    assert (
        f"- † The single-task model is degenerate: it {reason}; a gain over it is no finding."
        in (card)
    )
    plain = search_output.model_card(
        "topic", (learnt, "transfer"), learnt, (1, 0), 2, 2.0, "2trials", labels=None
    )
    assert "†" not in plain
    # A model without a source stage says so, never "settings: null".
    assert "- No source stage: the encoder was fine-tuned on the target alone." in plain
    assert "null" not in plain
