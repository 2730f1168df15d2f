"""How the report and the command line name the numbers of a run whose targets differ in kind.

A number about one target is in that target's own primary metric (positive F1, macro-F1,
Spearman ρ).  A number pooled over targets — the full grid's mean best, the curve of best
found vs hours, the loss at which time saved is read — is in one metric when every target has
the same kind, and otherwise a *gain* over each target's single-task model (the evaluation's
``aggregate``; levels are then given per kind).  These helpers read the evaluation's summary
(``summary.json``); a summary written before kinds existed is a binary run's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transferscout.kinds import KINDS

__all__ = ["aggregate_label", "headline", "is_gain", "loss_phrase", "lost_header"]


def _kind_words(name: str) -> str:
    return KINDS[name].display_name if name in KINDS else name


def is_gain(summary: Mapping[str, Any]) -> bool:
    """Whether numbers pooled over targets are gains over the single-task models."""
    return summary.get("aggregate") == "gain"


def aggregate_label(summary: Mapping[str, Any]) -> str:
    """The metric of pooled numbers: ``"positive F1"`` …, or ``"score"`` when kinds mix."""
    return str(summary.get("aggregate_label", "positive F1"))


def loss_phrase(summary: Mapping[str, Any]) -> str:
    """What a time-saved loss is a loss in (``"mean positive F1"``)."""
    if is_gain(summary):
        return (
            "mean score (each target's own metric; the same loss in mean gain over the "
            "single-task models)"
        )
    return f"mean {aggregate_label(summary)}"


def lost_header(summary: Mapping[str, Any]) -> str:
    """The column header of the loss in time-saved tables (``"positive F1 lost"``)."""
    return f"{aggregate_label(summary)} lost"


def headline(summary: Mapping[str, Any]) -> str:
    """The report's first line: targets, candidates and the full grid's mean best, per kind."""
    kinds: dict[str, int] = dict(summary.get("target_kinds") or {})
    counts = ""
    if len(kinds) > 1:
        counts = " (" + ", ".join(f"{n} {_kind_words(k)}" for k, n in kinds.items()) + ")"
    start = f"{summary['targets']} targets{counts}, {summary['candidates']} transfer candidates"
    best: dict[str, dict[str, Any]] = dict(summary.get("full_grid_best") or {})
    if not best:  # a summary from before task kinds: every target binary
        return f"{start}; full-grid mean best positive F1 {summary['full_grid_best_f1']:.4f}."
    if len(best) == 1:
        (level,) = best.values()
        return f"{start}; full-grid mean best {level['metric']} {level['mean_best']:.4f}."
    levels = ", ".join(
        f"{level['metric']} {level['mean_best']:.4f} ({level['targets']} "
        f"{_kind_words(kind)} target{'s' if level['targets'] != 1 else ''})"
        for kind, level in best.items()
    )
    return (
        f"{start}; full-grid mean best {levels}; mean best gain over the single-task model "
        f"{summary['full_grid_best_gain']:+.4f} (each target's own metric)."
    )
