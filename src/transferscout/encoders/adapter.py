"""The one place that knows encoder families (in the spirit of transformers' ``Auto*`` classes).

Every signal and the training code ask an :class:`EncoderFamily` — looked up by the config's
``model_type`` — the same small questions, and never branch on the family themselves:

* the **layer modules**, whose outputs are each layer's output *before* any final norm
  (ModernBERT's ``final_norm`` and ``hidden_states[-1]`` are not the last layer's output);
* the **sentence representation** every signal uses: exactly what the family's classification
  head reads — BERT's pooler output after its tanh, ALBERT's after its tanh, DeBERTa's context
  pooler output (the input of its classifier), and for the others the input of their head
  (the ``[CLS]``/``<s>`` state, or ModernBERT's pooled state);
* whether the model takes **token types**;
* its **normalisation modules** (by module type), exempt from weight decay;
* its **layer count** (through ``AutoConfig``) and how to keep the first ``N`` layers;
* how many **positions** its position embeddings hold;
* the **conductance baseline** that does not degenerate for it (see :data:`BASELINES`);
* for each **head** a task kind asks for (:data:`HEADS`: a sequence classifier, a token
  classifier, a span/QA head), which ``AutoModelFor*`` class builds it and which module's
  input holds the per-token states that head reads.

For a token or span head the representation is the first token's state of that per-token
input (these heads have no pooler); every signal reads it through :meth:`EncoderFamily.tap`.

Adding a family is one entry of :data:`FAMILIES` (and one row of the test matrix).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from transferscout.errors import EncoderError

__all__ = [
    "BASELINES",
    "FAMILIES",
    "HEADS",
    "Baseline",
    "EncoderFamily",
    "Head",
    "LayerTap",
    "encoder_family",
    "family_of",
    "head_of",
]

Baseline = Literal["pad", "mask", "zero"]

#: The heads a task kind can put on an encoder: one output vector per text (``sequence``),
#: per word piece (``token``), or start/end logits per word piece (``span``, extractive QA).
Head = Literal["sequence", "token", "span"]

#: The transformers auto class that builds each head, and the class-name suffix it gives.
HEADS: dict[Head, tuple[str, str]] = {
    "sequence": ("AutoModelForSequenceClassification", "ForSequenceClassification"),
    "token": ("AutoModelForTokenClassification", "ForTokenClassification"),
    "span": ("AutoModelForQuestionAnswering", "ForQuestionAnswering"),
}

#: The conductance baselines, in word-embedding space, at every real token between the first
#: and the last (which keep the document's own special tokens):
#: ``pad`` the ``[PAD]`` embedding (the seed paper's ``[CLS] [PAD] … [SEP]``), ``mask`` the
#: ``[MASK]`` embedding, ``zero`` the zero vector.
#:
#: Why the default differs by family: where the embedding layer adds no position term before
#: its LayerNorm (DeBERTa-v3 with ``position_biased_input = false``, ModernBERT with rotary
#: positions) and the ``[PAD]`` row is zero (as ``padding_idx`` initialises it), the straight
#: path from ``[PAD]`` (or from zero) scales the word embedding by α, and LayerNorm is
#: invariant to that scale: the layers see the same input for every α > 0 and jump at α = 0.
#: The integral then misses the whole change (completeness error near 1).  ``[MASK]`` is a
#: trained, non-zero vector, so the path between it and a word does not pass through zero.
BASELINES: tuple[Baseline, ...] = ("pad", "mask", "zero")

_NORM_TYPES: tuple[type[torch.nn.Module], ...] = (torch.nn.LayerNorm, torch.nn.RMSNorm)


def _module(root: torch.nn.Module, path: str) -> torch.nn.Module:
    module: Any = root
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            raise EncoderError(f"{type(root).__name__} has no module {path!r}")
    assert isinstance(module, torch.nn.Module)
    return module


def _keep_layers(config: Any, n: int) -> None:
    config.num_hidden_layers = n


def _keep_albert_layers(config: Any, n: int) -> None:
    """ALBERT shares one layer group across layers; with one group per layer, keep n groups."""
    groups = int(config.num_hidden_groups)
    if groups not in (1, int(config.num_hidden_layers)):
        raise EncoderError(
            f"cannot keep the first {n} layers of an ALBERT encoder with {groups} layer groups "
            f"for {config.num_hidden_layers} layers (supported: 1 group, or one per layer)"
        )
    if groups > 1:
        config.num_hidden_groups = n
    config.num_hidden_layers = n


@dataclass(frozen=True)
class EncoderFamily:
    """What one encoder family (a ``model_type``) looks like inside its sequence classifier.

    Attributes:
        model_type: The config's ``model_type``.
        name: The family's display name.
        layers: Path (from the classifier) of the list of layer modules.
        representation: Path (from the classifier) of the module at the representation.
        representation_is_input: Take that module's input (else its output).
        first_token: Take the first token's state of it (the head reads ``[:, 0]`` itself).
        representation_note: What the representation is, in words.
        token_types: Whether the model takes ``token_type_ids``.
        position_offset: ``"pad"``: position ids count from ``pad_token_id + 1`` (RoBERTa
            style), so that many position rows are never used; ``None``: they start at 0.
        baseline: The default conductance baseline (see :data:`BASELINES`).
        keep_layers: Sets a config to keep its first ``n`` layers.
        token_heads: For the ``token`` and ``span`` heads, the path of the module whose
            input is the per-token states the head reads.
    """

    model_type: str
    name: str
    layers: str
    representation: str
    representation_is_input: bool = False
    first_token: bool = False
    representation_note: str = ""
    token_types: bool = True
    position_offset: Literal["pad"] | None = None
    baseline: Baseline = "pad"
    keep_layers: Callable[[Any, int], None] = field(default=_keep_layers, repr=False)
    token_heads: Mapping[str, str] = field(
        default_factory=lambda: {"token": "classifier", "span": "qa_outputs"}
    )

    def layer_modules(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The distinct layer modules of a classifier (ALBERT: its shared layer groups)."""
        container = _module(model, self.layers)
        return list(container) if isinstance(container, torch.nn.ModuleList) else [container]

    def num_layers(self, model: torch.nn.Module) -> int:
        """The number of layer applications (the config's ``num_hidden_layers``)."""
        return int(getattr(model, "config").num_hidden_layers)  # noqa: B009

    def norm_parameters(self, model: torch.nn.Module) -> set[int]:
        """``id`` of every parameter of a normalisation module (exempt from weight decay)."""
        return {
            id(parameter)
            for module in model.modules()
            if isinstance(module, _NORM_TYPES)
            for parameter in module.parameters(recurse=False)
        }

    def max_positions(self, config: Any) -> int | None:
        """How many tokens the position embeddings hold (``None``: no limit known)."""
        total = getattr(config, "max_position_embeddings", None)
        if total is None:
            return None
        offset = int(config.pad_token_id or 0) + 1 if self.position_offset == "pad" else 0
        return int(total) - offset

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A batch of ``input_ids``/``attention_mask`` (+ zero token types if it takes them)."""
        inputs = {k: v for k, v in batch.items() if k != "token_type_ids"}
        if self.token_types:
            reference = batch.get("input_ids", batch.get("attention_mask"))
            assert reference is not None
            inputs["token_type_ids"] = batch.get("token_type_ids", torch.zeros_like(reference))
        return inputs

    @contextlib.contextmanager
    def tap(self, model: torch.nn.Module) -> Iterator[LayerTap]:
        """Capture each layer's output and the representation during the forward passes inside.

        The captured tensors are part of the autograd graph, so gradients with respect to them
        can be taken.  A shared layer module (ALBERT) is captured once per application.
        """
        head = head_of(model)
        tap = LayerTap(self.first_token or head != "sequence")
        handles = []
        for module in dict.fromkeys(self.layer_modules(model)):  # distinct, in order
            handles.append(module.register_forward_hook(tap.on_layer))
        if head != "sequence":  # the per-token states the token/span head reads
            target = _module(model, self.token_heads[head])
            handles.append(target.register_forward_pre_hook(tap.on_representation_input))
        elif self.representation_is_input:
            target = _module(model, self.representation)
            handles.append(target.register_forward_pre_hook(tap.on_representation_input))
        else:
            target = _module(model, self.representation)
            handles.append(target.register_forward_hook(tap.on_representation_output))
        try:
            yield tap
        finally:
            for handle in handles:
                handle.remove()

    def describe(self) -> dict[str, str]:
        """The family's answers, for ``transferscout encoders describe``."""
        return {
            "family": f"{self.name} (model_type {self.model_type!r})",
            "layers": self.layers,
            "representation": self.representation_note,
            "token types": "yes" if self.token_types else "no",
            "baseline default": self.baseline,
        }


