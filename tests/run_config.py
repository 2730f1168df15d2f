"""One builder for the tiny run configurations the end-to-end tests write.

:func:`tiny_config` is a whole tiny run (grid, signals, evaluation, one in-process worker on
the CPU) for any ``[data]`` section and encoder; dotted ``changes`` adjust it the way
``--set`` does on the command line, ``None`` leaving a key or section out.
:func:`grid_config` is the smallest configuration ``grid run`` accepts: the package's default
grid at 32 tokens.  :func:`write_config` writes either as a TOML file.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["KEYWORDS", "SMALL_RUN", "STAGE", "grid_config", "tiny_config", "write_config"]

#: ``[data]`` of the keyword tasks of ``tests.conftest.keyword_rows``, split 60/20/20 (add
#: the ``path``).
KEYWORDS: dict[str, Any] = {
    "label_columns": ["food", "water", "shelter"],
    "id_column": "id",
    "fractions": [0.6, 0.2, 0.2],
}

#: One setting of a tiny grid's stage: enough for the tiny encoder to learn keyword tasks.
STAGE: dict[str, Any] = {
    "learning_rate": [3e-3],
    "epochs": [3],
    "batch_size": [8],
    "max_length": [32],
}

#: Changes to :func:`tiny_config` that give the settings of ``tests.conftest.small_run``.
SMALL_RUN: dict[str, Any] = {
    "grid.target.learning_rate": [1e-3, 3e-3],
    "grid.target.epochs": [6],
    "grid.source.epochs": [6],
    "signals.ansat": {"n_steps": 6, "max_length": 32, "max_documents": 8},
    "signals.pairs": {"max_examples": 30, "max_length": 32},
}


def _tiny() -> dict[str, Any]:
    return {
        "grid": {"target": dict(STAGE), "source": dict(STAGE)},
        "signals": {
            "ansat": {"n_steps": 4, "max_length": 32, "max_documents": 4},
            "pairs": {"max_examples": 20, "max_length": 32},
        },
        "evaluation": {
            "bootstrap_resamples": 50,
            "meta_seeds": 1,
            "n_estimators": 20,
            "adaptive": False,
        },
        "executor": {"workers": 1, "threads_per_worker": 1, "device": "cpu"},
        # The end-to-end tests of the full-grid pipeline: `run` trains the whole grid (the pool
        # search's tests ask for search.mode = "pool").
        "search": {"mode": "grid"},
    }


def tiny_config(
    data: Mapping[str, Any], encoder: str | Path, changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A whole tiny run of ``data`` on ``encoder``, with dotted ``changes``.

    ``{"grid.target.epochs": [6]}`` sets one key, ``{"signals.pairs": {...}}`` a whole
    section; a value of ``None`` leaves the key or section out.
    """
    config = {"data": copy.deepcopy(dict(data)), "encoder": {"source": str(encoder)}, **_tiny()}
    for dotted, value in (changes or {}).items():
        *parents, key = dotted.split(".")
        table = config
        for parent in parents:
            table = table.setdefault(parent, {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = copy.deepcopy(value)
    return config


def grid_config(data: Mapping[str, Any], encoder: str | Path) -> dict[str, Any]:
    """The package's default grid at 32 tokens, in one process on the CPU; no other section."""
    stage = {"max_length": [32]}
    changes = {"grid.target": stage, "grid.source": stage, "signals": None, "evaluation": None}
    return tiny_config(data, encoder, {**changes, "executor.threads_per_worker": None})


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` (tables of strings, numbers, booleans and lists) as TOML to ``path``."""
    lines: list[str] = []
    _table(lines, "", config)
    text = "\n".join(lines) + "\n"
    # The file must read back as exactly what was asked for.
    assert tomllib.loads(text) == json.loads(json.dumps(config, default=str)), text
    path.write_text(text, encoding="utf-8")
    return path


def _table(lines: list[str], name: str, table: Mapping[str, Any]) -> None:
    """Keys first, then sub-tables (``[name.key]``) and arrays of tables (``[[name.key]]``)."""
    nested = {}
    for key, value in table.items():
        if isinstance(value, Mapping) or (
            isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value)
        ):
            nested[key] = value
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, value in nested.items():
        full = f"{name}.{key}" if name else key
        for item in [value] if isinstance(value, Mapping) else value:
            lines += ["", f"[{full}]" if isinstance(value, Mapping) else f"[[{full}]]"]
            _table(lines, full, item)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")
