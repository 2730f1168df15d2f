"""Captum's LayerConductance, one call per layer module: the slow reference for conductance."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from captum.attr import LayerConductance

from transferscout.encoders import Baseline, family_of
from transferscout.signals.conductance import baseline_embeddings


class _OutputTap(torch.nn.Module):
    """Runs a layer and passes the tensor of its output through an identity module.

    Captum hooks a module's output and needs it to be tensors; a layer that returns
    ``(states, None)`` (DeBERTa) gets this identity on ``states``, which is the same tensor.
    """

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.output = torch.nn.Identity()

    def forward(self, *args: object, **kwargs: object) -> object:
        result = self.layer(*args, **kwargs)
        if isinstance(result, tuple):
            return (self.output(result[0]), *result[1:])
        return self.output(result)


def tapped_layers(model: torch.nn.Module, layers: list[torch.nn.Module]) -> list[torch.nn.Module]:
    """The modules Captum is pointed at: each layer, or an identity on its output tensor.

    Layers whose output is a tuple are wrapped in place (the model is modified; pass a copy).
    """
    returns_tuple: dict[int, bool] = {}
    handles = [
        layer.register_forward_hook(
            lambda module, _i, out: returns_tuple.__setitem__(id(module), isinstance(out, tuple))
        )
        for layer in layers
    ]
    try:
        with torch.no_grad():
            ids = torch.tensor([[1, 5, 6, 2]])
            model(**family_of(model).model_inputs({"input_ids": ids}))
    finally:
        for handle in handles:
            handle.remove()
    parents = {
        id(child): (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
    }
    chosen = []
    for layer in layers:
        if not returns_tuple[id(layer)]:
            chosen.append(layer)
            continue
        parent, name = parents[id(layer)]
        wrapper = _OutputTap(layer)
        setattr(parent, name, wrapper)
        chosen.append(wrapper.output)
    return chosen


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
    weights: torch.Tensor | None = None,
) -> np.ndarray:
    """``(layers, documents, tokens)``: Captum's conductance summed over the hidden dimension.

    The target is logit 1, or with ``weights`` ``(documents, tokens, outputs)`` the weighted
    sum of a token (or span) head's logits (passed as a forward argument, which Captum
    repeats per step).

    ``layers`` are modules each applied once per forward pass, in order; the model may be
    modified (see :func:`tapped_layers`), so pass a copy.
    """
    family = family_of(model)
    embed = model.get_input_embeddings()  # type: ignore[operator]
    with torch.no_grad():
        inputs = embed(input_ids)
        reference = baseline_embeddings(embed, input_ids, mask, baseline=baseline, fill_id=fill_id)

    def forward(
        embeds: torch.Tensor, attention_mask: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        extra = family.model_inputs({"attention_mask": attention_mask})
        output = model(inputs_embeds=embeds, **extra)
        if "start_logits" in output:  # a span head: output 0 the start, 1 the end logits
            logits = torch.stack([output.start_logits, output.end_logits], dim=-1)
        else:
            logits = output.logits
        if weight is None:
            return logits
        return (logits * weight).sum(dim=(1, 2)).unsqueeze(-1)

    per_layer = []
    for layer in tapped_layers(model, layers):
        attributions = LayerConductance(forward, layer).attribute(
            inputs,
            baselines=reference,
            target=1 if weights is None else 0,
            additional_forward_args=(mask,) if weights is None else (mask, weights),
            n_steps=n_steps,
            method=method,
        )
        per_layer.append(attributions.sum(dim=-1).detach().double().numpy())
    return np.stack(per_layer)


def captum_on_copy(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    special: dict[str, Any],
    n_steps: int,
    method: str = "gausslegendre",
    weights: torch.Tensor | None = None,
) -> np.ndarray:
    """:func:`captum_conductance` on a copy of a BERT-like ``model``'s encoder layers.

    ``special``: the ``baseline`` and ``fill_id`` keyword arguments.
    """
    copied = copy.deepcopy(model)
    layers = list(copied.base_model.encoder.layer)  # type: ignore[union-attr]
    return captum_conductance(
        copied, input_ids, mask, layers, n_steps=n_steps, method=method, weights=weights, **special
    )


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())
