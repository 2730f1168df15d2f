"""Carrying an encoder between heads of different kinds: shared parts load, head parts stay."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from transferscout.encoders import load_encoder
from transferscout.errors import TransferScoutError
from transferscout.grid.worker import _load_encoder_weights


def _blob(model: torch.nn.Module) -> bytes:
    from safetensors.torch import save

    return bytes(save({k: v.contiguous() for k, v in model.state_dict().items()}))


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.5)
    return model


def test_a_tagger_encoder_goes_into_a_classifier_and_back(tiny_encoder_dir: Path) -> None:
    torch.manual_seed(0)
    tagger = _perturbed(load_encoder(tiny_encoder_dir, num_labels=4, head="token").model)
    classifier = load_encoder(tiny_encoder_dir, num_labels=2).model
    pretrained_pooler = classifier.bert.pooler.dense.weight.clone()
    _load_encoder_weights(classifier, _blob(tagger))
    # the encoder is the tagger's; the pooler (which a token model lacks) stays pretrained;
    # the head stays fresh
    assert torch.equal(
        classifier.bert.encoder.layer[0].output.dense.weight,
        tagger.bert.encoder.layer[0].output.dense.weight,
    )
    assert torch.equal(classifier.bert.pooler.dense.weight, pretrained_pooler)
    assert classifier.classifier.weight.shape == (2, 32)

    back = load_encoder(tiny_encoder_dir, num_labels=3, head="token").model
    _load_encoder_weights(back, _blob(_perturbed(classifier)))  # the pooler is dropped
    assert torch.equal(
        back.bert.embeddings.word_embeddings.weight,
        classifier.bert.embeddings.word_embeddings.weight,
    )


def test_an_encoder_of_another_shape_is_refused(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from transferscout.encoders import build_tiny_encoder

    other = load_encoder(build_tiny_encoder(tmp_path / "two", num_layers=2), head="token")
    model = load_encoder(tiny_encoder_dir).model
    with pytest.raises(TransferScoutError, match="mismatched weights"):
        _load_encoder_weights(model, _blob(other.model))
