"""The one progress-bar layout used by every long loop (trials, documents, models)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar"]


def progress_bar(*, enabled: bool, note: bool = False) -> Progress:
    """A bar with description, bar, done/total and elapsed time; hidden unless ``enabled``.

    With ``note``, each task's ``note`` field (e.g. ``"failed 2"``) is shown too.
    """
    # Descriptions and notes name tasks and files: shown as they are, never read as markup.
    columns = [
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if note:
        columns.append(TextColumn("{task.fields[note]}", markup=False))
    return Progress(*columns, TimeElapsedColumn(), disable=not enabled)
