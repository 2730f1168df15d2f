"""Every task kind through the whole tiny pipeline: grid, every signal, evaluation, report, rank.

The tasks are built here and can be checked by hand (see ``tests/conftest.py``): ``urgent``
(binary: holds "please"), ``topic`` (multi-class: which keyword), ``words`` (regression: the
word count) on one table, and ``asks`` (binary on text pairs: either text holds "please") as
a new target.  A pool of single-text and pair tables (``share``: both texts hold one keyword)
runs from a configuration file in ``tests/test_mixed_pool.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import asking_pair_rows, kind_rows, write_csv
from transferscout.config import load_config
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table, pivot_signals
from transferscout.pipeline import run_pipeline
from transferscout.recommend import recommend_sources
from transferscout.search import Budget, SearchSettings, search_target
from transferscout.tasks import TableSpec, TaskOptions, load_tasks

pytestmark = pytest.mark.slow

CONFIG = """
[data]
path = "{data}"
label_columns = ["urgent", "topic", "words"]
task_kinds = {{ topic = "multiclass", words = "regression" }}
id_column = "id"
fractions = [0.6, 0.2, 0.2]

[encoder]
source = "{encoder}"

[grid.target]
learning_rate = [3e-3]
epochs = [4]
batch_size = [8]
max_length = [32]

[grid.source]
learning_rate = [3e-3]
epochs = [4]
batch_size = [8]
max_length = [32]

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
def config_file(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("kinds-pipeline")
    data = write_csv(folder / "kinds.csv", kind_rows(60, seed=5))
    path = folder / "run.toml"
    path.write_text(CONFIG.format(data=data, encoder=tiny_encoder_dir))
    return path


@pytest.fixture(scope="module")
def kinds_run(config_file: Path) -> Path:
    run_dir = config_file.parent / "run"
    result = run_pipeline(load_config(config_file), run_dir)
    assert result.grid.done == 3 + 6 and result.grid.failed == 0
    assert result.stages_run == ["pairs", "ansat", "evaluation", "report"]
    return run_dir


def test_every_kind_is_trained_and_scored_with_its_own_metric(kinds_run: Path) -> None:
    with RunStore(kinds_run, readonly=True) as store:
        singles = {r.target: r.metrics for r in store.rows(kind="single")}
        transfers = store.rows(kind="transfer")
    assert singles["urgent"] is not None and "test_f1" in singles["urgent"]
    assert singles["topic"] is not None and {"test_macro_f1", "test_micro_f1"} <= set(
        singles["topic"]
    )
    assert singles["words"] is not None and {"test_spearman", "test_pearson", "test_mse"} <= set(
        singles["words"]
    )
    # any kind is the source of any kind: a fresh head of the target's width
    assert {(r.source, r.target) for r in transfers} == {
        (a, b) for a in singles for b in singles if a != b
    }
    table = candidate_table(kinds_run)
    assert set(table["target_kind"]) == {"binary", "multiclass", "regression"}
    np.testing.assert_allclose(table["real_gain"], table["real_f1"] - table["target_score"])


def test_estimators_are_missing_exactly_where_undefined(kinds_run: Path) -> None:
    with RunStore(kinds_run, readonly=True) as store:
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    for (source, target), row in signals.iterrows():
        assert math.isfinite(row["estimators_logme"])
        classes = {"urgent", "topic"}
        assert math.isfinite(row["estimators_h_score"]) == (target in classes)
        assert math.isfinite(row["estimators_leep"]) == (source in classes and target in classes)
        assert math.isfinite(row["taskemb_rrf"]) and math.isfinite(row["textemb_cosine"])
        assert math.isfinite(row["ansat_ab_0.10"])


def test_table1_shows_each_targets_metric(kinds_run: Path) -> None:
    import pandas as pd

    table = pd.read_csv(kinds_run / "evaluation" / "table1.csv")
    metrics = dict(zip(table["target"], table["metric"], strict=False))
    assert metrics["urgent"] == "f1" and metrics["topic"] == "macro_f1"
    assert metrics["words"] == "spearman"
    assert (kinds_run / "report" / "report.html").exists()


@pytest.mark.parametrize("kind", ["multiclass", "regression", "pair"])
def test_rank_a_new_target_of_each_kind(kinds_run: Path, tmp_path: Path, kind: str) -> None:
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    if kind == "pair":
        # "Either text asks (holds 'please')": a pair label the tiny model learns, so its
        # reference model predicts both classes and the ranking runs on text pairs.
        path = write_csv(tmp_path / "pairs.csv", asking_pair_rows(120, seed=3))
        spec = TableSpec(text_pair_column="second", label_columns=("asks",), id_column="id")
        target = load_tasks(path, spec, options)
        name = "asks"
        assert target[name].train.pairs is not None
    else:
        column = {"multiclass": "topic", "regression": "words"}[kind]
        name = f"new_{column}"
        rows = [{"text": r["text"], name: r[column]} for r in kind_rows(45, seed=9)]
        spec = TableSpec(label_columns=(name,), kinds={name: kind})
        target = load_tasks(write_csv(tmp_path / "t.csv", rows), spec, options)
    result = recommend_sources(kinds_run, target)
    assert sorted(result.table["source"]) == ["topic", "urgent", "words"]
    assert result.table["predicted_f1"].is_monotonic_decreasing
    assert np.isfinite(result.table["predicted_f1"]).all()
    assert result.method.startswith("meta-model")
    with RunStore(kinds_run, readonly=True) as store:
        assert not [r for r in store.rows(kind="transfer") if r.target == name]


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_search_a_new_target_of_each_kind(kinds_run: Path, tmp_path: Path, kind: str) -> None:
    from transformers import AutoModelForSequenceClassification

    column = {"multiclass": "topic", "regression": "words"}[kind]
    name = f"searched_{column}"
    rows = [{"text": r["text"], name: r[column]} for r in kind_rows(45, seed=9)]
    spec = TableSpec(label_columns=(name,), kinds={name: kind})
    target = load_tasks(
        write_csv(tmp_path / "t.csv", rows), spec, TaskOptions(fractions=(0.6, 0.2, 0.2))
    )[name]
    result = search_target(
        kinds_run,
        SearchSettings(Budget(trials=1), margin=0.0),
        target=target,
        output=tmp_path / "m",
    )
    metric = {"multiclass": "macro_f1", "regression": "spearman"}[kind]
    # Every score is the kind's primary metric (the search chose by it, never by a binary F1).
    with RunStore(kinds_run, readonly=True) as store:
        references = [r for r in store.rows(kind="single") if r.target == name]
        best_row = store.row(result.best["trial"])
    assert best_row is not None and result.best["metric"] == metric
    assert result.best["test_f1"] == best_row.metrics[f"test_{metric}"]  # type: ignore[index]
    assert (
        result.reference["test_f1"]
        == max(
            references,
            key=lambda r: r.metrics[f"validation_{metric}"],  # type: ignore[index]
        ).metrics[f"test_{metric}"]
    )  # type: ignore[index]
    assert math.isfinite(result.trace["test_f1"].iloc[0])
    model = AutoModelForSequenceClassification.from_pretrained(
        tmp_path / "m", local_files_only=True
    )
    card = (tmp_path / "m" / "README.md").read_text()
    assert f"validation {metric} | test {metric}" in card
    if kind == "multiclass":
        assert list(model.config.id2label.values()) == list(target.classes)
        assert f"A multiclass model for **{name}** (outputs {', '.join(target.classes)})" in card
    else:
        assert model.config.num_labels == 1 and f"A regression model for **{name}**, " in card
