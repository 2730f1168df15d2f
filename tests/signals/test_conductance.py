from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import LayerConductance

from transferscout.encoders import EncoderSpec, load_encoder
from transferscout.signals.conductance import (
    baseline_ids,
    batch_documents,
    integration_alphas,
    layer_conductance_all,
)

TEXTS = [
    "we need water and food in the village",
    "help",
    "the road to the city is not here please send aid and tents",
]


def _batch(
    tokenizer: object, texts: list[str]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    ids = [tokenizer(t)["input_ids"] for t in texts]  # type: ignore[operator]
    input_ids, mask = batch_documents(ids, tokenizer.pad_token_id)  # type: ignore[attr-defined]
    special = {
        "cls_id": tokenizer.cls_token_id,  # type: ignore[attr-defined]
        "sep_id": tokenizer.sep_token_id,  # type: ignore[attr-defined]
        "pad_id": tokenizer.pad_token_id,  # type: ignore[attr-defined]
    }
    return input_ids, mask, special


def _captum(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    special: dict[str, int],
    n_steps: int,
    method: str,
) -> np.ndarray:
    """Captum's LayerConductance, once per layer, summed over the hidden dimension."""
    embed = model.get_input_embeddings()  # type: ignore[operator]
    inputs = embed(input_ids).detach()
    baseline = embed(baseline_ids(input_ids, mask, **special)).detach()

    def forward(
        embeds: torch.Tensor, attention_mask: torch.Tensor, token_types: torch.Tensor
    ) -> torch.Tensor:
        return model(
            inputs_embeds=embeds, attention_mask=attention_mask, token_type_ids=token_types
        ).logits

    per_layer = []
    for layer in model.base_model.encoder.layer:  # type: ignore[union-attr]
        attributions = LayerConductance(forward, layer).attribute(
            inputs,
            baselines=baseline,
            target=1,
            additional_forward_args=(mask, torch.zeros_like(input_ids)),
            n_steps=n_steps,
            method=method,
        )
        per_layer.append(attributions.sum(dim=-1).detach().double().numpy())
    return np.stack(per_layer)


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.mark.parametrize(
    ("dtype", "tolerance"),
    [(torch.float64, 1e-8), (torch.float32, 1e-4)],
    ids=["float64", "float32"],
)
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_equals_captum_per_layer_on_the_tiny_encoder(
    tiny_encoder_dir: Path, dtype: torch.dtype, tolerance: float, method: str
) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.to(dtype).eval()
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS)
    assert len(set(mask.sum(dim=1).tolist())) == 3  # documents of different lengths
    ours = layer_conductance_all(model, input_ids, mask, n_steps=16, method=method, **special)  # type: ignore[arg-type]
    reference = _captum(model, input_ids, mask, special, 16, method)
    assert ours.scores.shape == (3, 3, input_ids.shape[1])
    assert _relative_error(ours.scores, reference) <= tolerance


@pytest.mark.minilm
@pytest.mark.slow
@pytest.mark.parametrize(
    ("dtype", "tolerance"),
    [(torch.float64, 1e-8), (torch.float32, 1e-4)],
    ids=["float64", "float32"],
)
def test_equals_captum_on_a_two_layer_slice_of_the_builtin_encoder(
    dtype: torch.dtype, tolerance: float
) -> None:
    encoder = load_encoder(EncoderSpec("all-MiniLM-L6-v2", num_layers=2))
    torch.manual_seed(0)
    model = encoder.model.to(dtype).eval()
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS)
    ours = layer_conductance_all(model, input_ids, mask, n_steps=10, **special)
    reference = _captum(model, input_ids, mask, special, 10, "gausslegendre")
    for layer in range(2):
        assert _relative_error(ours.scores[layer], reference[layer]) <= tolerance


def test_padding_never_receives_attribution_and_batching_does_not_matter(
    tiny_encoder_dir: Path,
) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.double().eval()
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS)
    together = layer_conductance_all(model, input_ids, mask, n_steps=8, **special)
    assert np.all(together.scores[:, mask.numpy() == 0] == 0.0)
    for row, text in enumerate(TEXTS):
        alone_ids, alone_mask, _ = _batch(encoder.tokenizer, [text])
        alone = layer_conductance_all(model, alone_ids, alone_mask, n_steps=8, **special)
        length = int(alone_mask.sum())
        np.testing.assert_allclose(
            together.scores[:, row, :length], alone.scores[:, 0], rtol=1e-9, atol=1e-15
        )


def test_result_does_not_depend_on_the_internal_batch_size(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.double().eval()
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS)
    whole = layer_conductance_all(model, input_ids, mask, n_steps=12, **special)
    for internal in (6, 9, 20):  # 2, 3 and 6 points per chunk
        chunked = layer_conductance_all(
            model, input_ids, mask, n_steps=12, internal_batch_size=internal, **special
        )
        np.testing.assert_allclose(chunked.scores, whole.scores, rtol=1e-10, atol=1e-16)


def test_completeness_improves_with_more_steps(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.double().eval()
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS)
    errors = []
    for n_steps in (4, 16, 256):
        result = layer_conductance_all(
            model, input_ids, mask, n_steps=n_steps, method="riemann_trapezoid", **special
        )
        totals = result.scores.sum(axis=2)  # (layers, documents)
        errors.append(
            np.abs(totals - result.endpoint_difference).max()
            / np.abs(result.endpoint_difference).max()
        )
    # The left-point rule is first order: the error shrinks about as 1/n_steps.
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 2e-3 and errors[2] < errors[0] / 20


def test_model_is_left_unchanged(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS[:2])
    layer_conductance_all(model, input_ids, mask, n_steps=4, **special)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_baseline_is_cls_pads_sep_of_the_same_length() -> None:
    input_ids = torch.tensor([[2, 7, 8, 9, 3], [2, 7, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert baseline_ids(input_ids, mask, cls_id=2, sep_id=3, pad_id=0).tolist() == [
        [2, 0, 0, 0, 3],
        [2, 0, 3, 0, 0],
    ]


def test_integration_points() -> None:
    nodes = integration_alphas(5)
    assert np.all(np.diff(nodes) > 0) and 0 < nodes[0] and nodes[-1] < 1
    np.testing.assert_allclose(nodes, 1 - nodes[::-1])  # symmetric around 1/2
    np.testing.assert_allclose(integration_alphas(5, "riemann_trapezoid"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(integration_alphas(4, "riemann_left"), [0, 0.25, 0.5, 0.75])
    with pytest.raises(ValueError, match="at least 2"):
        integration_alphas(1)
