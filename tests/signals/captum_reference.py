"""Captum's LayerConductance, one call per layer module: the slow reference for conductance."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerConductance

from transferscout.encoders import Baseline, family_of
from transferscout.signals.conductance import baseline_embeddings


def captum_conductance(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    layers: list[torch.nn.Module],
    *,
    baseline: Baseline,
    fill_id: int | None,
    n_steps: int,
    method: str,
) -> np.ndarray:
    """``(layers, documents, tokens)``: Captum's conductance summed over the hidden dimension.

    ``layers`` are modules each applied once per forward pass, in order.
    """
    family = family_of(model)
    embed = model.get_input_embeddings()  # type: ignore[operator]
    with torch.no_grad():
        inputs = embed(input_ids)
        reference = baseline_embeddings(embed, input_ids, mask, baseline=baseline, fill_id=fill_id)

    def forward(embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        extra = family.model_inputs({"attention_mask": attention_mask})
        return model(inputs_embeds=embeds, **extra).logits

    per_layer = []
    for layer in layers:
        attributions = LayerConductance(forward, layer).attribute(
            inputs,
            baselines=reference,
            target=1,
            additional_forward_args=(mask,),
            n_steps=n_steps,
            method=method,
        )
        per_layer.append(attributions.sum(dim=-1).detach().double().numpy())
    return np.stack(per_layer)


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())
