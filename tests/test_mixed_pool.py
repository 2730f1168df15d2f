"""A pool of single-text and text-pair tables, of every kind, run from one configuration file.

``[data]`` reads ``urgent`` (binary), ``topic`` (multi-class) and ``words`` (regression) from
one table and a ``[[data.tables]]`` entry adds ``share`` (binary on text pairs) from another
(see ``tests/conftest.py``); ``transferscout run`` trains the whole grid, computes every
signal, evaluates and reports, and ``transferscout rank`` ranks the pool for a new target.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import kind_rows, pair_rows, write_csv
from tests.run_config import tiny_config, write_config
from transferscout.cli import app
from transferscout.grid.store import RunStore
from transferscout.meta.features import pivot_signals

pytestmark = pytest.mark.slow

DATA = {
    "path": "kinds.csv",
    "label_columns": ["urgent", "topic", "words"],
    "task_kinds": {"topic": "multiclass", "words": "regression"},
    "id_column": "id",
    "fractions": [0.6, 0.2, 0.2],
    "tables": [
        {
            "path": "pairs.csv",
            "text_pair_column": "second",
            "label_columns": ["share"],
            "id_column": "id",
        }
    ],
}
CHANGES = {
    "signals.ansat.max_documents": 5,
    "evaluation.feature_sets": ["f1", "all"],
}


def test_a_mixed_pool_of_single_text_and_pair_tables_runs_from_a_config_file(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    write_csv(tmp_path / "kinds.csv", kind_rows())
    write_csv(tmp_path / "pairs.csv", pair_rows())
    config = write_config(tmp_path / "mixed.toml", tiny_config(DATA, tiny_encoder_dir, CHANGES))
    run_dir = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(config), "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    with RunStore(run_dir, readonly=True) as store:
        done = store.rows(status="done")
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    assert len(done) == 4 + 12  # every task the source and the target of every other
    assert math.isfinite(signals.loc[("share", "topic"), "estimators_leep"])
    assert math.isnan(signals.loc[("words", "share"), "estimators_leep"])  # no source classes
    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    assert summary["target_kinds"] == {"binary": 2, "multiclass": 1, "regression": 1}
    assert summary["aggregate"] == "gain" and "full_grid_best_f1" not in summary
    assert "(2 binary, 1 multi-class, 1 regression)" in result.output  # the headline
    per_target = pd.read_csv(run_dir / "evaluation" / "per_target.csv")
    # A target whose candidates all score alike is left out of the ranking metrics (NaN).
    unranked = set((summary.get("unranked_targets") or {}).get("targets", []))
    ranked = ~per_target["target"].isin(unranked)
    assert per_target.loc[ranked, "ndcg@3"].between(0, 1).all()
    assert per_target.loc[~ranked, "ndcg@3"].isna().all()
    report = (run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "Spearman ρ" in report and "mean best gain over the single-task model" in report
    assert "| metric | score | accuracy |" in report  # Table 1: each row in its own metric
    # A new regression target ranked against the mixed pool, from the command line.
    # (120 texts, the word count minus 5: a target the tiny model does not predict as a
    # constant, which rank would refuse as degenerate)
    rows = kind_rows(120, seed=9)
    target = [{"text": r["text"], "count": str(int(r["words"]) - 5)} for r in rows]
    path = write_csv(tmp_path / "target.csv", target)
    ranked = runner.invoke(
        app,
        [
            "rank", str(run_dir), "--data", str(path), "--label-column", "count",
            "--kind", "regression", "--output", "json",
        ],
    )  # fmt: skip
    assert ranked.exit_code == 0, ranked.output
    candidates = json.loads(ranked.stdout)["candidates"]
    assert {c["source"] for c in candidates} == {"urgent", "topic", "words", "share"}
