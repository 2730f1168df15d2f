"""The document sets signals are computed on: capped, seeded samples of positive documents.

A task's *positive* documents are the ones its kind marks (binary: label 1; multi-class: not of
the task's majority training class; regression: above the task's training median).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from transferscout.tasks.task import TaskSet

__all__ = ["DocumentSets", "document_key", "document_sets"]


@dataclass(frozen=True)
class DocumentSets:
    """Positive documents per task (``D_X``) and per pair (``D_XY``), plus their texts.

    Attributes:
        single: Task -> the ids of its (capped) positive documents in the split.
        pair: ``(A, B)`` with A before B in task order -> ids positive for both (capped).
        texts: Document id -> text, for every document of any set.
        pairs: Document id -> second text, for the documents of text-pair tasks.
    """

    single: dict[str, list[str]]
    pair: dict[tuple[str, str], list[str]]
    texts: dict[str, str]
    pairs: dict[str, str] = field(default_factory=dict)

    def for_pair(self, source: str, target: str) -> dict[str, list[str]]:
        """``{"a": D_source, "b": D_target, "ab": D_both}``."""
        both = self.pair.get((source, target), self.pair.get((target, source), []))
        return {"a": self.single[source], "b": self.single[target], "ab": both}

    def limited(
        self, source: str, target: str, most: int | None, seed: int = 0
    ) -> dict[str, list[str]]:
        """:meth:`for_pair` with each set cut to a seeded sample of at most ``most`` documents.

        Each set is cut by its own seeded permutation (a task's ``D_X`` alike in every pair it
        is part of), and a smaller ``most`` keeps a subset of a larger one's documents: a
        model attributed on fewer documents than its pairs' other model still holds every
        document of their pair's sets at the smaller number.  ``None``: the sets as they are.
        """
        sets = self.for_pair(source, target)
        if most is None:
            return sets
        first, second = sorted((source, target))
        both = source if source == target else f"{first}\x00{second}"  # D_XX is D_X
        keys = {"a": source, "b": target, "ab": both}
        return {
            name: _sample(ids, most, seed, f"limited\x00{keys[name]}") for name, ids in sets.items()
        }

    def needed(self, pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
        """Task -> the documents its model must be attributed on for ANSAT of ``pairs``.

        ANSAT of ``(A, B)`` reads both models' scores on ``D_A``, ``D_B`` and ``D_AB``, so a
        model needs only the sets of the pairs it is part of (not, say, ``D_XY`` of others).
        """
        needed: dict[str, set[str]] = {}
        for source, target in pairs:
            documents = {doc for ids in self.for_pair(source, target).values() for doc in ids}
            needed.setdefault(source, set()).update(documents)
            needed.setdefault(target, set()).update(documents)
        return {task: sorted(docs) for task, docs in needed.items()}

    def key(self, doc: str, text: str, second: str | None = None) -> str:
        """The id these sets know a task's document ``doc`` by (see :func:`document_key`)."""
        return document_key(doc, text, second, self.texts, self.pairs)

    @property
    def all_ids(self) -> list[str]:
        """Every document id of any set, in a stable order."""
        return sorted(self.texts)


def _sample(ids: Sequence[str], cap: int | None, seed: int, key: str) -> list[str]:
    """A seeded uniform sample of at most ``cap`` ids, in their order.

    The sample is a prefix of one seeded permutation, so a larger cap keeps every document
    of a smaller one (a raised budget adds attributions, never replaces them).
    """
    if cap is None or len(ids) <= cap:
        return list(ids)
    salt = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    rng = np.random.default_rng([seed, salt])
    keep = np.sort(rng.permutation(len(ids))[:cap])
    return [ids[i] for i in keep]


def _sample_preferring(
    ids: Sequence[str], chosen: set[str], cap: int | None, seed: int, key: str
) -> list[str]:
    """A seeded uniform sample of at most ``cap`` ids that reuses ``chosen`` ones first.

    The ids already chosen are sampled first, the others fill up.  When ``chosen`` is itself
    a uniform sample of a superset of ``ids`` (``D_A`` or ``D_B`` for ``D_AB``), the result is
    still a uniform sample of ``ids`` (its distribution is unchanged by any permutation of
    ``ids``), but it needs fewer documents that no other set holds.
    """
    if cap is None or len(ids) <= cap:
        return list(ids)
    known = [doc for doc in ids if doc in chosen]
    first = _sample(known, cap, seed, key)
    rest = _sample([doc for doc in ids if doc not in chosen], cap - len(first), seed, key)
    keep = set(first) | set(rest)
    return [doc for doc in ids if doc in keep]


def document_sets(
    tasks: TaskSet,
    *,
    split: str = "validation",
    max_documents: int | None = 100,
    seed: int = 0,
) -> DocumentSets:
    """Positive documents of every task and every pair of tasks in ``split``.

    ``D_X`` is a seeded sample of at most ``max_documents`` of X's positive documents;
    ``D_XY`` a seeded sample of at most ``max_documents`` of the documents positive for both
    (documents are matched by id, so tasks from one table share them; an id that another
    task's document already holds with another text is a different document, see
    :func:`document_key`), drawn from those of
    ``D_X`` and ``D_Y`` first, so it adds few documents to attribute; ``D_XX`` is ``D_X``.
    """
    positives: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    pairs: dict[str, str] = {}
    for name, task in tasks.items():
        part = task.split(split)
        mask = task.kind.positive_mask(part.labels, task.train.labels)
        ids = []
        for row in np.flatnonzero(mask):
            second = None if part.pairs is None else part.pairs[row]
            doc = document_key(part.ids[row], part.texts[row], second, texts, pairs)
            texts.setdefault(doc, part.texts[row])
            if second is not None:
                pairs.setdefault(doc, second)
            ids.append(doc)
        positives[name] = ids
    single = {name: _sample(ids, max_documents, seed, name) for name, ids in positives.items()}
    pair: dict[tuple[str, str], list[str]] = {}
    names = tasks.names
    for i, a in enumerate(names):
        for b in names[i:]:
            if a == b:
                pair[(a, b)] = single[a]
                continue
            both_set = set(positives[b])
            both = [doc for doc in positives[a] if doc in both_set]
            chosen = set(single[a]) | set(single[b])
            pair[(a, b)] = _sample_preferring(both, chosen, max_documents, seed, f"{a}\x00{b}")
    used = {doc for ids in [*single.values(), *pair.values()] for doc in ids}
    return DocumentSets(
        single,
        pair,
        {doc: texts[doc] for doc in sorted(used)},
        {doc: pairs[doc] for doc in sorted(used) if doc in pairs},
    )


def document_key(
    doc: str, text: str, second: str | None, texts: dict[str, str], pairs: dict[str, str]
) -> str:
    """``doc``, unless a document already known under that id has another text.

    Tasks from one table share their documents' ids, and so their ``D_AB``. A task read from
    another file (a new target of ``rank``, say) may number its rows like the run's data: a
    clashing id with another text (or second text) is then a different document, known as
    ``doc~<hash of its texts>``, and never shared with the other task's sets or labels.
    """
    if doc not in texts or (texts[doc] == text and pairs.get(doc) == second):
        return doc
    digest = hashlib.sha256(json.dumps([text, second]).encode()).hexdigest()[:12]
    return f"{doc}~{digest}"
