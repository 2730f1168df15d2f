from __future__ import annotations

from pathlib import Path

import pytest
import torch

from transferscout.encoders import EncoderSpec, encoder_fingerprint, load_encoder
from transferscout.grid.spec import TrialSpec
from transferscout.grid.worker import TrialPayload, execute_trial
from transferscout.tasks import TaskSet
from transferscout.training.checks import NonFiniteModelError, check_finite_model
from transferscout.training.settings import StageSettings


def test_a_model_that_diverges_on_its_last_step_fails_its_trial(
    tasks: TaskSet, tiny_encoder_dir: Path
) -> None:
    # One step at an absurd learning rate: the loss before the step is finite (so the
    # training loop sees nothing wrong), the weights after it are not.
    task = tasks["food"]
    settings = StageSettings(learning_rate=1e30, epochs=1, batch_size=64, max_length=32)
    encoder = EncoderSpec(str(tiny_encoder_dir))
    trial = TrialSpec(
        kind="single",
        target="food",
        target_fingerprint=task.fingerprint,
        target_settings=settings,
        seed=0,
        encoder=encoder,
        encoder_fingerprint=encoder_fingerprint(encoder),
    )
    outcome = execute_trial(TrialPayload(trial, task, None, "cpu"))
    assert not outcome.ok and outcome.metrics is None and outcome.model_bytes is None
    assert outcome.error is not None
    assert outcome.error.startswith("NonFiniteModelError: the trained model")
    assert "lower learning rate" in outcome.error


def test_a_finite_model_passes_and_a_poisoned_one_is_named(
    tasks: TaskSet, tiny_encoder_dir: Path
) -> None:
    encoder = load_encoder(EncoderSpec(str(tiny_encoder_dir)))
    model, split = encoder.model, tasks["food"].validation
    check_finite_model(model, encoder.tokenizer, split, max_length=32)
    with torch.no_grad():
        model.classifier.weight[0, 0] = float("nan")  # type: ignore[union-attr,index]
    with pytest.raises(NonFiniteModelError, match=r"weights \(1 values?, e.g. in classifier"):
        check_finite_model(model, encoder.tokenizer, split, max_length=32)
