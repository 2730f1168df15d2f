"""Checks before any training: what would otherwise fail trial by trial, caught in one line.

``run``, ``grid run`` and ``rank`` call :func:`check_before_training` first: the encoder loads
(its family is supported), its tokenizer encodes a sample, the device exists, and every
``max_length`` fits the encoder's position embeddings.  Each failure is one error naming what
to change; nothing has been written when it is raised.
"""

from __future__ import annotations

import logging

from transferscout.config import RunConfig
from transferscout.encoders import load_encoder
from transferscout.errors import ConfigError
from transferscout.training.finetune import resolve_device

__all__ = ["check_before_training"]

logger = logging.getLogger(__name__)


def check_before_training(config: RunConfig) -> None:
    """Check the encoder, its tokenizer, the device and the lengths of ``config``.

    Raises:
        EncoderError: The encoder cannot be loaded, its family is not supported, or it has no
            usable tokenizer.
        TransferScoutError: The device does not exist on this machine.
        ConfigError: A ``max_length`` is longer than the encoder's position embeddings.
    """
    spec = config.encoder.spec()
    encoder = load_encoder(spec)  # also loads and checks the tokenizer on a sample
    device = resolve_device(config.executor.device)
    limit = encoder.family.max_positions(encoder.model.config)
    lengths = {
        "grid.target.max_length": max(config.grid.target.max_length),
        "grid.source.max_length": max(config.grid.source.max_length),
        "signals.ansat.max_length": config.ansat_settings().attribution.max_length,
        "signals.pairs.max_length": config.pair_settings().max_length,
    }
    for key, value in lengths.items():
        if limit is not None and value > limit:
            raise ConfigError(
                f"{key} = {value}, but encoder {spec.source!r} has position embeddings for "
                f"{limit} tokens; set it to at most {limit}"
            )
    logger.debug(
        "checked encoder %s (%s, %d layers) on %s",
        spec.source,
        encoder.family.name,
        encoder.num_layers,
        device,
    )
