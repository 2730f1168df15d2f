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

from tests.conftest import (
    asking_pair_rows,
    gazetteer_conll,
    kind_rows,
    templated_squad,
    write_csv,
)
from tests.run_config import tiny_config, write_config
from transferscout.config import load_config
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table, pivot_signals
from transferscout.pipeline import run_pipeline
from transferscout.recommend import recommend_sources
from transferscout.search import Budget, SearchSettings, search_target
from transferscout.tasks import TableSpec, TaskOptions, TaskSet, load_tasks
from transferscout.tasks.questions import question_task, read_questions
from transferscout.tasks.tagged import read_tagged, tagged_task
from transferscout.tasks.task import Task

pytestmark = pytest.mark.slow

#: One setting per stage (4 epochs), signals on up to 6 documents and 40 examples (more than
#: the tiny encoder's 32 dimensions + 1, so the plain H-score is defined).
CHANGES = {
    "grid.target.epochs": [4],
    "grid.source.epochs": [4],
    "signals.ansat.max_documents": 6,
    "signals.pairs.max_examples": 40,
}


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
    data_section = {
        "path": str(data),
        "label_columns": ["urgent", "topic", "words"],
        "task_kinds": {"topic": "multiclass", "words": "regression"},
        "id_column": "id",
        "fractions": [0.6, 0.2, 0.2],
        "tagged": [{"name": "places", "path": str(conll), "tag_index": 2}],
        "questions": [{"name": "aid", "path": str(squad)}],
    }
    run = tiny_config(data_section, tiny_encoder_dir, CHANGES)
    config = load_config(write_config(folder / "run.toml", run))
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
    assert places["test_entity_f1"] > 0.5  # the gazetteer is learnt from 54 sentences
    assert {"test_precision", "test_recall", "test_token_accuracy"} <= set(places)
    # each kind's own metrics
    assert {"test_macro_f1", "test_micro_f1"} <= set(singles["topic"] or ())
    assert {"test_spearman", "test_pearson", "test_mse"} <= set(singles["words"] or ())
    assert "test_f1" in (singles["urgent"] or ())
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
        # ANSAT between models of one head (text classifiers, taggers, or QA models: the one
        # QA task with itself); missing (never 0) across heads
        within = (source in text and target in text) or source == target in ("places", "aid")
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


def _centred(row: dict[str, str], column: str) -> str:
    """A label cell; a word count minus 5 (its mean is about 0: the tiny model's regression
    head must read the text, not only move its bias, to leave a constant prediction)."""
    return str(int(row[column]) - 5) if column == "words" else row[column]


