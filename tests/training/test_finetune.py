from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from transferscout.encoders import load_encoder
from transferscout.errors import ConfigError
from transferscout.tasks import TaskSet
from transferscout.training.data import encode_texts, padded_batches
from transferscout.training.finetune import (
    NonFiniteLossError,
    evaluate,
    predict_proba,
    train_stage,
)
from transferscout.training.settings import StageSettings

CPU = torch.device("cpu")


def test_dynamic_padding_pads_each_batch_to_its_longest_text(tiny_encoder_dir: Path) -> None:
    tokenizer = load_encoder(str(tiny_encoder_dir)).tokenizer
    encoded = encode_texts(tokenizer, ["water", "the road is not here", "help"], max_length=16)
    assert encoded.lengths.tolist() == [3, 7, 3]
    widths = [batch["input_ids"].shape[1] for _, batch in padded_batches(encoded, [0, 2, 1], 2)]
    assert widths == [3, 7]
    index, batch = next(padded_batches(encoded, [1, 0], 2))
    assert index.tolist() == [1, 0]
    assert batch["attention_mask"].tolist() == [[1] * 7, [1, 1, 1, 0, 0, 0, 0]]
    assert batch["input_ids"][1, 3:].tolist() == [0, 0, 0, 0]


def test_truncation_to_max_length(tiny_encoder_dir: Path) -> None:
    tokenizer = load_encoder(str(tiny_encoder_dir)).tokenizer
    encoded = encode_texts(tokenizer, ["water " * 50], max_length=10)
    assert encoded.lengths.tolist() == [10]


def _train(tiny_encoder_dir: Path, tasks: TaskSet, seed: int, **settings: object) -> tuple:
    torch.manual_seed(seed)
    encoder = load_encoder(str(tiny_encoder_dir))
    stats = train_stage(
        encoder.model,
        encoder.tokenizer,
        tasks["water"].train,
        StageSettings(**settings),  # type: ignore[arg-type]
        seed=seed,
        device=CPU,
    )
    return encoder, stats


def test_same_seed_same_weights_and_metrics(tiny_encoder_dir: Path, keyword_tasks: TaskSet) -> None:
    first, stats_a = _train(tiny_encoder_dir, keyword_tasks, 1, learning_rate=1e-3, epochs=2)
    second, stats_b = _train(tiny_encoder_dir, keyword_tasks, 1, learning_rate=1e-3, epochs=2)
    other, _ = _train(tiny_encoder_dir, keyword_tasks, 2, learning_rate=1e-3, epochs=2)
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert stats_a.final_loss == stats_b.final_loss
    assert stats_a.steps == 2 * 3  # 36 training examples, batch 16, two epochs
    weight = "classifier.weight"
    assert not torch.equal(first.model.state_dict()[weight], other.model.state_dict()[weight])
    test = keyword_tasks["water"].test
    assert evaluate(first.model, first.tokenizer, test, max_length=32) == evaluate(
        second.model, second.tokenizer, test, max_length=32
    )


def test_training_learns_a_keyword_task(tiny_encoder_dir: Path, keyword_tasks: TaskSet) -> None:
    encoder, stats = _train(
        tiny_encoder_dir, keyword_tasks, 0, learning_rate=3e-3, epochs=15, batch_size=8
    )
    assert stats.final_loss < 0.3
    assert stats.examples == 15 * len(keyword_tasks["water"].train)
    metrics = evaluate(
        encoder.model, encoder.tokenizer, keyword_tasks["water"].train, max_length=32
    )
    assert metrics["f1"] > 0.9


def test_non_finite_loss_stops_the_stage(tiny_encoder_dir: Path, keyword_tasks: TaskSet) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    with torch.no_grad():
        encoder.model.classifier.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="the training loss is nan at step 1"):
        train_stage(
            encoder.model,
            encoder.tokenizer,
            keyword_tasks["water"].train,
            StageSettings(),
            seed=0,
            device=CPU,
        )


def test_predictions_do_not_depend_on_batching(
    tiny_encoder_dir: Path, keyword_tasks: TaskSet
) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    texts = keyword_tasks["food"].test.texts
    batched = predict_proba(encoder.model, encoder.tokenizer, texts, max_length=32, batch_size=5)
    single = np.vstack(
        [predict_proba(encoder.model, encoder.tokenizer, [t], max_length=32) for t in texts]
    )
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, rtol=1e-6)


def test_bf16_autocast_trains(tiny_encoder_dir: Path, keyword_tasks: TaskSet) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    stats = train_stage(
        encoder.model,
        encoder.tokenizer,
        keyword_tasks["water"].train,
        StageSettings(learning_rate=1e-3),
        seed=0,
        device=CPU,
        precision="bf16",
    )
    assert np.isfinite(stats.final_loss) and stats.steps == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0},
        {"epochs": 0},
        {"batch_size": 0},
        {"max_length": 2},
        {"warmup_ratio": 1},
    ],
)
def test_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        StageSettings(**kwargs)  # type: ignore[arg-type]
