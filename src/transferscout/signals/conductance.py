"""Layer conductance of a sequence classifier, for every layer from one forward/backward pass.

Conductance (Dhamdhere, Sundararajan and Yan, 2018, *How Important Is a Neuron?*) attributes
the change of the target logit ``F`` along the straight path from a baseline input to the
input, through a layer's output ``h_l``.  With integration points ``α_0 < … < α_m``::

    cond_l = Σ_{k<m} ∂F/∂h_l(α_k) · (h_l(α_{k+1}) − h_l(α_k))

(element-wise; summed over the hidden dimension for a per-token score).  This is what Captum's
``LayerConductance`` computes, one layer per call: the differences between consecutive layer
evaluations stand in for the path derivative times the step size.  Here the interpolated
inputs of several documents go through the model once, every layer's output and its gradient
are taken from that one forward and one backward pass, and the sum runs for all layers at once.

Inputs live in word-embedding space: the input is the document's word embeddings; the
baseline keeps the document's special tokens — its first and last, and a text pair's
separators between its two texts (``[CLS] [PAD] … [SEP] [PAD] … [SEP]``: without its middle
``[SEP]`` the baseline is no pair at all, and the path to the input must build the
separator the model reads the pair by) — and puts, at every other real
token, the ``[PAD]`` embedding (``pad``: the seed paper's ``[CLS] [PAD] … [PAD] [SEP]``), the
``[MASK]`` embedding (``mask``) or zero (``zero``) — see
:data:`transferscout.encoders.BASELINES` for which one suits which family.  Positions, token
types and the attention mask are the input's.  Documents of a batch are padded to the longest
one; a padding position is masked out of attention, so it never receives attribution.

The layer outputs are those of the family's layer modules (before any final norm), captured by
:meth:`transferscout.encoders.EncoderFamily.tap`.  How far the integral is from exact is
measured by :func:`completeness_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from transferscout.encoders.adapter import Baseline, EncoderFamily, family_of

__all__ = [
    "ConductanceResult",
    "completeness_errors",
    "head_logits",
    "integration_alphas",
    "layer_conductance_all",
]

Method = Literal[
    "gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"
]


def integration_alphas(n_points: int, method: Method = "gausslegendre") -> npt.NDArray[np.float64]:
    """The ``n_points`` interpolation coefficients in [0, 1], ascending, as Captum places them.

    Gauss–Legendre nodes are mapped from [-1, 1] to [0, 1]; the Riemann rules place points at
    the left/right/middle of ``n_points`` equal steps, or on both ends (trapezoid).
    """
    if n_points < 2:
        raise ValueError(f"need at least 2 integration points; got {n_points}")
    if method == "gausslegendre":
        nodes, _ = np.polynomial.legendre.leggauss(n_points)
        return np.asarray(0.5 * (nodes + 1.0), dtype=np.float64)
    steps = np.arange(n_points, dtype=np.float64)
    if method == "riemann_left":
        return steps / n_points
    if method == "riemann_right":
        return (steps + 1.0) / n_points
    if method == "riemann_middle":
        return (steps + 0.5) / n_points
    if method == "riemann_trapezoid":
        return np.linspace(0.0, 1.0, n_points)
    raise ValueError(f"unknown integration method {method!r}")


@dataclass(frozen=True)
class ConductanceResult:
    """Per-token conductance of every layer for a batch of documents.

    Attributes:
        scores: ``(n_layers, n_documents, max_tokens)``; position ``t`` of document ``d`` is a
            real token when ``attention_mask[d, t]`` is 1, and 0.0 otherwise.
        attention_mask: ``(n_documents, max_tokens)``.
        input_ids: ``(n_documents, max_tokens)``.
        endpoint_difference: ``F(input) − F(baseline)`` per document, shape
            ``(n_documents,)``; by completeness, each layer's scores of a document sum to it
            as the number of integration points grows.
    """

    scores: npt.NDArray[np.float64]
    attention_mask: npt.NDArray[np.int64]
    input_ids: npt.NDArray[np.int64]
    endpoint_difference: npt.NDArray[np.float64]

    @property
    def completeness_errors(self) -> npt.NDArray[np.float64]:
        """Each document's relative completeness error (see :func:`completeness_errors`)."""
        return completeness_errors(self.scores, self.endpoint_difference)