@pytest.mark.parametrize("kind", ["multiclass", "regression", "pair", "tagging"])
def test_rank_a_new_target_of_each_kind(mixed_run: Path, tmp_path: Path, kind: str) -> None:
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    if kind == "pair":
        # "Either text asks (holds 'please')": a pair label the tiny model learns, so its
        # reference model predicts both classes and the ranking runs on text pairs.
        path = write_csv(tmp_path / "pairs.csv", asking_pair_rows(120, seed=3))
        spec = TableSpec(text_pair_column="second", label_columns=("asks",), id_column="id")
        target = load_tasks(path, spec, options)
        name = "asks"
        assert target[name].train.pairs is not None
    elif kind == "tagging":
        conll = gazetteer_conll(tmp_path / "new.conll", 200, seed=7)  # learnt: not only O
        name = "new_places"
        task, _ = tagged_task(name, read_tagged(conll, tag_column=2), options)
        target = TaskSet((task,), str(conll))
    else:
        column = {"multiclass": "topic", "regression": "words"}[kind]
        name = f"new_{column}"
        # 120 texts (72 to train): enough for the tiny model's reference models not to be
        # degenerate (every class predicted; no constant), which rank checks for every kind
        rows = [{"text": r["text"], name: _centred(r, column)} for r in kind_rows(120, seed=9)]
        spec = TableSpec(label_columns=(name,), kinds={name: kind})
        target = load_tasks(write_csv(tmp_path / "t.csv", rows), spec, options)
    result = recommend_sources(mixed_run, target)
    assert set(result.table["source"]) == set(KINDS)
    assert result.table["predicted_f1"].is_monotonic_decreasing
    assert np.isfinite(result.table["predicted_f1"]).all()
    assert result.method.startswith("meta-model")
    with RunStore(mixed_run, readonly=True) as store:
        assert not [r for r in store.rows(kind="transfer") if r.target == name]


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_search_a_new_target_of_each_kind(mixed_run: Path, tmp_path: Path, kind: str) -> None:
    column = {"multiclass": "topic", "regression": "words"}[kind]
    name = f"searched_{column}"
    rows = [{"text": r["text"], name: _centred(r, column)} for r in kind_rows(120, seed=9)]
    spec = TableSpec(label_columns=(name,), kinds={name: kind})
    target = load_tasks(
        write_csv(tmp_path / "t.csv", rows), spec, TaskOptions(fractions=(0.6, 0.2, 0.2))
    )[name]
    result = search_target(
        mixed_run,
        SearchSettings(Budget(trials=1), margin=0.0),
        target=target,
        output=tmp_path / "m",
    )
    metric = {"multiclass": "macro_f1", "regression": "spearman"}[kind]
    # Every score is the kind's primary metric (the search chose by it, never by a binary F1).
    with RunStore(mixed_run, readonly=True) as store:
        references = [r for r in store.rows(kind="single") if r.target == name]
    assert (
        result.reference["test_f1"]
        == max(
            references,
            key=lambda r: r.metrics[f"validation_{metric}"],  # type: ignore[index]
        ).metrics[f"test_{metric}"]
    )  # type: ignore[index]
    _assert_trace_in_the_kinds_metric(mixed_run, name, result.best, steps=1)
    card = _assert_exported_model_is_the_best_trial(mixed_run, tmp_path / "m", target, result.best)
    assert result.best["metric"] == metric
    label = target.kind.metric_label
    if kind == "multiclass":
        assert f"A multi-class model for **{name}** (outputs {', '.join(target.classes)})" in card
        assert f"| test {label} | test micro f1 | test accuracy |" in card
    else:
        assert f"A regression model for **{name}**, " in card
        assert f"| test {label} | test pearson | test mse |" in card


def test_rank_a_tagged_target_from_the_command_line(mixed_run: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from transferscout.cli import app

    conll = gazetteer_conll(tmp_path / "cli.conll", 200, seed=8)  # learnt: not only O
    target = tmp_path / "target.toml"
    target.write_text(
        f'[data]\n[[data.tagged]]\nname = "cli_places"\npath = "{conll}"\ntag_index = 2\n'
    )
    args = ["rank", str(mixed_run), "--data-config", str(target), "--task", "cli_places"]
    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output[result.output.index("{") :])
    assert {row["source"] for row in ranked["candidates"]} == set(KINDS)
    assert "entity F1" in ranked["method"]  # the kind's metric_label


def test_rank_a_new_qa_target(mixed_run: Path, tmp_path: Path) -> None:
    squad = templated_squad(tmp_path / "new.json", 20, seed=7, prefix="n")
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

    squad = templated_squad(tmp_path / "new.json", 20, seed=8, prefix="m")
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


