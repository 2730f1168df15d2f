from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from transferscout.encoders import build_tiny_encoder
from transferscout.tasks import TableSpec, TaskOptions, TaskSet, load_tasks

# Twelve hand-made messages: "food" and "water" labels, each with positives and negatives
# in every split of the split column.
ROWS: list[dict[str, str]] = [
    {"id": "m1", "text": "we need food now", "food": "1", "water": "0", "split": "train"},
    {"id": "m2", "text": "no clean water here", "food": "0", "water": "1", "split": "train"},
    {"id": "m3", "text": "food and water please", "food": "1", "water": "1", "split": "train"},
    {"id": "m4", "text": "the road is closed", "food": "0", "water": "0", "split": "train"},
    {
        "id": "m5",
        "text": "hungry children in the village",
        "food": "1",
        "water": "0",
        "split": "val",
    },
    {"id": "m6", "text": "drinking water needed", "food": "0", "water": "1", "split": "val"},
    {"id": "m7", "text": "storm coming tonight", "food": "0", "water": "0", "split": "val"},
    {"id": "m8", "text": "send food to the city", "food": "1", "water": "0", "split": "test"},
    {"id": "m9", "text": "water water everywhere", "food": "0", "water": "1", "split": "test"},
    {"id": "m10", "text": "power is out", "food": "0", "water": "0", "split": "test"},
    {
        "id": "m11",
        "text": "rice and beans for families",
        "food": "1",
        "water": "0",
        "split": "train",
    },
    {"id": "m12", "text": "wells are dry", "food": "0", "water": "1", "split": "train"},
]


def write_csv(path: Path, rows: Sequence[dict[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "small.csv", ROWS)


@pytest.fixture
def csv_writer(tmp_path: Path) -> Callable[[Sequence[dict[str, str]]], Path]:
    def write(rows: Sequence[dict[str, str]], name: str = "data.csv") -> Path:
        return write_csv(tmp_path / name, rows)

    return write


def keyword_rows(n: int = 60, seed: int = 0) -> list[dict[str, str]]:
    """Short texts whose labels follow keywords, so even a tiny model can learn them."""
    import random

    rng = random.Random(seed)
    filler = ["the", "people", "village", "need", "please", "help", "area", "city", "road"]
    keys = {"food": "food", "water": "water", "shelter": "tent"}
    rows = []
    for i in range(n):
        words = rng.sample(filler, 3)
        labels = {task: int(rng.random() < 0.4) for task in keys}
        words += [keys[task] for task, on in labels.items() if on]
        rng.shuffle(words)
        row = {"id": f"d{i}", "text": " ".join(words) + f" {i}"}
        row.update({task: str(on) for task, on in labels.items()})
        rows.append(row)
    return rows


@pytest.fixture(scope="session")
def keyword_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("keywords") / "keywords.csv", keyword_rows())


@pytest.fixture(scope="session")
def keyword_tasks(keyword_csv: Path) -> TaskSet:
    """The three keyword tasks (food, water, shelter), split 60/20/20."""
    spec = TableSpec(label_columns=("food", "water", "shelter"), id_column="id")
    return load_tasks(keyword_csv, spec, TaskOptions(fractions=(0.6, 0.2, 0.2)))


@pytest.fixture(scope="session")
def tasks(keyword_tasks: TaskSet) -> TaskSet:
    return keyword_tasks


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"), num_layers=3, seed=0)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    """A complete small run: 3 tasks, every transfer pair in 2 target settings, all signals."""
    from transferscout.encoders import EncoderSpec
    from transferscout.grid.runner import ExecutionOptions, run_grid
    from transferscout.grid.spec import GridSpec, settings_grid
    from transferscout.signals.ansat_stage import AnsatSettings, compute_ansat
    from transferscout.signals.attributions import AttributionSettings
    from transferscout.signals.pair_stage import PairSignalSettings, compute_pair_signals
    from transferscout.tasks import TableSpec, TaskOptions, load_tasks

    folder = tmp_path_factory.mktemp("small-run")
    data = write_csv(folder / "keywords.csv", keyword_rows(90, seed=3))
    spec = TableSpec(label_columns=("food", "water", "shelter"), id_column="id")
    tasks = load_tasks(data, spec, TaskOptions(fractions=(0.6, 0.2, 0.2)))
    stage = {"epochs": [6], "batch_size": [8], "max_length": [32]}
    grid = GridSpec(
        target_settings=settings_grid(learning_rate=[1e-3, 3e-3], **stage),
        source_settings=settings_grid(learning_rate=[3e-3], **stage),
    )
    run_dir = folder / "run"
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    run_grid(run_dir, tasks, grid, EncoderSpec(str(tiny_encoder_dir)), options)
    attribution = AttributionSettings(n_steps=6, max_length=32)
    compute_ansat(run_dir, tasks, AnsatSettings(attribution=attribution, max_documents=8))
    compute_pair_signals(run_dir, tasks, PairSignalSettings(max_examples=30, max_length=32))
    return run_dir
