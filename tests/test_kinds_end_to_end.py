"""Text-pair tasks in the grid next to the other kinds, through grid, signals and evaluation.

``share`` (binary on text pairs: both texts hold one keyword) is trained with ``urgent``
(binary), ``topic`` (multi-class) and ``words`` (regression) (see ``tests/conftest.py``).
The whole pipeline and ``rank`` for every kind (a pair target included) run in
``tests/test_mixed_pool_end_to_end.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from transferscout.encoders import EncoderSpec
from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.grid.runner import ExecutionOptions, run_grid
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.grid.store import RunStore
from transferscout.meta.features import pivot_signals
from transferscout.signals.ansat_stage import AnsatSettings, compute_ansat
from transferscout.signals.attributions import AttributionSettings
from transferscout.signals.pair_stage import PairSignalSettings, compute_pair_signals
from transferscout.tasks import TaskSet

pytestmark = pytest.mark.slow

FAST = EvaluationSettings(
    feature_sets=("f1", "all"),
    bootstrap_resamples=50,
    meta_seeds=1,
    n_estimators=20,
    adaptive=False,
)


def test_a_mixed_pool_with_a_pair_task_in_the_grid(
    tmp_path: Path, kind_tasks: TaskSet, pair_tasks: TaskSet, tiny_encoder_dir: Path
) -> None:
    tasks = TaskSet((*kind_tasks.tasks, *pair_tasks.tasks), "mixed")
    stage = {"epochs": [3], "batch_size": [8], "max_length": [32]}
    grid = GridSpec(
        target_settings=settings_grid(learning_rate=[3e-3], **stage),
        source_settings=settings_grid(learning_rate=[3e-3], **stage),
    )
    run_dir = tmp_path / "run"
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    summary = run_grid(run_dir, tasks, grid, EncoderSpec(str(tiny_encoder_dir)), options)
    assert summary.failed == 0 and summary.done == 4 + 12
    attribution = AttributionSettings(n_steps=4, max_length=32)
    compute_ansat(run_dir, tasks, AnsatSettings(attribution=attribution, max_documents=5))
    compute_pair_signals(run_dir, tasks, PairSignalSettings(max_examples=20, max_length=32))
    result = evaluate_run(run_dir, FAST)
    assert set(result.table1["target"]) >= set(tasks.names)
    with RunStore(run_dir, readonly=True) as store:
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    assert math.isfinite(signals.loc[("share", "topic"), "estimators_leep"])
    assert math.isnan(signals.loc[("words", "share"), "estimators_leep"])


def _ud_file(path: Path, sentences: int, seed: int = 0) -> Path:
    """A CoNLL-U treebank of the tiny encoder's words: comments, a multiword token, UPOS.

    Each word's part of speech is fixed by the word (a tagger learns it per word).
    """
    import random

    upos = {"the": "DET", "a": "DET", "we": "PRON", "they": "PRON", "need": "VERB"}
    upos |= {"send": "VERB", "help": "VERB", "food": "NOUN", "water": "NOUN", "tents": "NOUN"}
    upos |= {"in": "ADP", "city": "NOUN", "village": "NOUN", "please": "INTJ"}
    words = sorted(upos)
    rng = random.Random(seed)
    blocks = []
    for number in range(1, sentences + 1):
        chosen = [rng.choice(words) for _ in range(rng.randint(3, 7))]
        lines = [f"# sent_id = {number}", f"# text = {' '.join(chosen)}"]
        if number % 5 == 0:  # a multiword range line before the words it covers
            lines.append(f"1-2\t{chosen[0]}{chosen[1]}\t_\t_\t_\t_\t_\t_\t_\t_")
        for i, word in enumerate(chosen, start=1):
            lines.append(f"{i}\t{word}\t{word}\t{upos[word]}\t_\t_\t0\tdep\t_\t_")
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def test_a_part_of_speech_task_runs_end_to_end_and_is_scored_by_token_accuracy(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    """Issue 31.1: a POS task (CoNLL-U) in a pool: no NaN metric, no crash of the evaluation."""
    import pandas as pd
    from typer.testing import CliRunner

    from tests.conftest import keyword_rows, write_csv
    from tests.run_config import KEYWORDS, tiny_config, write_config
    from transferscout.cli import app

    data = write_csv(tmp_path / "keywords.csv", keyword_rows(90, seed=3))
    tagged = [{"name": "pos", "path": str(_ud_file(tmp_path / "ud.conllu", 60))}]
    config = write_config(
        tmp_path / "run.toml",
        tiny_config({**KEYWORDS, "path": str(data), "tagged": tagged}, tiny_encoder_dir),
    )
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    table1 = pd.read_csv(run_dir / "evaluation" / "table1.csv")
    pos = table1[table1["target"] == "pos"]
    assert set(pos["metric"]) == {"token_accuracy"} and set(pos["kind"]) == {"tagging-accuracy"}
    assert pos["f1"].notna().all() and (pos["f1"] > 0).all()
