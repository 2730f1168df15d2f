from __future__ import annotations

import numpy as np
import pytest

from transferscout.signals.words import normalise_tokens, word_scores


def test_normalise_each_layer_by_its_l2_norm() -> None:
    scores = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalise_tokens(scores), [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])


def test_words_merge_pieces_drop_specials_and_average_layers() -> None:
    # [CLS] wat ##er help [SEP]: two words; layer 2 doubles every score of layer 1.
    scores = np.array([[1.0, 1.0, 1.0, -1.0, 0.0], [2.0, 2.0, 2.0, -2.0, 0.0]])
    per_layer, mean = word_scores(scores, [None, 0, 0, 1, None])
    np.testing.assert_allclose(per_layer, [[1.0, -0.5], [1.0, -0.5]])  # norm 2 in both layers
    np.testing.assert_allclose(mean, [1.0, -0.5])


def test_layers_are_averaged_after_their_own_normalisation() -> None:
    scores = np.array([[0.0, 3.0, 4.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    _, mean = word_scores(scores, [None, 0, 1, None])
    np.testing.assert_allclose(mean, [(0.6 + 1.0) / 2, (0.8 + 0.0) / 2])


def test_word_ids_must_match_tokens() -> None:
    with pytest.raises(ValueError, match="one word id per token"):
        word_scores(np.zeros((2, 3)), [None, 0])