class LayerTap:
    """The layer outputs and representation captured by :meth:`EncoderFamily.tap`."""

    def __init__(self, first_token: bool) -> None:
        self.first_token = first_token
        self.layers: list[torch.Tensor] = []
        self._source: torch.Tensor | None = None

    def clear(self) -> None:
        """Forget what the previous forward pass captured."""
        self.layers = []
        self._source = None

    @property
    def representation_source(self) -> torch.Tensor:
        """The captured tensor the representation is read from (differentiable)."""
        if self._source is None:
            raise RuntimeError("no forward pass has been captured")
        return self._source

    @property
    def representation(self) -> torch.Tensor:
        """``(batch, hidden)``: what the classification head reads."""
        return self.select(self.representation_source)

    def select(self, source: torch.Tensor) -> torch.Tensor:
        """The representation's part of the captured tensor (or of its gradient)."""
        return source[:, 0] if self.first_token else source

    def on_layer(self, _module: torch.nn.Module, _inputs: Any, output: Any) -> None:
        """Forward hook of a layer module."""
        self.layers.append(output[0] if isinstance(output, tuple) else output)

    def on_representation_input(self, _module: torch.nn.Module, inputs: Any) -> None:
        """Forward pre-hook of the module whose input is the representation."""
        self._source = inputs[0]

    def on_representation_output(self, _module: torch.nn.Module, _inputs: Any, output: Any) -> None:
        """Forward hook of the module whose output is the representation."""
        self._source = output[0] if isinstance(output, tuple) else output