def test_exported_models_name_each_kinds_outputs(mixed_run: Path, tmp_path: Path) -> None:
    """``search``'s model folder: ``id2label`` is the target kind's output names."""
    import transformers

    from transferscout.encoders.adapter import HEADS
    from transferscout.grid.models import select_single_task_models
    from transferscout.search_output import export_model

    tasks = load_config(mixed_run.parent / "run.toml").data.load()
    expected = {
        "urgent": ["not urgent", "urgent"],
        "topic": list(tasks["topic"].classes),
        "words": None,  # one value: not named
        "places": list(tasks["places"].classes),
        "aid": None,  # start and end logits per piece: not named
    }
    assert len(expected["topic"]) == 3 and "B-LOC" in expected["places"]
    with RunStore(mixed_run, readonly=True) as store:
        models = select_single_task_models(store, tasks)
    for name, row in models.items():
        task = tasks[name]
        names = task.kind.output_names(name, task.classes)
        folder = export_model(mixed_run, row, names, tmp_path / name, "card")
        model = getattr(transformers, HEADS[task.kind.head][0]).from_pretrained(folder)
        assert names == expected[name], name
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        assert len(labels) == task.num_outputs, name
        if names is not None:
            assert labels == names and model.config.label2id == {n: i for i, n in enumerate(names)}


