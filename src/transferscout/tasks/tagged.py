"""Read tagged sentences (sequence labelling) from CoNLL-style files and token/tag tables.

A CoNLL-style file has one word per line with its columns separated by whitespace, a blank
line between sentences, and optional ``-DOCSTART-`` lines; the word is column 0 and the tag
column is chosen (CoNLL-2003: 1 part of speech, 2 chunk, 3 named entity).  JSONL, Parquet and
``datasets`` folders hold one sentence per record as a list of words and a list of tags
(tag names, or integers that index a ``ClassLabel`` sequence's names).  A CoNLL-U file (the
Universal Dependencies format, ``.conllu`` or ``format = "conllu"``) is read as itself:
``#`` comment lines are skipped, a multiword token's range line (``1-2``) is left out for the
syntactic words it covers, empty nodes (``8.1``) are left out, and the tag is the UPOS or the
XPOS column; a CoNLL-U file given as plain CoNLL is refused.

Every sentence keeps its location (``"lines 3-7"``, ``"row 2"``) for error messages.  Tag
sets in BIO form are checked: an ``I-X`` that follows neither ``B-X`` nor ``I-X`` is reported
(:attr:`TaggedSentences.bio_warnings`) and read as ``B-X``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from transferscout.errors import DataError
from transferscout.kinds.base import Labels
from transferscout.kinds.tagging import (
    TAG_METRICS,
    repair_bio,
    sentence_labels,
    tag_order,
    tagging_kind,
)
from transferscout.tasks.files import FileTaskSpec
from transferscout.tasks.readers import Format, RawTable, _decode, read_table
from transferscout.tasks.splits import stratified_split
from transferscout.tasks.task import SPLITS, DataNote, Split, Task

if TYPE_CHECKING:
    from transferscout.tasks.build import TaskOptions

logger = logging.getLogger(__name__)

__all__ = [
    "TaggedSentences",
    "TaggedSpec",
    "load_tagged_task",
    "read_conll",
    "read_conllu",
    "read_tagged",
    "tagged_sentences",
    "tagged_task",
]


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
    conllu_tags: str = "upos",
) -> TaggedSentences:
    """Read tagged sentences.

    Args:
        path: A CoNLL-style file (format ``"conll"``, or the suffixes ``.conll``/``.iob``/
            ``.bio``), a CoNLL-U file (``"conllu"``, ``.conllu``), or a JSONL/Parquet file
            or ``datasets`` folder.
        format: As :func:`~transferscout.tasks.readers.read_table`, plus ``"conll"`` and
            ``"conllu"``.
        tag_column: The tag column: its index in a CoNLL file, its name elsewhere.
        tokens_column: The column of word lists (tables only).
        conllu_tags: The tag column of a CoNLL-U file: ``"upos"`` or ``"xpos"``.

    Raises:
        DataError: Unreadable data, a bad tag column, words and tags of different lengths.
    """
    path = Path(path)
    if format == "conllu" or (format == "auto" and path.suffix.lower() == ".conllu"):
        return read_conllu(path, tags=conllu_tags)
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
    """Read a CoNLL-style file; the word is column 0, the tag column ``tag_column``.

    Every word line has as many columns as the file's first (``-DOCSTART-`` lines aside).
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path, expected="an existing file")
    words: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    locations: list[str] = []
    current: list[tuple[str, str]] = []
    start = 0
    width: tuple[int, int] | None = None  # the file's columns per word line, and where first

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
        if width is None:
            _refuse_conllu(path, number, line)
            width = (len(fields), number)
        elif len(fields) != width[0]:  # a shifted column would silently be read as the tag
            raise DataError(
                f"the line has {_columns(len(fields))}, but the file's first word line (line "
                f"{width[1]}) has {width[0]}",
                path=path,
                where=f"line {number}",
                expected=f"{width[0]} columns (separated by spaces or tabs) on every word line",
                got=line,
            )
        if tag_column >= len(fields) or tag_column < 1:
            raise DataError(
                f"no tag column {tag_column}: the line has {_columns(len(fields))}",
                path=path,
                where=f"line {number}",
                expected="a tag_index of 1 or more (column 0 is the word)"
                if tag_column < 1
                else f"at least {tag_column + 1} columns separated by spaces or tabs: the word, "
                f"then its tag at index {tag_column} (tag_index)",
                got=line,
            )
        if not current:
            start = number
        current.append((fields[0], fields[tag_column]))
    close(len(lines))
    if not words:
        raise DataError("the file has no sentences", path=path, expected="one word per line")
    return _finish(path, words, tags, locations, None)


