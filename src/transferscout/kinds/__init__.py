"""Task kinds: one object per kind owns its head, loss, labels, split, metrics and signals.

``KINDS`` maps a kind's name to its (stateless) object; :func:`get_kind` looks one up with a
clear error.  See :mod:`transferscout.kinds.base` for the questions every kind answers.
"""

from __future__ import annotations

from collections.abc import Iterable

from transferscout.errors import ConfigError
from transferscout.kinds.base import (
    ESTIMATORS,
    IGNORE,
    AttributionTarget,
    SpanTarget,
    TaskKind,
    applicable_estimators,
)
from transferscout.kinds.binary import BinaryKind
from transferscout.kinds.multiclass import MulticlassKind
from transferscout.kinds.qa import QuestionAnsweringKind
from transferscout.kinds.regression import RegressionKind
from transferscout.kinds.tagging import TAGGING_KINDS

__all__ = [
    "BINARY",
    "AttributionTarget",
    "SpanTarget",
    "ESTIMATORS",
    "IGNORE",
    "KINDS",
    "TaskKind",
    "applicable_estimators",
    "get_kind",
    "score_label",
]

BINARY = BinaryKind()

#: Every task kind, by name.
KINDS: dict[str, TaskKind] = {
    kind.name: kind
    for kind in (
        BINARY,
        MulticlassKind(),
        RegressionKind(),
        *TAGGING_KINDS,
        QuestionAnsweringKind(),
    )
}


def get_kind(name: str) -> TaskKind:
    """The kind called ``name``.

    Raises:
        ConfigError: No such kind (the message lists the kinds).
    """
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown task kind {name!r}; expected one of {', '.join(KINDS)}"
        ) from None


def score_label(kinds: Iterable[str]) -> str:
    """What to call a number holding the primary metric of targets of these kinds.

    One kind: its metric (``"positive F1"``, ``"macro-F1"``, ``"Spearman ρ"``); several:
    ``"score"`` (each target's own metric — texts that pool them say so).
    """
    names = set(kinds)
    if len(names) == 1:
        return get_kind(names.pop()).metric_label
    return "score"
