from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.signals.captum_reference import captum_on_copy, relative_error
from transferscout.encoders import EncoderSpec, load_encoder
from transferscout.signals.conductance import (
    baseline_embeddings,
    batch_documents,
    completeness_errors,
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
) -> tuple[torch.Tensor, torch.Tensor, dict[str, object]]:
    ids = [tokenizer(t)["input_ids"] for t in texts]  # type: ignore[operator]
    input_ids, mask = batch_documents(ids, tokenizer.pad_token_id)  # type: ignore[attr-defined]
    special = {"baseline": "pad", "fill_id": tokenizer.pad_token_id}  # type: ignore[attr-defined]
    return input_ids, mask, special


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
    reference = captum_on_copy(model, input_ids, mask, special, 16, method)
    assert ours.scores.shape == (3, 3, input_ids.shape[1])
    assert relative_error(ours.scores, reference) <= tolerance


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
    reference = captum_on_copy(model, input_ids, mask, special, 10)
    for layer in range(2):
        assert relative_error(ours.scores[layer], reference[layer]) <= tolerance


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
        errors.append(result.completeness_errors.max())
    # The left-point rule is first order: the error shrinks about as 1/n_steps.
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 2e-2 and errors[2] < errors[0] / 20, errors


def test_model_is_left_unchanged(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    model = encoder.model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS[:2])
    layer_conductance_all(model, input_ids, mask, n_steps=4, **special)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_baselines_keep_first_last_and_padding_and_fill_the_rest() -> None:
    embed = torch.nn.Embedding(10, 2)
    torch.nn.init.normal_(embed.weight)
    input_ids = torch.tensor([[2, 7, 8, 9, 3], [2, 7, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        pad = baseline_embeddings(embed, input_ids, mask, baseline="pad", fill_id=0)
        masked = baseline_embeddings(embed, input_ids, mask, baseline="mask", fill_id=4)
        zero = baseline_embeddings(embed, input_ids, mask, baseline="zero", fill_id=None)
        expected_pad = embed(torch.tensor([[2, 0, 0, 0, 3], [2, 0, 3, 0, 0]]))
        expected_mask = embed(torch.tensor([[2, 4, 4, 4, 3], [2, 4, 3, 0, 0]]))
        expected_zero = embed(input_ids)
    expected_zero[0, 1:4] = 0.0
    expected_zero[1, 1] = 0.0
    assert torch.equal(pad, expected_pad)
    assert torch.equal(masked, expected_mask)
    assert torch.equal(zero, expected_zero)
    with pytest.raises(ValueError, match="needs the tokenizer's mask token"):
        baseline_embeddings(embed, input_ids, mask, baseline="mask", fill_id=None)


def test_completeness_errors_by_hand() -> None:
    # 2 layers, 3 documents, 2 tokens; the changes F(x) - F(x') are 1, -2 and 0.
    scores = np.array(
        [
            [[0.5, 0.5], [-1.0, -0.9], [0.0, 0.0]],
            [[0.6, 0.5], [-1.0, -1.0], [0.1, 0.0]],
        ]
    )
    errors = completeness_errors(scores, [1.0, -2.0, 0.0])
    np.testing.assert_allclose(errors, [0.1, 0.05, np.inf])
    assert completeness_errors(scores[:1], [1.0, -2.0, 0.0])[2] == 0.0
    with pytest.raises(ValueError, match="layers, documents, tokens"):
        completeness_errors(scores[0], [1.0, 2.0])


def test_integration_points() -> None:
    nodes = integration_alphas(5)
    assert np.all(np.diff(nodes) > 0) and 0 < nodes[0] and nodes[-1] < 1
    np.testing.assert_allclose(nodes, 1 - nodes[::-1])  # symmetric around 1/2
    np.testing.assert_allclose(integration_alphas(5, "riemann_trapezoid"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(integration_alphas(4, "riemann_left"), [0, 0.25, 0.5, 0.75])
    with pytest.raises(ValueError, match="at least 2"):
        integration_alphas(1)


def test_summed_token_logits_equal_captum(tiny_encoder_dir: Path) -> None:
    """A tagger's target: F is a weighted sum of token logits (gold entity tags)."""
    torch.manual_seed(0)
    encoder = load_encoder(str(tiny_encoder_dir), num_labels=3, head="token")
    model = encoder.model.double().eval()
    input_ids, mask, special = _batch(encoder.tokenizer, TEXTS)
    generator = torch.Generator().manual_seed(1)
    weights = (torch.rand((*input_ids.shape, 3), generator=generator) < 0.2).double()
    weights *= mask.unsqueeze(-1)
    ours = layer_conductance_all(
        model, input_ids, mask, target=weights, n_steps=8, method="gausslegendre", **special
    )
    reference = captum_on_copy(model, input_ids, mask, special, 8, weights=weights)
    assert relative_error(ours.scores, reference) < 1e-8
    # F is linear in the weights, and so is every layer's conductance
    halves = [
        layer_conductance_all(model, input_ids, mask, target=w, n_steps=8, **special).scores
        for w in (weights * (torch.arange(3) < 1), weights * (torch.arange(3) >= 1))
    ]
    np.testing.assert_allclose(halves[0] + halves[1], ours.scores, rtol=0, atol=1e-10)


def test_a_pairs_baseline_keeps_its_middle_separator(tiny_encoder_dir: Path) -> None:
    """Issue 31.8: ``[CLS] a [SEP] b [SEP]`` -> ``[CLS] [PAD] [SEP] [PAD] [SEP]``, not one text.

    Completeness still holds along the path (float64, 256 steps: the error of a smooth
    integrand's trapezoid rule, under 1%).
    """
    encoder = load_encoder(str(tiny_encoder_dir), num_labels=1)
    tokenizer = encoder.tokenizer
    encoded = tokenizer(["we need water"], ["send aid please"], return_special_tokens_mask=True)
    input_ids = torch.tensor(encoded["input_ids"])
    mask = torch.tensor(encoded["attention_mask"])
    keep = torch.tensor(encoded["special_tokens_mask"])
    assert keep.sum() == 3  # [CLS] and both [SEP]s
    embed = encoder.model.get_input_embeddings()
    with torch.no_grad():
        kept = baseline_embeddings(embed, input_ids, mask, baseline="pad", fill_id=0, keep=keep)
        expected = embed(torch.where(keep.bool(), input_ids, tokenizer.pad_token_id))
    assert torch.equal(kept, expected)
    model = encoder.model.double().eval()
    result = layer_conductance_all(
        model,
        input_ids,
        mask,
        target=0,
        n_steps=256,
        method="riemann_trapezoid",
        baseline="pad",
        fill_id=tokenizer.pad_token_id,
        token_type_ids=torch.tensor(encoded["token_type_ids"]),
        special_tokens_mask=keep,
    )
    assert result.completeness_errors.max() < 1e-2
