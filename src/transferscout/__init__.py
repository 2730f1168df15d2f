"""transferscout: predict which source tasks help a target task, before training."""

from transferscout.errors import ConfigError, DataError, EncoderError, TransferScoutError
from transferscout.tasks import (
    CORPORA,
    SPLITS,
    DataNote,
    Split,
    TableSpec,
    Task,
    TaskOptions,
    TaskSet,
    corpus_path,
    load_corpus,
    load_tasks,
    read_table,
    stratified_split,
)

__version__ = "0.1.0"

__all__ = [
    "CORPORA",
    "SPLITS",
    "ConfigError",
    "DataError",
    "DataNote",
    "EncoderError",
    "Split",
    "TableSpec",
    "Task",
    "TaskOptions",
    "TaskSet",
    "TransferScoutError",
    "corpus_path",
    "load_corpus",
    "load_tasks",
    "read_table",
    "stratified_split",
]
