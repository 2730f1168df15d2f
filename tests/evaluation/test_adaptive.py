from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferscout.evaluation.adaptive import adaptive_curve, adaptive_replay


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for target in "abcd":
        for source in range(6):
            signal = rng.random()
            rows.append(
                {
                    "target": target,
                    "source": source,
                    "signal": signal,
                    "real_f1": signal,
                    "real_gain": signal - 0.5,
                    "validation_gain": signal - 0.5,
                    "hours": 1.0,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("strategy", ["greedy", "ucb"])
def test_replay_trains_every_candidate_once_and_finds_the_best_early(strategy: str) -> None:
    table = _table()
    replay = adaptive_replay(table, ["signal"], strategy=strategy, n_estimators=30, ensemble=3)
    assert len(replay) == len(table)
    assert sorted(replay["row"]) == list(range(len(table)))
    curve = adaptive_curve(replay, [1, 2, 6])
    best = table.groupby("target")["real_f1"].max().mean()
    assert curve["best_f1"].iloc[-1] == pytest.approx(best)
    assert curve["hours"].tolist() == [4.0, 8.0, 24.0]
    # The signal is the F1 itself: the learned model finds each target's best almost at once.
    assert curve["best_f1"].iloc[1] >= best - 0.05


def test_max_steps_and_bad_strategy() -> None:
    replay = adaptive_replay(_table(), ["signal"], max_steps=2, n_estimators=10)
    assert replay.groupby("target").size().tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="strategy"):
        adaptive_replay(_table(), ["signal"], strategy="thompson")