#: A CoNLL-U comment that only CoNLL-U files hold (``# sent_id = 1``, ``# text = …``).
_CONLLU_COMMENT = re.compile(r"^#\s*(sent_id|text|newdoc|newpar|global\.columns)\b")
#: CoNLL-U's ten columns.
_CONLLU_COLUMNS = "ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC".split()
_CONLLU_TAGS = {"upos": 3, "xpos": 4}


def _refuse_conllu(path: Path, number: int, line: str) -> None:
    """Refuse a CoNLL-U file read as plain CoNLL (its ids would become the words)."""
    fields = line.rstrip("\r").split("\t")
    if _CONLLU_COMMENT.match(line) or (len(fields) == 10 and fields[0] == "1"):
        raise DataError(
            "this is a CoNLL-U file (a '# sent_id'/'# text' comment or ten tab-separated "
            "columns from token id 1); plain CoNLL would read its token ids as the words",
            path=path,
            where=f"line {number}",
            expected='format = "conllu" (or the .conllu suffix), with conllu_tags = "upos" '
            'or "xpos"',
        )


def read_conllu(path: str | Path, *, tags: str = "upos") -> TaggedSentences:
    """Read a CoNLL-U file: each sentence's syntactic words and their UPOS (or XPOS) tags.

    ``#`` lines are comments; a blank line ends a sentence; a multiword token's range line
    (``3-4``: the surface form of the words 3 and 4, which follow) and empty nodes
    (``5.1``) are left out, as UD's own word-level scores leave them out.  Every other line
    has CoNLL-U's ten tab-separated columns and a tag in the chosen one.

    Raises:
        DataError: A line without ten columns, a token id that is not an id, a missing tag
            (``_``) in the chosen column, or no sentence.
    """
    path = Path(path)
    if tags not in _CONLLU_TAGS:
        raise DataError(
            f"conllu_tags = {tags!r}",
            path=path,
            expected="'upos' (universal parts of speech) or 'xpos' (the treebank's own tags)",
        )
    if not path.exists():
        raise DataError("file not found", path=path, expected="an existing file")
    column = _CONLLU_TAGS[tags]
    words: list[tuple[str, ...]] = []
    tag_lists: list[tuple[str, ...]] = []
    locations: list[str] = []
    current: list[tuple[str, str]] = []
    start = 0

    def close(end: int) -> None:
        if current:
            words.append(tuple(w for w, _ in current))
            tag_lists.append(tuple(t for _, t in current))
            locations.append(f"line {start}" if start == end else f"lines {start}-{end}")
            current.clear()

    lines = _decode(path).split("\n")
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            close(number - 1)
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != len(_CONLLU_COLUMNS):
            raise DataError(
                f"the line has {_columns(len(fields))} separated by tabs",
                path=path,
                where=f"line {number}",
                expected="CoNLL-U's 10 tab-separated columns (" + " ".join(_CONLLU_COLUMNS) + ")",
                got=line,
            )
        token = fields[0]
        if re.fullmatch(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*", token):
            continue  # a multiword token's range, or an empty node: not a syntactic word
        if not re.fullmatch(r"[1-9][0-9]*", token):
            raise DataError(
                "the token id is not a word id, a range (3-4) or an empty node (5.1)",
                path=path,
                where=f"line {number}",
                column="ID",
                expected="a CoNLL-U token id",
                got=token,
            )
        tag = fields[column]
        if tag in ("", "_"):
            raise DataError(
                f"the word {fields[1]!r} has no {tags.upper()} tag",
                path=path,
                where=f"line {number}",
                column=_CONLLU_COLUMNS[column],
                expected="a tag (or conllu_tags = "
                + ("'xpos'" if tags == "upos" else "'upos'")
                + " if the other column is filled)",
                got=tag,
            )
        if not current:
            start = number
        current.append((fields[1], tag))
    close(len(lines))
    if not words:
        raise DataError(
            "the file has no sentences", path=path, expected="CoNLL-U word lines (1, 2, …)"
        )
    return _finish(path, words, tag_lists, locations, None)


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
        or not all(isinstance(v, str) and v.strip() and " " not in v for v in value)
    ):
        raise DataError(
            f"cannot read the {what}",
            path=path,
            where=where,
            column=column,
            expected=f"a non-empty list of non-empty {what} without spaces",
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
    repaired, warnings = repair_bio(tags, [f"{path}, {where}" for where in locations], names)
    order = tag_order(repaired, names)
    return TaggedSentences(path, words, repaired, locations, order, tuple(warnings))


@dataclass(frozen=True)
class TaggedSpec(FileTaskSpec):
    """One sequence-labelling task read from tagged sentences (``[[data.tagged]]``).

    Attributes:
        name: The task's name.
        path: One file (or ``datasets`` folder) split here by seeded stratification of the
            tags each sentence holds; or leave it out and give ``train``, ``validation`` and
            ``test`` files.
        train: The training file (with ``validation`` and ``test``).
        validation: The validation file.
        test: The test file.
        format: As :func:`read_tagged` (``auto``: CoNLL for ``.conll``/``.iob``/``.bio``,
            CoNLL-U for ``.conllu``).
        tag_index: The tag column's index in a CoNLL file (CoNLL-2003 entities: 3).
        conllu_tags: A CoNLL-U file's tag column: ``upos`` or ``xpos``.
        tags_column: The column of tag lists of a table.
        tokens_column: The column of word lists of a table.
        metric: The task's primary metric: ``auto`` (entity F1 for BIO chunk tags, token
            accuracy for other tags such as parts of speech), ``entity_f1``,
            ``token_accuracy`` or ``macro_f1`` (macro-F1 over tags).
    """

    what: ClassVar[str] = "tagged"

    tag_index: int = 1
    tags_column: str = "tags"
    tokens_column: str = "tokens"
    conllu_tags: str = "upos"
    metric: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.metric not in TAG_METRICS:
            tagging_kind((), self.metric)  # raises, naming the metrics

    def read(self, path: str) -> TaggedSentences:
        """Read one of the task's files."""
        conll = self.format == "conll" or (
            self.format == "auto" and Path(path).suffix.lower() in _CONLL_SUFFIXES
        )
        column: int | str = self.tag_index if conll else self.tags_column
        return read_tagged(
            path,
            format=self.format,
            tag_column=column,
            tokens_column=self.tokens_column,
            conllu_tags=self.conllu_tags,
        )


def load_tagged_task(spec: TaggedSpec, options: TaskOptions) -> tuple[Task, list[DataNote]]:
    """Read a tagged task's files and build its task (see :func:`tagged_task`)."""
    return tagged_task(spec.name, [spec.read(f) for f in spec.files()], options, metric=spec.metric)


def tagged_task(
    name: str,
    sentences: TaggedSentences | Sequence[TaggedSentences],
    options: TaskOptions,
    *,
    metric: str = "auto",
) -> tuple[Task, list[DataNote]]:
    """A sequence-labelling task from tagged sentences, checked and capped; and its notes.

    One :class:`TaggedSentences` is split by seeded stratification of the tags its sentences
    hold (``options.fractions``, ``options.seed``); three are the train, validation and test
    splits.  The tag names (the task's classes) are the union of every part's, in first-seen
    order of the parts' ``tag_names``.  Each sentence's id is ``<file>:<lines>``; its text is
    its words joined by single spaces.  Every repaired BIO sequence is logged and counted.

    Raises:
        DataError: The task cannot be learnt (no tagged sentence in a split, a tag of
            validation or test that training lacks) or a word holds a space.
    """
    parts = [sentences] if isinstance(sentences, TaggedSentences) else list(sentences)
    from transferscout.tasks.build import cap_task

    classes = tuple(dict.fromkeys(t for part in parts for t in part.tag_names))
    kind = tagging_kind(classes, metric)  # entity F1 for BIO chunks, else as the tags allow
    index = {tag: i for i, tag in enumerate(classes)}
    notes: list[DataNote] = []
    for part in parts:
        for warning in part.bio_warnings:
            logger.warning(warning)
        if part.bio_warnings:
            notes.append(
                DataNote(
                    "repaired_bio",
                    len(part.bio_warnings),
                    f"task {name!r}: sentences of {part.path} with an I- tag that follows "
                    "neither B- nor I- of its type, read as B- (the lenient reading)",
                )
            )
    _check_words(parts)
    rows = [
        (
            f"{part.path.name}:{where}",
            " ".join(words),
            tuple(index[t] for t in tags),
        )
        for part in parts
        for words, tags, where in zip(part.words, part.tags, part.locations, strict=True)
    ]
    sources = [(part.path, where) for part in parts for where in part.locations]
    labels = sentence_labels([r[2] for r in rows])
    if len(parts) == 1:
        split_of = stratified_split(kind.strata(labels), options.fractions, seed=options.seed)
    elif len(parts) == 3:
        split_of = np.repeat(np.arange(3), [len(p) for p in parts])
    else:
        raise ValueError("expected one part (split here) or three (train, validation, test)")
    splits: dict[str, Split] = {}
    for number, split_name in enumerate(SPLITS):
        chosen = np.flatnonzero(split_of == number)
        splits[split_name] = Split(
            ids=tuple(rows[i][0] for i in chosen),
            texts=tuple(rows[i][1] for i in chosen),
            labels=labels[chosen].copy(),
        )
    task = Task(name=name, kind=kind, classes=classes, **splits)
    _check_tags_seen_in_training(name, classes, split_of, labels, sources)
    kind.check(
        name,
        [(n, split.labels) for n, split in task.splits()],
        options.min_positives,
        parts[0].path,
        classes=classes,
    )
    return cap_task(task, options, notes), notes


def _check_tags_seen_in_training(
    name: str,
    classes: Sequence[str],
    split_of: npt.NDArray[np.integer],
    labels: Labels,
    sources: Sequence[tuple[Path, str]],
) -> None:
    """Refuse a tag of validation or test that no training sentence holds (as multi-class does).

    The model could never predict it; the error names the tag, the split, and the file and
    lines of its first sentence there.
    """
    known = {t for row in np.flatnonzero(split_of == 0) for t in labels[row]}
    for number, split_name in enumerate(SPLITS[1:], start=1):
        for row in np.flatnonzero(split_of == number):
            unseen = [t for t in labels[row] if t not in known]
            if unseen:
                path, where = sources[int(row)]
                raise DataError(
                    f"task {name!r}: the tag {classes[unseen[0]]!r} occurs in the {split_name} "
                    "split but never in training",
                    path=path,
                    where=where,
                    expected="every tag of validation and test to occur in training (add "
                    "data, fix the tag, or change the split)",
                )


def _check_words(parts: Sequence[TaggedSentences]) -> None:
    for part in parts:
        for words, where in zip(part.words, part.locations, strict=True):
            for word in words:
                if " " in word:
                    raise DataError(
                        "a word holds a space",
                        path=part.path,
                        where=where,
                        expected="words without spaces (one word per token)",
                        got=word,
                    )


def _columns(count: int) -> str:
    """``1 column``, ``3 columns``."""
    return f"{count} column" + ("" if count == 1 else "s")
