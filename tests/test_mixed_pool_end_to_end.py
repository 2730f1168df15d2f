"""A mixed pool of all five kinds through the whole tiny pipeline: run, signals, rank.

``urgent`` (binary), ``topic`` (multi-class) and ``words`` (regression) come from a table;
``places`` tags a gazetteer's names in a CoNLL file (``[[data.tagged]]``); ``aid`` is a
templated extractive-QA task (SQuAD JSON in ``[[data.questions]]``: the answer is the place
named in the context; see ``tests/conftest.py``).  Every task is the source of every other:
the encoder carries over between sequence classifiers, a token classifier and a span model,
the head is fresh.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import gazetteer_conll, kind_rows, templated_squad, write_csv
from transferscout.config import load_config
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table, pivot_signals
from transferscout.pipeline import run_pipeline
from transferscout.recommend import recommend_sources
from transferscout.tasks import TaskOptions, TaskSet
from transferscout.tasks.questions import question_task, read_questions

pytestmark = pytest.mark.slow

STAGE = """learning_rate = [3e-3]
epochs = [4]
batch_size = [8]
max_length = [32]
"""

CONFIG = f"""
[data]
path = "{{data}}"
label_columns = ["urgent", "topic", "words"]
task_kinds = {{{{ topic = "multiclass", words = "regression" }}}}
id_column = "id"
fractions = [0.6, 0.2, 0.2]

[[data.tagged]]
name = "places"
path = "{{conll}}"
tag_index = 2

[[data.questions]]
name = "aid"
path = "{{squad}}"

[encoder]
source = "{{encoder}}"

[grid.target]
{STAGE}
[grid.source]
{STAGE}
[signals.ansat]
n_steps = 4
max_length = 32
max_documents = 6

[signals.pairs]
max_examples = 30
max_length = 32

[evaluation]
bootstrap_resamples = 50
meta_seeds = 1
n_estimators = 20
adaptive = false

[executor]
workers = 1
threads_per_worker = 1
device = "cpu"
"""


KINDS = {
    "urgent": "binary",
    "topic": "multiclass",
    "words": "regression",
    "places": "tagging",
    "aid": "qa",
}


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("mixed-pool")
    columns = ("id", "text", "urgent", "topic", "words")
    data = write_csv(folder / "kinds.csv", [{k: r[k] for k in columns} for r in kind_rows(60, 5)])
    conll = gazetteer_conll(folder / "places.conll", 90, seed=1)
    squad = templated_squad(folder / "aid.json", 40, seed=1)
    path = folder / "run.toml"
    path.write_text(CONFIG.format(data=data, conll=conll, squad=squad, encoder=tiny_encoder_dir))
    config = load_config(path)
    run_dir = folder / "run"
    result = run_pipeline(config, run_dir)
    assert result.grid.done == 5 + 20 and result.grid.failed == 0
    assert result.stages_run == ["pairs", "ansat", "evaluation", "report"]
    return run_dir


def test_every_kind_learns_and_transfers_run_across_kinds(mixed_run: Path) -> None:
    with RunStore(mixed_run, readonly=True) as store:
        singles = {r.target: r.metrics for r in store.rows(kind="single")}
        transfers = store.rows(kind="transfer")
    aid, places = singles["aid"], singles["places"]
    assert aid is not None and places is not None
    assert {"test_f1", "test_exact_match"} <= set(aid)
    assert aid["test_f1"] > 0.8  # the place is learnt from 48 questions
    assert places["test_entity_f1"] > 0.5
    assert {(r.source, r.target) for r in transfers} == {
        (a, b) for a in singles for b in singles if a != b
    }
    assert all(r.metrics is not None for r in transfers)
    table = candidate_table(mixed_run)
    assert set(table["target_kind"]) == set(KINDS.values())
    np.testing.assert_allclose(table["real_gain"], table["real_f1"] - table["target_score"])


def test_signals_are_missing_exactly_where_undefined(mixed_run: Path) -> None:
    with RunStore(mixed_run, readonly=True) as store:
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    assert len(signals) == 25  # every ordered pair, a task with itself included
    text = {"urgent", "topic", "words"}
    for (source, target), row in signals.iterrows():
        pair = (source, target)
        # TextEmb for every kind (QA: question and context); TaskEmb the Fisher of each
        # kind's own loss (QA: start + end)
        assert math.isfinite(row["textemb_cosine"]) and math.isfinite(row["taskemb_rrf"]), pair
        # no estimator for a QA target; LogME for every other target
        assert math.isfinite(row["estimators_logme"]) == (target != "aid"), pair
        # H-score needs the target's classes
        has_classes = target in ("urgent", "topic", "places")
        assert math.isfinite(row["estimators_h_score"]) == has_classes, pair
        # LEEP reads the source's class outputs at the target's level: a sequence classifier
        # for a text target with classes, a tagger for a tagging target
        same_level = (source in ("urgent", "topic") and target in ("urgent", "topic")) or (
            source == target == "places"
        )
        assert math.isfinite(row["estimators_leep"]) == same_level, pair
        # ANSAT between models of one head (text classifiers, or taggers); missing (never 0)
        # across heads and for span models
        within = (source in text and target in text) or source == target == "places"
        assert math.isfinite(row["ansat_ab_0.10"]) == within, pair


def test_the_report_and_table1_show_each_kinds_metric(mixed_run: Path) -> None:
    table = pd.read_csv(mixed_run / "evaluation" / "table1.csv")
    metrics = dict(zip(table["target"], table["metric"], strict=False))
    del metrics["average"]  # the row averaging over targets
    assert metrics == {
        "urgent": "f1",
        "topic": "macro_f1",
        "words": "spearman",
        "places": "entity_f1",
        "aid": "f1",
    }
    assert (mixed_run / "report" / "report.html").exists()


def test_rank_a_new_qa_target(mixed_run: Path, tmp_path: Path) -> None:
    squad = templated_squad(tmp_path / "new.json", 20, seed=7)
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    task, _ = question_task("new_aid", read_questions(squad), options)
    # questions of one context stay in one split
    contexts = [set(split.pairs or ()) for _, split in task.splits()]
    assert not (contexts[0] & contexts[1] or contexts[0] & contexts[2] or contexts[1] & contexts[2])
    result = recommend_sources(mixed_run, TaskSet((task,), str(squad)))
    assert set(result.table["source"]) == set(KINDS)
    assert result.table["predicted_f1"].is_monotonic_decreasing
    with RunStore(mixed_run, readonly=True) as store:
        assert not [r for r in store.rows(kind="transfer") if r.target == "new_aid"]


def test_rank_command_with_a_qa_target_in_a_data_config(mixed_run: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from transferscout.cli import app

    squad = templated_squad(tmp_path / "new.json", 20, seed=8)
    target = tmp_path / "target.toml"
    target.write_text(f'[data]\n\n[[data.questions]]\nname = "new_aid"\npath = "{squad}"\n')
    result = CliRunner().invoke(
        app,
        [
            "rank",
            str(mixed_run),
            "--data-config",
            str(target),
            "--task",
            "new_aid",
            "--output",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {c["source"] for c in payload["candidates"]} == set(KINDS)
