"""Deterministic, seeded, multi-label stratified splitting of documents.

All tasks of a table share one document-level split, so a document is in the same split for
every task.  That matters for transfer: a source model trained on A's training split never
sees a document of B's test split.  Stratification follows the iterative procedure of
Sechidis, Tsoumakas and Vlahavas (2011): labels are served rarest first, and each of a
label's documents goes to the split that most lacks positives of that label.  One change:
each split's share of a label is an integer quota (largest remainder) of at least one
positive whenever the label has as many positives as there are splits, so that a rare label
still has a positive in every split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["stratified_split"]


def stratified_split(
    labels: npt.NDArray[np.integer],
    fractions: Sequence[float],
    *,
    seed: int,
) -> npt.NDArray[np.intp]:
    """Assign each document to a split so that every label's positives are spread evenly.

    Shape:
        labels: ``(n_documents, n_labels)`` of 0/1.  Returns ``(n_documents,)`` split indices
        into ``fractions``.

    Args:
        labels: One row per document, one 0/1 column per label.
        fractions: The wanted share of documents in each split; positive, summing to 1.
        seed: Seeds the order in which documents are considered (ties are broken by it).

    Returns:
        For each document the index of its split.  The same inputs give the same result.
    """
    labels = np.asarray(labels, dtype=bool)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-dimensional; got shape {labels.shape}")
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or len(shares) == 0 or np.any(shares <= 0):
        raise ValueError(f"fractions must be positive; got {list(fractions)}")
    if not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"fractions must sum to 1; got {list(fractions)} (sum {shares.sum()})")
    n_docs, n_labels = labels.shape
    order = np.random.default_rng(seed).permutation(n_docs)
    labels = labels[order]

    wanted_docs = shares * n_docs
    wanted_pos = _quotas(labels.sum(axis=0), shares).astype(np.float64)  # (n_splits, n_labels)
    assignment = np.full(n_docs, -1, dtype=np.intp)
    unassigned_pos = labels.sum(axis=0).astype(np.int64)

    while True:
        remaining = np.where(unassigned_pos > 0, unassigned_pos, np.iinfo(np.int64).max)
        label = int(np.argmin(remaining))
        if unassigned_pos[label] == 0:
            break
        for doc in np.flatnonzero(labels[:, label] & (assignment < 0)):
            split = _best_split(wanted_pos[:, label], wanted_docs)
            assignment[doc] = split
            wanted_docs[split] -= 1
            wanted_pos[split] -= labels[doc]
            unassigned_pos -= labels[doc]
    for doc in np.flatnonzero(assignment < 0):
        split = int(np.argmax(wanted_docs))
        assignment[doc] = split
        wanted_docs[split] -= 1

    result = np.empty(n_docs, dtype=np.intp)
    result[order] = assignment
    return result


def _quotas(
    totals: npt.NDArray[np.integer], shares: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Integer positives per split and label: largest remainder, at least 1 when possible.

    Shape:
        totals: ``(n_labels,)``; shares: ``(n_splits,)``; returns ``(n_splits, n_labels)``.
    """
    exact = np.outer(shares, totals)
    quotas = np.floor(exact).astype(np.int64)
    remainder = exact - quotas
    for label, total in enumerate(totals):
        short = int(total - quotas[:, label].sum())
        # Stable sort: ties go to the earlier split.
        for split in np.argsort(-remainder[:, label], kind="stable")[:short]:
            quotas[split, label] += 1
        if total >= len(shares):
            while np.any(quotas[:, label] == 0):
                quotas[int(np.argmax(quotas[:, label])), label] -= 1
                quotas[int(np.argmin(quotas[:, label])), label] += 1
    return quotas


def _best_split(
    wanted_for_label: npt.NDArray[np.float64], wanted_docs: npt.NDArray[np.float64]
) -> int:
    """The split that most lacks this label, then most lacks documents, then the first."""
    best = np.flatnonzero(wanted_for_label == wanted_for_label.max())
    if len(best) > 1:
        best = best[np.flatnonzero(wanted_docs[best] == wanted_docs[best].max())]
    return int(best[0])
