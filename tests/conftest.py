from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from transferscout.encoders import build_tiny_encoder
from transferscout.grid.store import TrialRow
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


def done_row(**fields: Any) -> TrialRow:
    """A finished single-task trial's stored row: a 1-second run at 100 examples per second;
    ``fields`` override any column."""
    values: dict[str, Any] = {
        "id": "t" * 32,
        "kind": "single",
        "target": "task",
        "source": None,
        "source_trial": None,
        "seed": 0,
        "config": {},
        "status": "done",
        "attempts": 1,
        "metrics": {},
        "source_seconds": None,
        "target_seconds": 1.0,
        "examples_per_second": 100.0,
        "device": "cpu",
        "worker": "w",
        "error": None,
        "traceback": None,
        "created_at": 0.0,
        "started_at": 0.0,
        "finished_at": 1.0,
    }
    return TrialRow(**{**values, **fields})


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


def tent_rows(n: int, seed: int = 0, label: str = "camp") -> list[dict[str, str]]:
    """A balanced keyword target: ``label`` is 1 for every other text, the ones holding "tent".

    Unlike ``shelter`` of :func:`keyword_rows` (40% positives among other keywords), every
    tiny random encoder of the family matrix learns it in a few epochs, so a single-task model
    of it predicts both classes.
    """
    import random

    rng = random.Random(seed)
    filler = ["the", "people", "village", "need", "please", "help", "area", "city", "road"]
    rows = []
    for i in range(n):
        on = i % 2 == 0
        words = rng.sample(filler, 3) + (["tent"] if on else [])
        rng.shuffle(words)
        rows.append({"id": f"t{i}", "text": " ".join(words) + f" {i}", label: str(int(on))})
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


TOPICS = {"food": "food", "water": "water", "shelter": "tent"}


def kind_rows(n: int = 60, seed: int = 0) -> list[dict[str, str]]:
    """Texts with a binary, a multi-class and a regression task, each checkable by hand.

    ``topic`` (multi-class): which one of three keywords the text holds; ``words``
    (regression): the text's word count; ``urgent`` (binary): whether it holds ``please``.
    """
    import random

    rng = random.Random(seed)
    filler = ["the", "people", "village", "need", "help", "area", "city", "road", "we"]
    rows = []
    for i in range(n):
        topic = list(TOPICS)[i % 3]
        words = rng.sample(filler, rng.randint(1, 6)) + [TOPICS[topic]]
        urgent = rng.random() < 0.5
        if urgent:
            words.append("please")
        rng.shuffle(words)
        text = " ".join(words)
        rows.append(
            {
                "id": f"k{i}",
                "text": text,
                "topic": topic,
                "words": str(len(text.split())),
                "urgent": str(int(urgent)),
            }
        )
    return rows


def pair_rows(n: int = 60, seed: int = 0) -> list[dict[str, str]]:
    """Text pairs; ``share`` (binary) is 1 when both texts hold the same keyword."""
    import random

    rng = random.Random(seed)
    filler = ["the", "people", "village", "need", "help", "area", "city", "road"]
    keys = list(TOPICS.values())
    rows = []
    for i in range(n):
        first = rng.choice(keys)
        share = i % 2 == 0
        second = first if share else rng.choice([k for k in keys if k != first])
        rows.append(
            {
                "id": f"p{i}",
                "text": " ".join([*rng.sample(filler, 2), first]),
                "second": " ".join([second, *rng.sample(filler, 2)]),
                "share": str(int(share)),
            }
        )
    return rows


