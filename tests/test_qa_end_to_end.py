"""Extractive QA through the whole tiny pipeline, in a pool with text tasks.

``aid`` is a templated QA task (SQuAD JSON in ``[[data.questions]]``; see
``tests/conftest.py``: the answer is the place named in the context); ``urgent`` (binary) and
``topic`` (multi-class) come from a table.  Every task is the source of every other: the
encoder carries over between a span model and a sequence classifier, the head is fresh.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import kind_rows, templated_squad, write_csv
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
label_columns = ["urgent", "topic"]
task_kinds = {{{{ topic = "multiclass" }}}}
id_column = "id"
fractions = [0.6, 0.2, 0.2]

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


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("qa-pipeline")
    rows = [{k: r[k] for k in ("id", "text", "urgent", "topic")} for r in kind_rows(60, seed=5)]
    data = write_csv(folder / "kinds.csv", rows)
    squad = templated_squad(folder / "aid.json", 40, seed=1)
    path = folder / "run.toml"
    path.write_text(CONFIG.format(data=data, squad=squad, encoder=tiny_encoder_dir))
    config = load_config(path)
    run_dir = folder / "run"
    result = run_pipeline(config, run_dir)
    assert result.grid.done == 3 + 6 and result.grid.failed == 0
    assert result.stages_run == ["pairs", "ansat", "evaluation", "report"]
    return run_dir


def test_the_span_model_learns_and_transfers_run_across_kinds(qa_run: Path) -> None:
    with RunStore(qa_run, readonly=True) as store:
        singles = {r.target: r.metrics for r in store.rows(kind="single")}
        transfers = store.rows(kind="transfer")
    aid = singles["aid"]
    assert aid is not None
    assert {"test_f1", "test_exact_match"} <= set(aid)
    assert aid["test_f1"] > 0.8  # the place is learnt from 48 questions
    assert {(r.source, r.target) for r in transfers} == {
        (a, b) for a in singles for b in singles if a != b
    }
    assert all(r.metrics is not None for r in transfers)
    table = candidate_table(qa_run)
    assert set(table["target_kind"]) == {"binary", "multiclass", "qa"}
    np.testing.assert_allclose(table["real_gain"], table["real_f1"] - table["target_score"])


def test_signals_are_missing_exactly_where_undefined(qa_run: Path) -> None:
    with RunStore(qa_run, readonly=True) as store:
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    for (source, target), row in signals.iterrows():
        # TextEmb over question and context; TaskEmb the Fisher of the start + end loss
        assert math.isfinite(row["textemb_cosine"]) and math.isfinite(row["taskemb_rrf"])
        # no estimator for a QA target; a QA source gives its first-token state to the others
        assert math.isfinite(row["estimators_logme"]) == (target != "aid"), (source, target)
        assert not math.isfinite(row["estimators_leep"]) or "aid" not in (source, target)
        # ANSAT is not defined for a span model: missing, never 0
        assert math.isfinite(row["ansat_ab_0.10"]) == ("aid" not in (source, target))


def test_the_report_and_table1_show_squad_f1(qa_run: Path) -> None:
    table = pd.read_csv(qa_run / "evaluation" / "table1.csv")
    metrics = dict(zip(table["target"], table["metric"], strict=False))
    assert metrics["aid"] == "f1" and metrics["topic"] == "macro_f1"
    assert (qa_run / "report" / "report.html").exists()


def test_rank_a_new_qa_target(qa_run: Path, tmp_path: Path) -> None:
    squad = templated_squad(tmp_path / "new.json", 20, seed=7)
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    task, _ = question_task("new_aid", read_questions(squad), options)
    # questions of one context stay in one split
    contexts = [set(split.pairs or ()) for _, split in task.splits()]
    assert not (contexts[0] & contexts[1] or contexts[0] & contexts[2] or contexts[1] & contexts[2])
    result = recommend_sources(qa_run, TaskSet((task,), str(squad)))
    assert set(result.table["source"]) == {"urgent", "topic", "aid"}
    assert result.table["predicted_f1"].is_monotonic_decreasing
    with RunStore(qa_run, readonly=True) as store:
        assert not [r for r in store.rows(kind="transfer") if r.target == "new_aid"]


def test_rank_command_with_a_qa_target_in_a_data_config(qa_run: Path, tmp_path: Path) -> None:
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
            str(qa_run),
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
    assert {c["source"] for c in payload["candidates"]} == {"urgent", "topic", "aid"}