def _assert_exported_model_is_the_best_trial(
    mixed_run: Path, folder: Path, target: Task, best: dict
) -> str:
    """The folder loads with its head's class, names the kind's outputs and scores as stored.

    Returns the model card.
    """
    import json

    import torch
    import transformers
    from safetensors.torch import load_file

    from transferscout.encoders.adapter import HEADS
    from transferscout.grid.runner import model_path
    from transferscout.training.finetune import evaluate

    with RunStore(mixed_run, readonly=True) as store:
        row = store.row(best["trial"])
    assert row is not None and row.metrics is not None
    kind = target.kind
    assert best["metric"] == kind.primary_metric
    assert best["test_f1"] == row.metrics[f"test_{kind.primary_metric}"]
    model = getattr(transformers, HEADS[kind.head][0]).from_pretrained(
        folder, local_files_only=True
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    names = kind.output_names(target.name, target.classes)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert len(labels) == target.num_outputs and (names is None or labels == names)
    # The exported weights are the searched model's, tensor for tensor ...
    kept = load_file(model_path(mixed_run, row.id))
    exported = load_file(folder / "model.safetensors")
    assert exported.keys() == kept.keys()
    assert all(torch.equal(exported[k], kept[k]) for k in kept)
    # ... and, loaded with the head's class, score its stored test metrics.  (Equal up to the
    # order of float sums: loaded tensors may take other kernel paths than trained ones, which a
    # regression's nearly constant outputs amplify in Pearson's r by about 1e-4.)
    metrics = evaluate(
        model,
        tokenizer,
        target.test,
        max_length=row.config["target"]["settings"]["max_length"],
        kind=kind,
        classes=target.classes,
    )
    for key, value in metrics.items():
        assert value == pytest.approx(row.metrics[f"test_{key}"], abs=5e-3), key
    saved = json.loads((folder / "transferscout.json").read_text())
    assert saved["trial"] == row.id
    card = (folder / "README.md").read_text()
    assert f"A {kind.display_name} model for **{target.name}**" in card
    assert f"validation {kind.metric_label} | test {kind.metric_label}" in card
    assert f"{HEADS[kind.head][0]}.from_pretrained(folder)" in card
    return card


def _assert_trace_in_the_kinds_metric(mixed_run: Path, name: str, best: dict, steps: int) -> None:
    import json

    folder = mixed_run / "search" / name
    trace = pd.read_csv(folder / "trace.csv")
    assert len(trace) == steps
    saved = json.loads((folder / "search.json").read_text())
    assert saved["best"]["metric"] == best["metric"]
    with RunStore(mixed_run, readonly=True) as store:
        for step in trace.to_dict("records"):
            row = store.row(step["trial"])
            assert row is not None and row.metrics is not None and row.target == name
            metric = best["metric"]
            assert step["test_f1"] == pytest.approx(row.metrics[f"test_{metric}"])
            assert step["validation_f1"] == pytest.approx(row.metrics[f"validation_{metric}"])


def test_search_a_new_tagging_target_from_the_command_line(mixed_run: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from transferscout.cli import app
    from transferscout.config import load_run_config
    from transferscout.targets import data_section, prepare_target

    conll = gazetteer_conll(tmp_path / "searched.conll", 60, seed=11)
    data = tmp_path / "target.toml"
    data.write_text(
        f'[data]\n[[data.tagged]]\nname = "searched_places"\npath = "{conll}"\ntag_index = 2\n'
    )
    folder = tmp_path / "model"
    result = CliRunner().invoke(
        app,
        [
            "search",
            str(mixed_run),
            "--budget",
            "5trials",
            "--margin",
            "0",
            "--data-config",
            str(data),
            "--task",
            "searched_places",
            "--output",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "test entity F1" in result.output  # the kind's metric, named as the kind names it
    target = prepare_target(load_run_config(mixed_run), "searched_places", data=data_section(data))
    best = json.loads((mixed_run / "search" / "searched_places" / "search.json").read_text())
    best = best["best"]
    # The run's own gazetteer tagger is by far the best source (validation entity F1 1.0 vs
    # 0.15 alone): the exported model is a transfer from a token head, kept by the search.
    assert best["kind"] == "transfer" and best["sources"] == ["places"]
    card = _assert_exported_model_is_the_best_trial(mixed_run, folder, target, best)
    assert "encoder -> places -> searched_places" in card and "B-LOC" in card
    _assert_trace_in_the_kinds_metric(mixed_run, "searched_places", best, steps=5)


def test_search_a_new_qa_target(mixed_run: Path, tmp_path: Path) -> None:
    squad = templated_squad(tmp_path / "searched.json", 20, seed=12, prefix="s")
    options = TaskOptions(fractions=(0.6, 0.2, 0.2))
    task, _ = question_task("searched_aid", read_questions(squad), options)
    result = search_target(
        mixed_run,
        SearchSettings(Budget(trials=1), margin=0.0),
        target=task,
        output=tmp_path / "model",
    )
    _assert_exported_model_is_the_best_trial(mixed_run, tmp_path / "model", task, result.best)
    _assert_trace_in_the_kinds_metric(mixed_run, "searched_aid", result.best, steps=1)


def test_the_pool_search_hands_over_a_model_of_every_kind(mixed_run: Path, tmp_path: Path) -> None:
    """The pool search on the finished mixed grid: it reads the trials it picks, and exports
    each target's model, whatever its kind (gains are in each target's own metric)."""
    import dataclasses
    import json
    import shutil

    from transferscout.config import config_from_dict
    from transferscout.pool_search import search_pool

    copy = tmp_path / "run"
    shutil.copytree(mixed_run, copy, ignore=shutil.ignore_patterns("*.lock"))
    config = config_from_dict(json.loads((copy / "config.json").read_text()))
    config = dataclasses.replace(
        config,
        search=dataclasses.replace(config.search, mode="pool", budget="8 trials", margin=0.0),
    )
    with RunStore(copy, readonly=True) as store:
        before = {r.id: r.attempts for r in store.rows()}
    result = search_pool(config, copy)
    # The tiny table tasks' single-task models are degenerate (left out, each with its
    # reason); the QA and tagging ones are perfect on validation (nothing can beat them).
    assert set(result.skipped) == {"topic", "urgent", "words"}
    assert len(result.trace) <= 8 and (result.trace["status"] == "done").all()
    with RunStore(copy, readonly=True) as store:
        after = {r.id: r.attempts for r in store.rows()}
    assert set(after) == set(before)  # every pick was a finished grid trial: nothing new
    kinds = dict(zip(result.targets["target"], result.targets["kind"], strict=True))
    assert kinds == KINDS
    exported = result.targets.dropna(subset=["model_dir"])
    assert set(exported["target"]) == {"aid", "places"}
    for folder in exported["model_dir"]:
        assert (Path(folder) / "config.json").is_file()
    metrics = set(result.targets["metric"])
    assert len(metrics) == 5  # positive F1, macro-F1, Spearman, entity F1, SQuAD F1
    assert result.report is not None and "places" in result.report.markdown.read_text()
