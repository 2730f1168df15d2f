from __future__ import annotations

from pathlib import Path

import pytest

from transferscout.config import load_config

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configurations_are_valid(path: Path) -> None:
    config = load_config(path)
    assert config.grid.spec().target_settings


def test_there_are_examples() -> None:
    assert EXAMPLES
