"""Encoders: load a local or built-in Hugging Face encoder, and what each family looks like.

``loading`` finds and loads encoders (with their tokenizers) from local folders;
``adapter`` is the one module that knows encoder families; ``tiny`` builds a tiny random BERT
for tests.
"""

from transferscout.encoders.adapter import (
    BASELINES,
    FAMILIES,
    Baseline,
    EncoderFamily,
    encoder_family,
    family_of,
)
from transferscout.encoders.loading import (
    BUILTIN_ENCODERS,
    DEFAULT_ENCODER,
    TOKENIZER_FILES,
    Encoder,
    EncoderSpec,
    encoder_fingerprint,
    encoder_path,
    load_encoder,
    read_family,
)
from transferscout.encoders.tiny import build_tiny_encoder

__all__ = [
    "BASELINES",
    "BUILTIN_ENCODERS",
    "DEFAULT_ENCODER",
    "FAMILIES",
    "TOKENIZER_FILES",
    "Baseline",
    "Encoder",
    "EncoderFamily",
    "EncoderSpec",
    "build_tiny_encoder",
    "encoder_family",
    "encoder_fingerprint",
    "encoder_path",
    "family_of",
    "load_encoder",
    "read_family",
]
