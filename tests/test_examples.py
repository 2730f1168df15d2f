from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transferscout.cli import app
from transferscout.config import load_config

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configurations_are_valid(path: Path) -> None:
    config = load_config(path)
    assert config.grid.spec().target_settings


def test_there_are_examples() -> None:
    assert EXAMPLES


#: examples/kinds.toml made tiny: the tiny random encoder, two binary categories and `genre`
#: of the built-in corpus with small caps, short trials and cheap signals.
TINY = [
    'data.tasks=["request", "food", "genre"]',
    "data.max_train_examples=100",
    "data.max_eval_examples=60",
    "grid.target.learning_rate=[3e-3]",
    "grid.source.learning_rate=[3e-3]",
    "grid.target.epochs=[8]",  # enough for the tiny model to learn `water` (rank's target)
    "grid.source.epochs=[2]",
    "grid.target.batch_size=[8]",
    "grid.source.batch_size=[8]",
    "grid.target.max_length=[32]",
    "grid.source.max_length=[32]",
    "signals.ansat.n_steps=4",
    "signals.ansat.max_documents=5",
    "signals.ansat.max_length=32",
    "signals.pairs.max_examples=20",
    "signals.pairs.max_length=32",
    'evaluation.feature_sets=["f1", "all"]',
    "evaluation.meta_seeds=1",
    "evaluation.bootstrap_resamples=50",
    "evaluation.n_estimators=20",
    "evaluation.adaptive=false",
    "executor.workers=1",
    "executor.threads_per_worker=1",
    "executor.device=cpu",
]


@pytest.mark.slow
def test_the_kinds_example_runs_and_ranks_on_the_built_in_corpus(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    example = Path(__file__).parents[1] / "examples" / "kinds.toml"
    overrides = [f"encoder.source={tiny_encoder_dir}", *TINY]
    run_dir = tmp_path / "run"
    runner = CliRunner()
    args = ["run", str(example), "-o", str(run_dir), "--full-grid"]
    result = runner.invoke(app, [*args, *(a for o in overrides for a in ("-s", o))])
    assert result.exit_code == 0, result.output
    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    assert summary["target_kinds"] == {"binary": 2, "multiclass": 1}
    assert summary["full_grid_best"]["multiclass"]["metric"] == "macro-F1"
    ranked = runner.invoke(app, ["rank", str(run_dir), "--task", "water", "--output", "json"])
    assert ranked.exit_code == 0, ranked.output
    sources = {c["source"] for c in json.loads(ranked.stdout)["candidates"]}
    assert sources == {"request", "food", "genre"}
