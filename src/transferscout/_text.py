"""Small wording helpers shared by every layer (no imports of the package)."""

from __future__ import annotations

__all__ = ["counted"]


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``1 task``, ``3 tasks``, ``0 tasks``; ``plural`` for nouns that do not take an ``s``."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