def completeness_errors(
    scores: npt.ArrayLike, endpoint_difference: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """How far each document's conductance is from completeness, relative to the change.

    By completeness, each layer's token scores of a document sum to ``F(x) − F(x')``; a
    finite number of integration points (or a path the integral cannot follow) leaves an
    error.  Per document, the worst layer's::

        max_l |Σ_t scores[l, d, t] − Δ_d| / |Δ_d|,    Δ_d = F(x_d) − F(x'_d)

    Shape:
        scores: ``(n_layers, n_documents, tokens)``; endpoint_difference: ``(n_documents,)``;
        returns ``(n_documents,)``.  A document with ``Δ_d = 0`` has error 0 when its scores
        sum to 0 too, and infinity otherwise.
    """
    values = np.asarray(scores, dtype=np.float64)
    delta = np.asarray(endpoint_difference, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] != delta.shape[0]:
        raise ValueError(
            f"scores must be (layers, documents, tokens) and endpoint_difference (documents,); "
            f"got {values.shape} and {delta.shape}"
        )
    gap = np.abs(values.sum(axis=2) - delta[None, :]).max(axis=0)
    scale = np.abs(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(scale > 0, gap / np.where(scale > 0, scale, 1.0), np.inf)
    return np.where((scale == 0) & (gap == 0), 0.0, relative)


def baseline_ids(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, *, cls_id: int, sep_id: int, pad_id: int
) -> torch.Tensor:
    """``[CLS] [PAD] … [PAD] [SEP]`` for each document, as long as the document; padding kept."""
    baseline = torch.full_like(input_ids, pad_id)
    lengths = attention_mask.sum(dim=1)
    baseline[:, 0] = cls_id
    baseline[torch.arange(len(input_ids)), lengths - 1] = sep_id
    return torch.where(attention_mask.bool(), baseline, input_ids)


def _inner(attention_mask: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """True at every real token but each document's first and last (and those ``keep`` marks)."""
    inner = attention_mask.bool().clone()
    inner[:, 0] = False
    inner[torch.arange(len(inner)), attention_mask.sum(dim=1) - 1] = False
    if keep is not None:
        inner &= ~keep.to(inner.device).bool()
    return inner


def baseline_embeddings(
    embed: torch.nn.Embedding,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    baseline: Baseline,
    fill_id: int | None,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """The baseline in word-embedding space: first/last token and padding kept, the rest filled.

    ``fill_id`` is the ``[PAD]`` (``pad``) or ``[MASK]`` (``mask``) id; ``zero`` needs none.
    ``keep`` (``(n_documents, max_tokens)``, 1 = kept as in the input) keeps other tokens
    too: every special token of a text pair.
    """
    inner = _inner(attention_mask, keep)
    if baseline == "zero":
        embedded: torch.Tensor = embed(input_ids)
        return torch.where(inner.unsqueeze(-1), torch.zeros_like(embedded), embedded)
    if fill_id is None:
        raise ValueError(f"the {baseline!r} baseline needs the tokenizer's {baseline} token")
    filled: torch.Tensor = embed(torch.where(inner, torch.full_like(input_ids, fill_id), input_ids))
    return filled


def layer_conductance_all(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    target: int | torch.Tensor = 1,
    n_steps: int = 50,
    method: Method = "gausslegendre",
    internal_batch_size: int | None = None,
    baseline: Baseline = "pad",
    fill_id: int | None = None,
    token_type_ids: torch.Tensor | None = None,
    special_tokens_mask: torch.Tensor | None = None,
) -> ConductanceResult:
    """Conductance of the ``target`` logit through every encoder layer's output.

    Shape:
        input_ids, attention_mask: ``(n_documents, max_tokens)``, padded to the longest
        document.  Result scores: ``(n_layers, n_documents, max_tokens)``.

    Args:
        model: A Hugging Face sequence classifier of a supported family (it takes
            ``inputs_embeds``); it is used in eval mode and left as it was.
        input_ids: Token ids, each document starting and ending with its special tokens.
        attention_mask: 1 for real tokens, 0 for padding.
        target: The class whose logit is attributed; or, for a token or span head, weights
            ``(n_documents, max_tokens, outputs)``: F is the weighted sum of the token
            logits (a tagger's gold entity tags at their words' first pieces; a span
            head's start logit at a span's first piece and end logit at its last — see
            :func:`head_logits`).
        n_steps: Integration steps; ``n_steps + 1`` points are evaluated (as Captum does).
        method: Placement of the points (see :func:`integration_alphas`).
        internal_batch_size: At most this many interpolated rows (documents × points) go
            through the model at once, to bound memory; chunks of points overlap by one.
        baseline: What stands at the baseline's inner tokens: ``pad``, ``mask`` or ``zero``.
        fill_id: The token id of ``pad`` / ``mask`` (unused for ``zero``).
        token_type_ids: Token types of the input (a text pair's second text), kept along the
            path; ``None``: the family's default (all 0 where it takes token types).
        special_tokens_mask: 1 at the tokens the baseline keeps as they are (a text pair's
            special tokens, its middle separator included); ``None``: the first and last.

    References:
        Dhamdhere, Sundararajan, Yan (2018), arXiv:1805.12233; Captum ``LayerConductance``.
    """
    if input_ids.shape != attention_mask.shape or input_ids.ndim != 2:
        raise ValueError(
            f"input_ids and attention_mask must be (documents, tokens) of the same shape; got "
            f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
        )
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1; got {n_steps}")
    family = family_of(model)
    embed: torch.nn.Embedding = getattr(model, "get_input_embeddings")()  # noqa: B009
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dtype = embed.weight.dtype
    input_ids = input_ids.to(device)
    attention_mask = attention_mask.to(device)
    n_docs, width = input_ids.shape
    alphas = torch.as_tensor(integration_alphas(n_steps + 1, method), dtype=dtype, device=device)
    points = len(alphas)
    per_chunk = points if internal_batch_size is None else max(2, internal_batch_size // n_docs)
    try:
        with torch.no_grad():
            inputs = embed(input_ids)
            reference = baseline_embeddings(
                embed,
                input_ids,
                attention_mask,
                baseline=baseline,
                fill_id=fill_id,
                keep=special_tokens_mask,
            )
        token_types = None if token_type_ids is None else token_type_ids.to(device)
        scores: torch.Tensor | None = None
        start = 0
        while start < points - 1:
            stop = min(start + per_chunk, points)  # points start..stop-1; steps start..stop-2
            chunk = _chunk_conductance(
                model,
                family,
                inputs,
                reference,
                _repeated(attention_mask, token_types),
                alphas[start:stop],
                target,
            )
            scores = chunk if scores is None else scores + chunk
            start = stop - 1
        assert scores is not None
        with torch.no_grad():
            ends = torch.stack([reference, inputs])  # alpha 0 and 1
            logits = _attributed(
                head_logits(
                    model(
                        inputs_embeds=ends.reshape(2 * n_docs, width, -1),
                        **family.model_inputs(_repeated(attention_mask, token_types)(2)),
                    )
                ),
                target,
                2,
            )
    finally:
        model.train(was_training)
    mask = attention_mask.unsqueeze(0).to(scores.dtype)
    return ConductanceResult(
        scores=(scores * mask).double().cpu().numpy(),
        attention_mask=attention_mask.cpu().numpy().astype(np.int64),
        input_ids=input_ids.cpu().numpy().astype(np.int64),
        endpoint_difference=(logits[1] - logits[0]).double().cpu().numpy(),
    )


def _chunk_conductance(
    model: torch.nn.Module,
    family: EncoderFamily,
    inputs: torch.Tensor,
    reference: torch.Tensor,
    masks: Callable[[int], dict[str, torch.Tensor]],
    alphas: torch.Tensor,
    target: int | torch.Tensor,
) -> torch.Tensor:
    """Σ over this chunk's steps, for every layer: ``(n_layers, n_docs, tokens)``.

    ``masks(k)`` gives the attention mask (and token types) repeated for ``k`` points.
    """
    n_docs = inputs.shape[0]
    points = len(alphas)
    # Row p * n_docs + d is document d at alpha p (the layout Captum uses).
    scaled = reference.unsqueeze(0) + alphas.view(-1, 1, 1, 1) * (inputs - reference).unsqueeze(0)
    scaled = scaled.reshape(points * n_docs, *inputs.shape[1:]).requires_grad_(True)
    with family.tap(model) as tap:
        output = model(
            inputs_embeds=scaled,
            **family.model_inputs(masks(points)),
        )
    layers = tap.layers  # the output of each encoder layer, before any final norm
    gradients = torch.autograd.grad(_attributed(head_logits(output), target, points).sum(), layers)
    per_layer = []
    with torch.no_grad():
        for hidden, gradient in zip(layers, gradients, strict=True):
            hidden = hidden.reshape(points, n_docs, *hidden.shape[1:])
            gradient = gradient.reshape(points, n_docs, *gradient.shape[1:])
            steps = gradient[:-1] * (hidden[1:] - hidden[:-1])  # (steps, docs, tokens, hidden)
            per_layer.append(steps.sum(dim=(0, 3)))
    return torch.stack(per_layer)


def head_logits(output: object) -> torch.Tensor:
    """A forward pass's logits: a classifier's, or a span head's start and end stacked.

    Shape: ``(rows, outputs)``, ``(rows, tokens, outputs)``, or for a span head
    ``(rows, tokens, 2)`` (output 0 the start logit, 1 the end logit).
    """
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    start: torch.Tensor = getattr(output, "start_logits")  # noqa: B009
    return torch.stack([start, getattr(output, "end_logits")], dim=-1)  # noqa: B009


def _attributed(logits: torch.Tensor, target: int | torch.Tensor, points: int) -> torch.Tensor:
    """F of every row, ``(points, n_docs)``: a logit, or the weighted sum of token logits.

    Rows are document ``d`` at point ``p`` in row ``p * n_docs + d``.
    """
    if isinstance(target, int):
        return logits[:, target].reshape(points, -1)
    weights = target.to(device=logits.device, dtype=logits.dtype)
    per_point = logits.reshape(points, *weights.shape) * weights.unsqueeze(0)
    return per_point.sum(dim=(2, 3))


def _repeated(
    attention_mask: torch.Tensor, token_types: torch.Tensor | None
) -> Callable[[int], dict[str, torch.Tensor]]:
    """``k ->`` the attention mask (and token types, if given) stacked ``k`` times."""

    def repeat(k: int) -> dict[str, torch.Tensor]:
        out = {"attention_mask": attention_mask.repeat(k, 1)}
        if token_types is not None:
            out["token_type_ids"] = token_types.repeat(k, 1)
        return out

    return repeat


def batch_documents(
    token_ids: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token id lists to the longest: ``(input_ids, attention_mask)``."""
    width = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids, mask
