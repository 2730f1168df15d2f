"""ANSAT: the average number of shared strongly attributed terms of two models (SPEC §5.1).

For single-task models ``M_A`` and ``M_B``, documents ``D`` and a threshold ``TAT``::

    ANSAT(M_A, M_B, D, TAT) = (1/|D|) Σ_{d∈D} #{w ∈ d : s_A(w) ≥ TAT and s_B(w) ≥ TAT}

with ``s_X(w)`` the word's conductance score under ``M_X``, averaged over layers.  ``D`` is
the positive documents of A (``D_A``), of B (``D_B``) or of both (``D_AB``); with 14
thresholds 0.05 … 0.70 that gives 42 features per pair.  From Pugantsov and McCreadie,
*Identifying Suitable Tasks for Inductive Transfer Through the Analysis of Feature
Attributions* (ECIR 2021).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DOCUMENT_SETS", "THRESHOLDS", "ansat", "ansat_features", "ansat_feature_names"]

#: The thresholds TAT = 0.05, 0.10, …, 0.70.
THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 15))
#: The document sets, in feature order.
DOCUMENT_SETS: tuple[str, ...] = ("a", "b", "ab")

Scores = Mapping[str, npt.NDArray[np.floating]]


def ansat(
    scores_a: Scores,
    scores_b: Scores,
    documents: Sequence[str],
    thresholds: Sequence[float] = THRESHOLDS,
) -> npt.NDArray[np.float64]:
    """ANSAT at each threshold, shape ``(len(thresholds),)``; 0 for an empty document set.

    Args:
        scores_a: Document id -> word scores ``(n_words,)`` under model A.
        scores_b: The same under model B (the same words: same tokenizer).
        documents: The document set ``D``.
        thresholds: The TAT values; a word counts when both scores are ``>=`` TAT.
    """
    tat = np.asarray(thresholds, dtype=np.float64)
    total = np.zeros(len(tat), dtype=np.float64)
    if not documents:
        return total
    for doc in documents:
        a = np.asarray(scores_a[doc], dtype=np.float64)
        b = np.asarray(scores_b[doc], dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(
                f"document {doc!r} has {a.shape[0]} words under model A but {b.shape[0]} under "
                "model B; both models must share a tokenizer"
            )
        shared = (a[:, None] >= tat[None, :]) & (b[:, None] >= tat[None, :])
        total += shared.sum(axis=0)
    return total / len(documents)


def ansat_feature_names(thresholds: Sequence[float] = THRESHOLDS) -> list[str]:
    """The feature names in order: ``ansat_a_0.05`` … ``ansat_ab_0.70``, then the set sizes.

    The sizes are ``n_docs_a``, ``n_docs_b``, ``n_docs_ab``, and the flag ``ab_empty``.
    """
    names = [f"ansat_{s}_{t:.2f}" for s in DOCUMENT_SETS for t in thresholds]
    return [*names, "n_docs_a", "n_docs_b", "n_docs_ab", "ab_empty"]


def ansat_features(
    scores_a: Scores,
    scores_b: Scores,
    documents: Mapping[str, Sequence[str]],
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, float]:
    """All ANSAT features of a pair: 3 document sets × thresholds, the set sizes, the flag.

    Args:
        scores_a: Word scores under the source model ``M_A``.
        scores_b: Word scores under the target model ``M_B``.
        documents: ``{"a": D_A, "b": D_B, "ab": D_AB}``.
        thresholds: The TAT values.
    """
    values: list[float] = []
    for name in DOCUMENT_SETS:
        values.extend(ansat(scores_a, scores_b, documents[name], thresholds).tolist())
    sizes = [float(len(documents[name])) for name in DOCUMENT_SETS]
    flag = 1.0 if not documents["ab"] else 0.0
    return dict(zip(ansat_feature_names(thresholds), [*values, *sizes, flag], strict=True))
