"""Sequence labelling through the whole tiny pipeline, in a pool with text tasks.

``places`` tags the names of a small gazetteer (places ``B-LOC``/``I-LOC``, people
``B-PER``; see ``tests/conftest.py``) in a CoNLL file given in ``[[data.tagged]]``; ``urgent``
(binary) and ``topic`` (multi-class) come from a table.  Every task is the source of every
other: the encoder carries over between a token classifier and a sequence classifier, the
head is fresh.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import gazetteer_conll, kind_rows, write_csv
from transferscout.config import load_config
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table, pivot_signals
from transferscout.pipeline import run_pipeline
from transferscout.recommend import recommend_sources
from transferscout.tasks import TaskOptions, TaskSet
from transferscout.tasks.tagged import read_tagged, tagged_task

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

[[data.tagged]]
name = "places"
path = "{{conll}}"
tag_index = 2

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
def tagging_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("tagging-pipeline")
    rows = [{k: r[k] for k in ("id", "text", "urgent", "topic")} for r in kind_rows(60, seed=5)]
    data = write_csv(folder / "kinds.csv", rows)
    conll = gazetteer_conll(folder / "places.conll", 90, seed=1)
    path = folder / "run.toml"
    path.write_text(CONFIG.format(data=data, conll=conll, encoder=tiny_encoder_dir))
    config = load_config(path)
    run_dir = folder / "run"
    result = run_pipeline(config, run_dir)
    assert result.grid.done == 3 + 6 and result.grid.failed == 0
    assert result.stages_run == ["pairs", "ansat", "evaluation", "report"]
    return run_dir


def test_the_tagger_learns_and_transfers_run_across_kinds(tagging_run: Path) -> None:
    with RunStore(tagging_run, readonly=True) as store:
        singles = {r.target: r.metrics for r in store.rows(kind="single")}
        transfers = store.rows(kind="transfer")
    places = singles["places"]
    assert places is not None
    assert {"test_entity_f1", "test_precision", "test_recall", "test_token_accuracy"} <= set(places)
    assert places["test_entity_f1"] > 0.5  # the gazetteer is learnt from 54 sentences
    assert {(r.source, r.target) for r in transfers} == {
        (a, b) for a in singles for b in singles if a != b
    }
    assert all(r.metrics is not None for r in transfers)
    table = candidate_table(tagging_run)
    assert set(table["target_kind"]) == {"binary", "multiclass", "tagging"}
    np.testing.assert_allclose(table["real_gain"], table["real_f1"] - table["target_score"])


def test_signals_are_missing_exactly_where_undefined(tagging_run: Path) -> None:
    with RunStore(tagging_run, readonly=True) as store:
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    for (source, target), row in signals.iterrows():
        assert math.isfinite(row["textemb_cosine"]) and math.isfinite(row["taskemb_rrf"])
        # token features with token tags for a tagging target; pooled features otherwise
        assert math.isfinite(row["estimators_logme"]) and math.isfinite(row["estimators_h_score"])
        same_level = (source == "places") == (target == "places")
        assert math.isfinite(row["estimators_leep"]) == same_level, (source, target)
        # ANSAT within a head (taggers: their entity tags' logits); across heads missing
        assert math.isfinite(row["ansat_a_0.10"]) == same_level, (source, target)


def test_the_report_and_table1_show_entity_f1(tagging_run: Path) -> None:
    table = pd.read_csv(tagging_run / "evaluation" / "table1.csv")
    metrics = dict(zip(table["target"], table["metric"], strict=False))
    assert metrics["places"] == "entity_f1" and metrics["urgent"] == "f1"
    assert (tagging_run / "report" / "report.html").exists()


def test_rank_a_new_tagging_target(tagging_run: Path, tmp_path: Path) -> None:
    conll = gazetteer_conll(tmp_path / "new.conll", 60, seed=7)
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    task, _ = tagged_task("new_places", read_tagged(conll, tag_column=2), options)
    result = recommend_sources(tagging_run, TaskSet((task,), str(conll)))
    assert set(result.table["source"]) == {"urgent", "topic", "places"}
    assert result.table["predicted_f1"].is_monotonic_decreasing
    assert "single-task entity F1" in result.method  # the kind's metric_label
    with RunStore(tagging_run, readonly=True) as store:
        assert not [r for r in store.rows(kind="transfer") if r.target == "new_places"]


def test_rank_a_tagged_target_from_the_command_line(tagging_run: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from transferscout.cli import app

    conll = gazetteer_conll(tmp_path / "cli.conll", 60, seed=8)
    target = tmp_path / "target.toml"
    target.write_text(
        f'[data]\n[[data.tagged]]\nname = "cli_places"\npath = "{conll}"\ntag_index = 2\n'
    )
    args = ["rank", str(tagging_run), "--data-config", str(target), "--task", "cli_places"]
    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output[result.output.index("{") :])
    assert {row["source"] for row in ranked["candidates"]} == {"urgent", "topic", "places"}
    assert "entity F1" in ranked["method"]
