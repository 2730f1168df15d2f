"""What every task read from its own files shares: one file split here, or three split files.

Sequence-labelling tasks (``[[data.tagged]]``) and extractive-QA tasks (``[[data.questions]]``)
are not columns of the pool's table: each comes from its own file (split by the task's own
rule) or from three files that are its train, validation and test splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from transferscout.errors import ConfigError

__all__ = ["FileTaskSpec"]


@dataclass(frozen=True)
class FileTaskSpec:
    """A task read from its own files.

    Attributes:
        name: The task's name.
        path: One file (or ``datasets`` folder), split here; or leave it out and give
            ``train``, ``validation`` and ``test``.
        train: The training file (with ``validation`` and ``test``).
        validation: The validation file.
        test: The test file.
        format: The files' format (``auto``: from the suffix).
    """

    #: What such a task is called in messages (``"tagged"``, ``"question"``).
    what: ClassVar[str] = "file"

    name: str
    path: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    format: str = "auto"

    def __post_init__(self) -> None:
        splits = (self.train, self.validation, self.test)
        if (self.path is None) == all(f is None for f in splits) or (
            self.path is None and any(f is None for f in splits)
        ):
            raise ConfigError(
                f"{self.what} task {self.name!r}: give either path (one file, split here) or "
                "all of train, validation and test"
            )

    def files(self) -> list[str]:
        """``[path]``, or ``[train, validation, test]``."""
        files = [self.path] if self.path is not None else [self.train, self.validation, self.test]
        return [f for f in files if f is not None]
