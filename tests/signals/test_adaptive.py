from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferscout.encoders import load_encoder
from transferscout.errors import ConfigError
from transferscout.signals.adaptive import (
    AdaptiveSteps,
    attribute_with_steps,
    choose_steps,
    spread,
    step_schedule,
)
from transferscout.signals.attributions import AttributionSettings, attribute_documents

DOCUMENTS = {
    "d1": "we need water and food in the village",
    "d2": "help",
    "d3": "the road to the city is not here please send aid and tents",
}
SETTINGS = AttributionSettings(max_length=32)


def test_schedule_doubles_up_to_the_cap() -> None:
    assert step_schedule(4, 50) == [4, 8, 16, 32, 50]
    assert step_schedule(4, 16) == [4, 8, 16]
    assert step_schedule(8, 5) == [5]
    assert step_schedule(3, 0) == [1]


def test_probe_documents_are_spread_over_every_set() -> None:
    ids = [f"{task}:{i}" for task in ("aid", "food", "water", "shelter") for i in range(10)]
    assert spread(ids, 4) == ["aid:0", "food:0", "water:0", "shelter:0"]
    assert spread(ids, 8) == [
        f"{t}:{i}" for t in ("aid", "food", "water", "shelter") for i in (0, 5)
    ]
    assert spread(ids, 3) == ["aid:0", "food:3", "water:6"]  # positions 0, 13, 26
    assert spread(ids[:5], 32) == ids[:5]
    assert spread([], 8) == []


def test_policy_is_checked() -> None:
    with pytest.raises(ConfigError, match="tolerance"):
        AdaptiveSteps(tolerance=0.0)
    with pytest.raises(ConfigError, match="confidence"):
        AdaptiveSteps(confidence=1.0)


def test_the_policy_accepts_on_an_upper_bound_of_the_median() -> None:
    """32 probe errors 0.01, 0.02, ..., 0.32: median 0.165, 95% bound the 22nd, 0.22."""
    errors = {f"d{i}": (i + 1) / 100 for i in range(32)}
    assert AdaptiveSteps(tolerance=0.22).accepts(errors)
    assert not AdaptiveSteps(tolerance=0.21).accepts(errors)  # though the median is 0.165
    assert AdaptiveSteps(tolerance=0.17, confidence=0.5).accepts(errors)  # the 17th, 0.17
    assert AdaptiveSteps(tolerance=1e-9).accepts({"d0": float("nan")})  # nothing to judge


def test_errors_match_completeness_and_costs_are_counted(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    result = attribute_with_steps(encoder.model, encoder.tokenizer, DOCUMENTS, SETTINGS, 5)
    assert result.n_steps == 5 and set(result.errors) == set(DOCUMENTS)
    assert result.token_points == len(result.tokens) * 6
    # The errors are those of the raw token scores the tables hold.
    words, _, documents = attribute_documents(
        encoder.model, encoder.tokenizer, DOCUMENTS, AttributionSettings(n_steps=5, max_length=32)
    )
    pd.testing.assert_frame_equal(words, result.words)
    assert result.errors == dict(
        zip(documents["doc_id"], documents["completeness_error"], strict=True)
    )
    assert result.completeness.documents == 3


def test_steps_grow_only_while_the_probe_is_above_tolerance(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    args = (encoder.model, encoder.tokenizer, DOCUMENTS, SETTINGS)
    loose = choose_steps(*args, AdaptiveSteps(start=2, tolerance=1e6), max_steps=16)
    assert loose.n_steps == 2
    strict = choose_steps(*args, AdaptiveSteps(start=2, tolerance=1e-12), max_steps=16)
    assert strict.n_steps == 16  # never met: stops at the cap
    # Tries are charged: 2, 4, 8 and 16 steps -> 3 + 5 + 9 + 17 points per token.
    tokens = len(strict.tokens)
    assert strict.token_points == tokens * (3 + 5 + 9 + 17)
    # Completeness improves along the way, so a tolerance between the two stops in between;
    # on 3 documents the upper bound of the median is their largest error.
    middle = (loose.completeness.max + strict.completeness.max) / 2
    chosen = choose_steps(*args, AdaptiveSteps(start=2, tolerance=middle), max_steps=16)
    assert 2 < chosen.n_steps <= 16
    assert chosen.completeness.max <= middle
    np.testing.assert_array_equal(
        chosen.words["score"].to_numpy(),
        attribute_with_steps(*args, chosen.n_steps).words["score"].to_numpy(),
    )


def test_bf16_autocast_changes_the_arithmetic_not_the_scores(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    args = (encoder.model, encoder.tokenizer, DOCUMENTS)
    full = attribute_with_steps(*args, SETTINGS, 8).words["score"].to_numpy()
    bf16 = AttributionSettings(max_length=32, precision="bf16")
    half = attribute_with_steps(*args, bf16, 8).words["score"].to_numpy()
    assert not np.array_equal(full, half)  # autocast is on
    assert np.corrcoef(full, half)[0, 1] > 0.95
    assert bf16.key() != SETTINGS.key()  # cached apart