_CLS_HEAD = "the [CLS] state, the input of its classification head"

#: Every supported family, by ``model_type``.
FAMILIES: dict[str, EncoderFamily] = {
    family.model_type: family
    for family in (
        EncoderFamily(
            "bert",
            "BERT",
            layers="bert.encoder.layer",
            representation="bert.pooler",
            representation_note="the pooler output (after its tanh)",
        ),
        EncoderFamily(
            "roberta",
            "RoBERTa",
            layers="roberta.encoder.layer",
            representation="classifier",
            representation_is_input=True,
            first_token=True,
            representation_note=_CLS_HEAD,
            token_types=False,
            position_offset="pad",
        ),
        EncoderFamily(
            "xlm-roberta",
            "XLM-RoBERTa",
            layers="roberta.encoder.layer",
            representation="classifier",
            representation_is_input=True,
            first_token=True,
            representation_note=_CLS_HEAD,
            token_types=False,
            position_offset="pad",
        ),
        EncoderFamily(
            "distilbert",
            "DistilBERT",
            layers="distilbert.transformer.layer",
            representation="pre_classifier",
            representation_is_input=True,
            representation_note=_CLS_HEAD,
            token_types=False,
        ),
        EncoderFamily(
            "electra",
            "ELECTRA",
            layers="electra.encoder.layer",
            representation="classifier",
            representation_is_input=True,
            first_token=True,
            representation_note=_CLS_HEAD,
        ),
        EncoderFamily(
            "albert",
            "ALBERT",
            layers="albert.encoder.albert_layer_groups",
            representation="albert.pooler_activation",
            representation_note="the pooler output (after its tanh)",
            keep_layers=_keep_albert_layers,
        ),
        EncoderFamily(
            "deberta-v2",
            "DeBERTa-v2/v3",
            layers="deberta.encoder.layer",
            representation="pooler",
            representation_note="the context pooler output, the input of its classifier",
            baseline="mask",
        ),
        EncoderFamily(
            "modernbert",
            "ModernBERT",
            layers="model.layers",
            representation="head",
            representation_is_input=True,
            representation_note="the pooled last state, the input of its head",
            token_types=False,
            baseline="mask",
            token_heads={"token": "classifier", "span": "classifier"},
        ),
        EncoderFamily(
            "mpnet",
            "MPNet",
            layers="mpnet.encoder.layer",
            representation="classifier",
            representation_is_input=True,
            first_token=True,
            representation_note=_CLS_HEAD,
            token_types=False,
            position_offset="pad",
        ),
    )
}


def encoder_family(model_type: str | None, where: object = "the encoder") -> EncoderFamily:
    """The family of a ``model_type``.

    Raises:
        EncoderError: No ``model_type``, or one no entry of :data:`FAMILIES` covers.
    """
    if not model_type:
        raise EncoderError(
            f"{where}: config.json has no model_type; cannot tell the encoder family "
            f"(supported: {', '.join(FAMILIES)})"
        )
    if model_type not in FAMILIES:
        raise EncoderError(
            f"{where}: encoder family {model_type!r} is not supported (no adapter entry for "
            f"this model_type; supported: {', '.join(FAMILIES)})"
        )
    return FAMILIES[model_type]


def head_of(model: torch.nn.Module) -> Head:
    """The head of a loaded model (by its class name: ``…ForTokenClassification`` …)."""
    name = type(model).__name__
    for head, (_, suffix) in HEADS.items():
        if name.endswith(suffix):
            return head
    raise EncoderError(f"{name} has none of the supported heads ({', '.join(HEADS)})")


def family_of(model: torch.nn.Module) -> EncoderFamily:
    """The family of a loaded Hugging Face model (by its config's ``model_type``)."""
    config = getattr(model, "config", None)
    return encoder_family(getattr(config, "model_type", None), type(model).__name__)
