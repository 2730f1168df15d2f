"""Task embeddings of Vu et al. (2020): TextEmb and TaskEmb (SPEC §5.2).

* **TextEmb**: the mean, over a task's training texts, of the attention-masked mean of the
  *pretrained* encoder's last-layer token states (special tokens included).
* **TaskEmb**: the empirical Fisher information of the task's *fine-tuned* single-task model —
  the squared gradient of the loss on gold labels — with respect to each layer's output, the
  pooled output and (opt-in, large) every encoder parameter; each kept as its own component.

Similarity of two tasks is the cosine of their embeddings (per component for TaskEmb); the
default TaskEmb ranking fuses the components' rankings by reciprocal-rank fusion.

Reference: Vu, Wang, Munkhdalai, Sordoni, Trischler, Mattarella-Micke, Maji, Iyyer (2020),
*Exploring and Predicting Transferability across NLP Tasks*, EMNLP (arXiv:2005.00770).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

from transferscout.encoders.adapter import family_of
from transferscout.kinds import BINARY, TaskKind
from transferscout.tasks.task import Split
from transferscout.training.data import encode_texts, example_batches, padded_batches

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "cosine_similarity",
    "reciprocal_rank_fusion",
    "task_embedding",
    "text_embedding",
]

Vector = npt.NDArray[np.float64]


@torch.no_grad()
def text_embedding(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 32,
    pairs: Sequence[str] | None = None,
) -> Vector:
    """TextEmb: mean over texts of the masked mean of the last layer's token states.

    The last layer's output is taken before any final norm (see
    :class:`transferscout.encoders.EncoderFamily`).

    Shape:
        returns ``(hidden,)``.

    Args:
        model: The pretrained encoder (a sequence classifier).
        tokenizer: Its tokenizer.
        texts: The task's training texts.
        max_length: Truncation length.
        batch_size: Texts per forward pass.
        pairs: The second texts of a pair task (each pair is one encoded sequence).
    """
    family = family_of(model)
    model.eval()
    device = next(model.parameters()).device
    encoded = encode_texts(tokenizer, texts, max_length, pairs)
    order = np.argsort(encoded.lengths, kind="stable")
    total: torch.Tensor | None = None
    for _, batch in padded_batches(encoded, order, batch_size):
        batch = {k: v.to(device) for k, v in family.model_inputs(batch).items()}
        with family.tap(model) as tap:
            model(**batch)
        states = tap.layers[-1].double()
        mask = batch["attention_mask"].unsqueeze(-1).double()
        means = (states * mask).sum(dim=1) / mask.sum(dim=1)
        total = means.sum(dim=0) if total is None else total + means.sum(dim=0)
    if total is None:
        raise ValueError("no texts to embed")
    return (total / len(encoded)).cpu().numpy()


def task_embedding(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: npt.ArrayLike,
    *,
    max_length: int = 128,
    batch_size: int = 32,
    parameters: bool = False,
    pairs: Sequence[str] | None = None,
    kind: TaskKind = BINARY,
    outputs: dict[str, Vector] | None = None,
) -> dict[str, Vector]:
    """TaskEmb: empirical Fisher of a fine-tuned model, one vector per component.

    For each batch the loss of the task's kind (cross-entropy for classes, squared error for
    regression, token cross-entropy on each word's first piece for tagging, as Vu et al.) on
    the gold labels is back-propagated once; for each layer's output (before any final norm)
    the gradient is summed over the batch and its tokens, squared, and divided by the batch's
    token count; for the representation the head reads (``pooled``: the sentence
    representation, or the first token's state for a token head; see
    :class:`transferscout.encoders.EncoderFamily`) it is summed over the batch and squared;
    with ``parameters=True`` every encoder parameter's squared gradient is kept too.  The
    sums over batches are divided by the number of features (examples).

    Args:
        model: The fine-tuned single-task model.
        tokenizer: Its tokenizer.
        texts: The task's (sampled) training texts (encoded as its kind encodes them).
        labels: Their gold labels (the kind's labels: one per text).
        max_length: Truncation length.
        batch_size: Features per forward/backward pass.
        parameters: Also keep every encoder parameter's squared gradient.
        pairs: The second texts of a text-pair task (``None``: single texts).
        kind: The task's kind (its encoding, loss and outputs).
        outputs: When given (sequence-level kinds), it receives the same forward pass's
            ``"features"`` (pooled output, ``(n, hidden)``) and ``"probabilities"`` (the
            kind's outputs, ``(n, classes)``), in the order of the examples — what a separate
            feature pass would compute.

    Returns:
        ``{"layer_1": …, …, "layer_L": …, "pooled": …}`` (+ ``"parameters"``), each 1-d.
    """
    family = family_of(model)
    base: Any = getattr(model, "base_model", model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = tuple(str(i) for i in range(len(texts)))
    split = Split(ids, tuple(texts), np.asarray(labels), None if pairs is None else tuple(pairs))
    encoded = kind.encode(tokenizer, split, max_length)
    sums: dict[str, torch.Tensor] = {}
    named = [(n, p) for n, p in base.named_parameters() if p.requires_grad]
    order = np.arange(len(encoded))
    try:
        for index, batch in example_batches(encoded, order, batch_size, kind.collate):
            labels = batch.pop("labels").to(device)
            batch = {k: v.to(device) for k, v in family.model_inputs(batch).items()}
            with family.tap(model) as tap:
                output = model(**batch)
            logits = kind.logits(output)
            loss = kind.loss(logits, labels)
            layers = tap.layers
            targets = [*layers, tap.representation_source]
            if parameters:
                targets += [p for _, p in named]
            gradients = torch.autograd.grad(loss, targets)
            if outputs is not None:
                probabilities = kind.outputs(logits.detach().double())
                _keep_outputs(outputs, index, tap.representation, probabilities, len(encoded))
            tokens = float(batch["attention_mask"].sum())
            for i, gradient in enumerate(gradients[: len(layers)]):
                _accumulate(sums, f"layer_{i + 1}", gradient.double().sum(dim=(0, 1)) ** 2 / tokens)
            pooled = tap.select(gradients[len(layers)])
            _accumulate(sums, "pooled", pooled.double().sum(dim=0) ** 2)
            if parameters:
                flat = torch.cat(
                    [g.double().reshape(-1) ** 2 for g in gradients[len(layers) + 1 :]]
                )
                _accumulate(sums, "parameters", flat)
    finally:
        model.train(was_training)
    return {name: (total / len(encoded)).cpu().numpy() for name, total in sums.items()}


def _keep_outputs(
    outputs: dict[str, Vector],
    index: npt.NDArray[np.intp],
    pooled: torch.Tensor,
    kind_outputs: torch.Tensor,
    total: int,
) -> None:
    if not outputs:
        outputs["features"] = np.zeros((total, pooled.shape[-1]))
        outputs["probabilities"] = np.zeros((total, kind_outputs.shape[-1]))
    outputs["features"][index] = pooled.detach().double().cpu().numpy()
    outputs["probabilities"][index] = kind_outputs.detach().double().cpu().numpy()


def _accumulate(sums: dict[str, torch.Tensor], key: str, value: torch.Tensor) -> None:
    sums[key] = value.detach() if key not in sums else sums[key] + value.detach()


def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine of two vectors (0 when either is all zeros)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    z = np.asarray(b, dtype=np.float64).ravel()
    norm = np.linalg.norm(x) * np.linalg.norm(z)
    return float(x @ z / norm) if norm > 0 else 0.0


def reciprocal_rank_fusion(
    scores: Mapping[str, Mapping[str, float]], *, k: int = 60
) -> dict[str, float]:
    """Fuse several rankings of the same items: ``Σ_c 1 / (k + rank_c(item))``.

    Args:
        scores: Component -> item -> score (higher is better); rank 1 is the best item.
        k: The fusion constant (60, as Cormack, Clarke and Büttcher 2009).

    Returns:
        Item -> fused score (higher is better).
    """
    fused: dict[str, float] = {}
    for component in scores.values():
        ordered = sorted(component, key=lambda item: (-component[item], item))
        for rank, item in enumerate(ordered, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused
