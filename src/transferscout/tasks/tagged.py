"""Read tagged sentences (sequence labelling) from CoNLL-style files and token/tag tables.

A CoNLL-style file has one word per line with its columns separated by whitespace, a blank
line between sentences, and optional ``-DOCSTART-`` lines; the word is column 0 and the tag
column is chosen (CoNLL-2003: 1 part of speech, 2 chunk, 3 named entity).  JSONL, Parquet and
``datasets`` folders hold one sentence per record as a list of words and a list of tags
(tag names, or integers that index a ``ClassLabel`` sequence's names).

Every sentence keeps its location (``"lines 3-7"``, ``"row 2"``) for error messages.  Tag
sets in BIO form are checked: an ``I-X`` that follows neither ``B-X`` nor ``I-X`` is reported
(:attr:`TaggedSentences.bio_warnings`) and read as ``B-X``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from transferscout.errors import DataError
from transferscout.kinds.tagging import bio_violations, is_bio, lenient_bio
from transferscout.tasks.readers import Format, RawTable, _decode, read_table

__all__ = ["TaggedSentences", "read_conll", "read_tagged", "tagged_sentences"]


@dataclass(frozen=True)
class TaggedSentences:
    """Sentences as words with one tag each.

    Attributes:
        path: Where they were read from.
        words: One tuple of words per sentence.
        tags: One tuple of tag names per sentence (BIO tags already read leniently).
        locations: Where each sentence is in its file.
        tag_names: Every tag: a ``ClassLabel``'s names in their order, else sorted.
        bio_warnings: One message per sentence whose BIO tags were repaired.
    """

    path: Path
    words: list[tuple[str, ...]]
    tags: list[tuple[str, ...]]
    locations: list[str]
    tag_names: tuple[str, ...]
    bio_warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.words)


def read_tagged(
    path: str | Path,
    *,
    format: str = "auto",
    tag_column: int | str = "tags",
    tokens_column: str = "tokens",
) -> TaggedSentences:
    """Read tagged sentences.

    Args:
        path: A CoNLL-style file (format ``"conll"``, or the suffixes ``.conll``/``.iob``/
            ``.bio``), or a JSONL/Parquet file or ``datasets`` folder.
        format: As :func:`~transferscout.tasks.readers.read_table`, plus ``"conll"``.
        tag_column: The tag column: its index in a CoNLL file, its name elsewhere.
        tokens_column: The column of word lists (tables only).

    Raises:
        DataError: Unreadable data, a bad tag column, words and tags of different lengths.
    """
    path = Path(path)
    if format == "conll" or (format == "auto" and path.suffix.lower() in _CONLL_SUFFIXES):
        if not isinstance(tag_column, int):
            raise DataError(
                f"tag column {tag_column!r} of a CoNLL file is not a column index",
                path=path,
                expected="the tag column's 0-based index (CoNLL-2003 entities: 3)",
            )
        return read_conll(path, tag_column=tag_column)
    if isinstance(tag_column, int):
        raise DataError(
            f"tag column {tag_column} is an index, but the data has named columns",
            path=path,
            expected="the name of the column of tag lists",
        )
    table = read_table(path, format=cast(Format, format))
    return tagged_sentences(table, tokens_column=tokens_column, tags_column=tag_column)


_CONLL_SUFFIXES = (".conll", ".iob", ".bio")


def read_conll(path: str | Path, *, tag_column: int) -> TaggedSentences:
    """Read a CoNLL-style file; the word is column 0, the tag column ``tag_column``."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path, expected="an existing file")
    words: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    locations: list[str] = []
    current: list[tuple[str, str]] = []
    start = 0

    def close(end: int) -> None:
        if current:
            words.append(tuple(w for w, _ in current))
            tags.append(tuple(t for _, t in current))
            locations.append(f"line {start}" if start == end else f"lines {start}-{end}")
            current.clear()

    # Lines end at \n and fields are split at spaces and tabs only: a word may hold any other
    # character (U+00A0, U+2028 …), as the table readers keep them in cells.
    lines = _decode(path).split("\n")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip(" \t\r")
        fields = re.split(r"[ \t]+", stripped) if stripped else []
        if not fields or fields[0] == "-DOCSTART-":
            close(number - 1)
            continue
        if tag_column >= len(fields) or tag_column < 1:
            raise DataError(
                f"no tag column {tag_column}",
                path=path,
                where=f"line {number}",
                expected=f"a tag column in 1..{len(fields) - 1} (column 0 is the word)",
                got=line,
            )
        if not current:
            start = number
        current.append((fields[0], fields[tag_column]))
    close(len(lines))
    if not words:
        raise DataError("the file has no sentences", path=path, expected="one word per line")
    return _finish(path, words, tags, locations, None)


def tagged_sentences(
    table: RawTable, *, tokens_column: str = "tokens", tags_column: str = "tags"
) -> TaggedSentences:
    """Sentences from a table with a column of word lists and a column of tag lists."""
    tokens = table.column(tokens_column, role="tokens")
    cells = table.column(tags_column, role="tags")
    names = table.class_names.get(tags_column)
    words: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    for sentence, tagged, where in zip(tokens, cells, table.locations, strict=True):
        sentence_words = _strings(sentence, table.path, where, tokens_column, "words")
        tags.append(_tags(tagged, names, table.path, where, tags_column))
        if len(tags[-1]) != len(sentence_words):
            raise DataError(
                "words and tags differ in length",
                path=table.path,
                where=where,
                column=tags_column,
                expected=f"{len(sentence_words)} tags, one per word",
                got=len(tags[-1]),
            )
        words.append(sentence_words)
    return _finish(table.path, words, tags, list(table.locations), names)


def _strings(value: Any, path: Path, where: str, column: str, what: str) -> tuple[str, ...]:
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise DataError(
            f"cannot read the {what}",
            path=path,
            where=where,
            column=column,
            expected=f"a non-empty list of non-empty {what}",
            got=value,
        )
    return tuple(value)


def _tags(
    value: Any, names: Sequence[str] | None, path: Path, where: str, column: str
) -> tuple[str, ...]:
    if names and isinstance(value, list | tuple) and value:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            if all(0 <= v < len(names) for v in value):
                return tuple(names[v] for v in value)
            raise DataError(
                "a tag id out of range",
                path=path,
                where=where,
                column=column,
                expected=f"tag ids in 0..{len(names) - 1}",
                got=value,
            )
    return _strings(value, path, where, column, "tags")


def _finish(
    path: Path,
    words: list[tuple[str, ...]],
    tags: list[tuple[str, ...]],
    locations: list[str],
    names: Sequence[str] | None,
) -> TaggedSentences:
    warnings: list[str] = []
    if is_bio(names or [t for sentence in tags for t in sentence]):
        for i, sentence in enumerate(tags):
            bad = bio_violations(sentence)
            if bad:
                shown = ", ".join(f"word {j + 1} {sentence[j]!r}" for j in bad)
                warnings.append(
                    f"{path}, {locations[i]}: {shown} follows neither B- nor I- of its type; "
                    "read as B- (the lenient reading)"
                )
                tags[i] = tuple(lenient_bio(sentence))
    known = tuple(names or ())
    # a repaired I-X may need a B-X that the declared names lack: it goes after them
    order = known + tuple(sorted({t for s in tags for t in s} - set(known)))
    return TaggedSentences(path, words, tags, locations, order, tuple(warnings))
