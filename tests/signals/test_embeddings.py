from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from transferscout.encoders import load_encoder
from transferscout.signals.embeddings import (
    cosine_similarity,
    reciprocal_rank_fusion,
    task_embedding,
    text_embedding,
)

TEXTS = ("we need water", "food please", "the road is not here")


def test_text_embedding_is_the_mean_of_masked_token_means(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    vector = text_embedding(encoder.model, encoder.tokenizer, TEXTS, batch_size=2)
    expected = []
    with torch.no_grad():
        for text in TEXTS:  # one text at a time: no padding at all
            batch = encoder.tokenizer(text, return_tensors="pt")
            states = encoder.model.base_model(**batch).last_hidden_state[0].double()
            expected.append(states.mean(dim=0).numpy())
    np.testing.assert_allclose(vector, np.mean(expected, axis=0), rtol=1e-5, atol=1e-6)
    assert vector.shape == (32,)


def test_task_embedding_components_and_batch_invariance(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    labels = np.array([1, 0, 1])
    one = task_embedding(encoder.model, encoder.tokenizer, TEXTS, labels, batch_size=3)
    assert sorted(one) == ["layer_1", "layer_2", "layer_3", "pooled"]
    assert all(v.shape == (32,) and np.all(v >= 0) for v in one.values())
    with_params = task_embedding(
        encoder.model, encoder.tokenizer, TEXTS, labels, batch_size=3, parameters=True
    )
    n_params = sum(p.numel() for p in encoder.model.base_model.parameters())
    assert with_params["parameters"].shape == (n_params,)
    np.testing.assert_allclose(with_params["pooled"], one["pooled"], rtol=1e-10)
    assert all(p.grad is None for p in encoder.model.parameters())  # no gradients left behind


def test_task_embedding_by_hand_for_one_example(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.eval()
    result = task_embedding(model, encoder.tokenizer, TEXTS[:1], np.array([1]), batch_size=1)
    batch = encoder.tokenizer(TEXTS[0], return_tensors="pt")
    output = model(**batch, labels=torch.tensor([1]), output_hidden_states=True)
    gradient = torch.autograd.grad(output.loss, output.hidden_states[2])[0]
    tokens = batch["input_ids"].shape[1]
    expected = (gradient.double().sum(dim=(0, 1)) ** 2 / tokens).numpy()
    np.testing.assert_allclose(result["layer_2"], expected, rtol=1e-6)


def test_cosine() -> None:
    assert cosine_similarity([1, 0], [1, 0]) == pytest.approx(1.0)
    assert cosine_similarity([1, 0], [0, 2]) == pytest.approx(0.0)
    assert cosine_similarity([1, 1], [-2, -2]) == pytest.approx(-1.0)
    assert cosine_similarity([0, 0], [1, 2]) == 0.0


def test_reciprocal_rank_fusion_by_hand() -> None:
    scores = {"x": {"a": 0.9, "b": 0.5, "c": 0.1}, "y": {"a": 0.2, "b": 0.8, "c": 0.3}}
    fused = reciprocal_rank_fusion(scores)
    # a: ranks 1 and 3; b: 2 and 1; c: 3 and 2.
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 62)
    assert max(fused, key=fused.__getitem__) == "b"


def test_taskemb_pass_gives_the_features_of_a_separate_pass(tiny_encoder_dir: Path) -> None:
    from transferscout.signals.pair_stage import pooled_features

    encoder = load_encoder(str(tiny_encoder_dir))
    texts = ("we need water", "help", "the road to the city is blocked please send aid")
    outputs: dict[str, np.ndarray] = {}
    task_embedding(
        encoder.model, encoder.tokenizer, texts, [1, 0, 1], batch_size=2, outputs=outputs
    )
    features, probabilities = pooled_features(
        encoder.model, encoder.tokenizer, texts, max_length=128, batch_size=3
    )
    np.testing.assert_allclose(outputs["features"], features, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, rtol=1e-4, atol=1e-5)


def test_taskemb_pass_gives_a_regression_pair_models_outputs(tiny_encoder_dir: Path) -> None:
    from transferscout.kinds import get_kind
    from transferscout.signals.pair_stage import pooled_features

    encoder = load_encoder(str(tiny_encoder_dir), num_labels=1)
    kind = get_kind("regression")
    texts = ("we need water", "help", "the road is blocked")
    pairs = ("send aid", "now please", "to the city")
    outputs: dict[str, np.ndarray] = {}
    task_embedding(
        encoder.model,
        encoder.tokenizer,
        texts,
        [0.5, -1.0, 2.0],
        batch_size=2,
        pairs=pairs,
        kind=kind,
        outputs=outputs,
    )
    features, values = pooled_features(
        encoder.model,
        encoder.tokenizer,
        texts,
        max_length=128,
        batch_size=3,
        pairs=pairs,
        kind=kind,
    )
    assert outputs["probabilities"].shape == (3, 1)
    np.testing.assert_allclose(outputs["features"], features, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"], values, rtol=1e-4, atol=1e-5)
