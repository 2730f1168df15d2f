"""Tasks: load labelled text tables into binary tasks with fixed, stratified splits."""

from transferscout.tasks.build import TableSpec, TaskOptions, build_tasks, load_tasks
from transferscout.tasks.corpora import CORPORA, corpus_path, load_corpus
from transferscout.tasks.readers import RawTable, read_table
from transferscout.tasks.splits import stratified_split
from transferscout.tasks.task import SPLITS, DataNote, Split, Task, TaskSet

__all__ = [
    "CORPORA",
    "SPLITS",
    "DataNote",
    "RawTable",
    "Split",
    "TableSpec",
    "Task",
    "TaskOptions",
    "TaskSet",
    "build_tasks",
    "corpus_path",
    "load_corpus",
    "load_tasks",
    "read_table",
    "stratified_split",
]
