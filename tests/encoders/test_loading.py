from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from transferscout.encoders import (
    EncoderSpec,
    build_tiny_encoder,
    encoder_fingerprint,
    encoder_path,
    load_encoder,
)
from transferscout.errors import EncoderError


def test_tiny_encoder_loads_like_any_local_folder(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    assert encoder.num_layers == 3 and encoder.hidden_size == 32
    assert encoder.model.config.num_labels == 2
    tokens = encoder.tokenizer.convert_ids_to_tokens(
        encoder.tokenizer("Waterz at the bridge!")["input_ids"]
    )
    assert tokens == ["[CLS]", "water", "##z", "at", "the", "bridge", "!", "[SEP]"]
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_tiny_encoder_is_deterministic(tmp_path: Path) -> None:
    first = build_tiny_encoder(tmp_path / "a", seed=3)
    second = build_tiny_encoder(tmp_path / "b", seed=3)
    other = build_tiny_encoder(tmp_path / "c", seed=4)
    weights = [
        load_encoder(str(p)).model.bert.embeddings.word_embeddings.weight
        for p in (first, second, other)
    ]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])
    assert encoder_fingerprint(str(first)) == encoder_fingerprint(str(second))


def test_keeping_first_layers_keeps_their_weights(tiny_encoder_dir: Path) -> None:
    full = load_encoder(str(tiny_encoder_dir)).model
    cut = load_encoder(EncoderSpec(str(tiny_encoder_dir), num_layers=2)).model
    assert len(cut.bert.encoder.layer) == 2 and cut.config.num_hidden_layers == 2
    for kept, original in zip(cut.bert.encoder.layer, full.bert.encoder.layer[:2], strict=True):
        for (name, a), (_, b) in zip(
            kept.state_dict().items(), original.state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), name
    assert torch.equal(
        cut.bert.embeddings.word_embeddings.weight, full.bert.embeddings.word_embeddings.weight
    )


def test_fingerprint_depends_on_layer_count_and_weights(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    base = encoder_fingerprint(str(tiny_encoder_dir))
    assert base == encoder_fingerprint(EncoderSpec(str(tiny_encoder_dir)))
    assert base != encoder_fingerprint(EncoderSpec(str(tiny_encoder_dir), num_layers=2))
    other = build_tiny_encoder(tmp_path / "other", num_layers=3, seed=1)
    assert base != encoder_fingerprint(str(other))


def test_too_many_layers(tiny_encoder_dir: Path) -> None:
    with pytest.raises(EncoderError, match="num_layers = 4, but encoder .* has only 3 layers"):
        load_encoder(EncoderSpec(str(tiny_encoder_dir), num_layers=4))
    with pytest.raises(EncoderError, match="expected at least 1"):
        EncoderSpec(str(tiny_encoder_dir), num_layers=0)


def test_missing_folder_and_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="neither a built-in encoder"):
        encoder_path(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="no config.json"):
        encoder_path(tmp_path / "empty")


def test_unloadable_folder(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(EncoderError, match="cannot load the encoder"):
        load_encoder(str(tmp_path / "broken"))


@pytest.mark.minilm
def test_builtin_minilm_first_two_layers_match_the_full_model() -> None:
    full = load_encoder("all-MiniLM-L6-v2")
    assert full.num_layers == 6 and full.hidden_size == 384
    cut = load_encoder(EncoderSpec(num_layers=2))
    assert cut.num_layers == 2
    assert torch.equal(
        cut.model.bert.encoder.layer[1].output.dense.weight,
        full.model.bert.encoder.layer[1].output.dense.weight,
    )
    batch = cut.tokenizer(["we need water"], return_tensors="pt")
    with torch.no_grad():
        full_states = full.model.bert(**batch, output_hidden_states=True).hidden_states
        cut_states = cut.model.bert(**batch, output_hidden_states=True).hidden_states
    # The 2-layer model's last hidden state is the full model's second layer output.
    torch.testing.assert_close(cut_states[-1], full_states[2])
    assert cut.tokenizer.convert_ids_to_tokens(batch["input_ids"][0]) == [
        "[CLS]",
        "we",
        "need",
        "water",
        "[SEP]",
    ]