def asking_pair_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Text pairs; ``asks`` (binary) is 1 when either text holds "please" (every other pair).

    The label needs both texts (neither alone decides it), yet a tiny model learns it, unlike
    ``share`` of :func:`pair_rows`, which needs the two texts' keywords compared.
    """
    import random

    rng = random.Random(seed)
    filler = ["the", "people", "village", "need", "help", "area", "city", "road"]
    keys = list(TOPICS.values())
    rows = []
    for i in range(n):
        first = [*rng.sample(filler, 2), rng.choice(keys)]
        second = [rng.choice(keys), *rng.sample(filler, 2)]
        asks = i % 2 == 0
        if asks:
            (first if rng.random() < 0.5 else second).append("please")
        rng.shuffle(first)
        rng.shuffle(second)
        rows.append(
            {
                "id": f"q{i}",
                "text": " ".join(first),
                "second": " ".join(second),
                "asks": str(int(asks)),
            }
        )
    return rows


KIND_SPEC = TableSpec(
    label_columns=("urgent", "topic", "words"),
    id_column="id",
    kinds={"topic": "multiclass", "words": "regression"},
)
PAIR_SPEC = TableSpec(text_pair_column="second", label_columns=("share",), id_column="id")


@pytest.fixture(scope="session")
def kind_tasks(tmp_path_factory: pytest.TempPathFactory) -> TaskSet:
    """A binary, a multi-class and a regression task on the same 60 texts (60/20/20)."""
    path = write_csv(tmp_path_factory.mktemp("kinds") / "kinds.csv", kind_rows())
    return load_tasks(path, KIND_SPEC, TaskOptions(fractions=(0.6, 0.2, 0.2)))


@pytest.fixture(scope="session")
def pair_tasks(tmp_path_factory: pytest.TempPathFactory) -> TaskSet:
    """The text-pair task ``share`` (60 pairs, 60/20/20)."""
    path = write_csv(tmp_path_factory.mktemp("pairs") / "pairs.csv", pair_rows())
    return load_tasks(path, PAIR_SPEC, TaskOptions(fractions=(0.6, 0.2, 0.2)))


#: The gazetteer of the tagging task: places (one or two words) and people.
GAZETTEER = {
    "LOC": [["village"], ["city"], ["hospital"], ["city", "area"]],
    "PER": [["doctor"], ["family"]],
}


def gazetteer_conll(path: Path, n: int = 60, seed: int = 0) -> Path:
    """A CoNLL file (word, a dummy column, BIO tag) whose entities are the gazetteer's names.

    Each sentence is four filler words with up to two names drawn from :data:`GAZETTEER`
    inserted, tagged ``B-LOC``/``I-LOC`` or ``B-PER``; every other word is ``O``.  The tag
    is column 2.  A tiny model learns it from the words alone.
    """
    import random

    rng = random.Random(seed)
    filler = "we need help please food water send to in at the people".split()
    lines: list[str] = []
    for _ in range(n):
        words = [(w, "O") for w in rng.sample(filler, 4)]
        for _ in range(rng.randint(0, 2)):
            entity = rng.choice(sorted(GAZETTEER))
            name = rng.choice(GAZETTEER[entity])
            # never inside a two-word name (that would break its I- tag)
            at = rng.choice(
                [i for i in range(len(words) + 1) if i == len(words) or words[i][1][:2] != "I-"]
            )
            words[at:at] = [(w, ("B-" if j == 0 else "I-") + entity) for j, w in enumerate(name)]
        lines += [f"{word} X {tag}" for word, tag in words] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


#: The templated QA task: "send <aid> to the <place>." among filler; the answer is the place.
QA_PLACES = ("village", "city", "hospital", "bridge", "road", "area")
QA_AID = ("food", "water", "tents", "shelter", "help")


def templated_squad(path: Path, n: int = 40, seed: int = 0, prefix: str = "c") -> Path:
    """A SQuAD v1.1 JSON file of ``n`` contexts with two questions each, answer a named span.

    Each context is ``send <aid> to the <place>.`` with 0-6 filler words before and after;
    its questions ``send <aid> to`` and ``<aid> for`` both have the place as their answer
    (by the words around it; a tiny model learns it).  Ids are ``<prefix><i>a``/``…b``: files
    of other seeds hold other questions, so give them another prefix (documents are matched
    by id across tasks).
    """
    import json
    import random

    rng = random.Random(seed)
    filler = ("rain", "storm", "people", "need", "please", "report", "news", "cold")
    paragraphs = []
    for i in range(n):
        aid, place = rng.choice(QA_AID), rng.choice(QA_PLACES)
        before = " ".join(rng.choices(filler, k=rng.randint(0, 6)))
        after = " ".join(rng.choices(filler, k=rng.randint(0, 6)))
        context = f"{before} send {aid} to the {place}. {after}".strip()
        answer = {"text": place, "answer_start": context.index(f"the {place}.") + 4}
        qas = [
            {"id": f"{prefix}{i}a", "question": f"send {aid} to", "answers": [answer]},
            {"id": f"{prefix}{i}b", "question": f"{aid} for", "answers": [answer]},
        ]
        paragraphs.append({"context": context, "qas": qas})
    document = {"version": "1.1", "data": [{"title": "aid", "paragraphs": paragraphs}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
