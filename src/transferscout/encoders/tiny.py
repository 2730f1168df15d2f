"""A tiny randomly initialised BERT with a WordPiece tokenizer, built without any download."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transferscout._offline import enable_offline_mode
from transferscout.encoders.loading import _quiet_transformers

__all__ = ["build_tiny_encoder"]


# A small word list for the tiny test encoder's vocabulary; every letter and digit is also
# present (with its ``##`` continuation) so that any ASCII text tokenizes without [UNK].
_TINY_WORDS = (
    "the a an and or of to in on at for with from by is are was be has have not no we i you "
    "they it this that there here need needs help please food water shelter medical doctor "
    "hospital injured dead death killed missing people person family child children house "
    "houses road bridge power electricity flood floods storm rain wind earthquake fire cold "
    "weather rescue search trapped aid send sent tent tents clean drinking hungry village city "
    "area report reports news message thanks"
).split()


def build_tiny_encoder(
    directory: str | Path,
    *,
    num_layers: int = 2,
    hidden_size: int = 32,
    num_heads: int = 2,
    intermediate_size: int = 64,
    max_length: int = 128,
    words: Sequence[str] = _TINY_WORDS,
    seed: int = 0,
) -> Path:
    """Write a tiny randomly initialised BERT (config, weights, WordPiece tokenizer) to a folder.

    The folder loads like any local encoder (``load_encoder(path)``); tests use it so that
    they need no downloaded weights.  The same arguments give the same weights.

    Returns:
        The folder.
    """
    enable_offline_mode()
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    characters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    characters += list(".,!?'-:;/#@()")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for token in [*characters, *(f"##{c}" for c in characters), *words]:
        if token not in vocab:
            vocab.append(token)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(directory)

    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length,
        pad_token_id=0,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = BertForSequenceClassification(config)
    finally:
        torch.random.set_rng_state(generator_state)
    with _quiet_transformers():
        model.save_pretrained(directory)
    return directory
