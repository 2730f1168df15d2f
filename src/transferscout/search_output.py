"""What a budgeted search writes: the trace, the model card, the Hugging Face model folder.

Kind-agnostic: every score is the target kind's primary metric (positive-class F1 for a
binary target, macro-F1 for a multi-class one, Spearman's rho for a regression, entity F1 for
sequence labelling, SQuAD token F1 for extractive QA), read as ``validation_<m>`` /
``test_<m>``; the columns and keys named ``*_f1`` hold it, and ``metric`` / ``metric_label``
name it.  A model card shows it and the kind's other metrics (``TaskKind.other_metrics``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from transferscout.encoders.adapter import HEADS
from transferscout.evaluation.table1 import DEGENERATE_MARK
from transferscout.grid.models import load_trained_model, trial_degenerate, trial_kind, trial_score
from transferscout.grid.store import TrialRow

__all__ = [
    "TRACE_COLUMNS",
    "export_model",
    "model_card",
    "row_summary",
    "test_score",
    "validation_score",
    "write_text_atomically",
    "write_trace",
]

TRACE_COLUMNS = [
    "step",
    "kind",
    "candidate",
    "source_learning_rate",
    "target_learning_rate",
    "predicted_f1",
    "upper_f1",
    "predicted_hours",
    "validation_f1",
    "test_f1",
    "hours",
    "total_hours",
    "best",
    "best_test_f1",
    "trial",
]


def validation_score(row: TrialRow) -> float:
    """The row's validation primary metric (-inf when it has none: it never wins)."""
    value = trial_score(row, "validation")
    return -math.inf if math.isnan(value) else value


def test_score(row: TrialRow) -> float:
    """The row's test primary metric."""
    return trial_score(row)


def row_summary(row: TrialRow, label: str) -> dict[str, Any]:
    """What a model card, a search summary and the report show of a trial."""
    config = row.config
    metrics = row.metrics or {}
    kind = trial_kind(row)
    sources = [stage["task"] for stage in config.get("chain", [])]
    if config.get("source"):
        sources.append(config["source"]["task"])
    return {
        "kind": label,
        "trial": row.id,
        "sources": sources,
        "target_settings": config["target"]["settings"],
        "source_settings": None if config.get("source") is None else config["source"]["settings"],
        "metric": kind.primary_metric,
        "metric_label": kind.metric_label,
        "validation_f1": metrics.get(f"validation_{kind.primary_metric}"),
        "test_f1": metrics.get(f"test_{kind.primary_metric}"),
        "test_metrics": {name: metrics.get(f"test_{name}") for name in kind.other_metrics},
        "hours": ((row.source_seconds or 0.0) + (row.target_seconds or 0.0)) / 3600,
        "degenerate": trial_degenerate(row),
    }


def model_card(
    name: str,
    best: tuple[TrialRow, str],
    reference: TrialRow,
    tried: tuple[int, int],
    pool: int,
    hours: float,
    budget: str,
    *,
    labels: Sequence[str] | None,
    outside_grid: Sequence[str] = (),
) -> str:
    """The Markdown model card of an exported model.

    ``best`` is the model's row and kind label; ``tried`` counts single sources and chains;
    ``labels`` are the output names (``TaskKind.output_names``); ``outside_grid`` names a chain's
    stages that are no trials of the run's configured grid.
    """
    singles, chains = tried
    row, label = best
    chosen = row_summary(row, label)
    single = row_summary(reference, "single-task")
    kind = trial_kind(row)
    metric = kind.metric_label
    outputs = "" if labels is None else " (outputs " + ", ".join(labels) + ")"
    what = f"A {kind.display_name} model for **{name}**{outputs}"
    origin = (
        "fine-tuned on the target alone (no source helped on validation)"
        if not chosen["sources"]
        else "encoder -> " + " -> ".join(chosen["sources"]) + f" -> {name}"
    )

    def cell(value: Any) -> str:
        return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

    others = kind.other_metrics
    columns = ["model", f"validation {metric}", f"test {metric}"]
    columns += [f"test {other.replace('_', ' ')}" for other in others]
    lines = [
        f"# {name}: transferscout budgeted search",
        "",
        f"{what}, {origin}.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for shown, summary in (("this model", chosen), ("single-task model", single)):
        values = [summary["validation_f1"], summary["test_f1"]]
        values += [summary["test_metrics"].get(other) for other in others]
        mark = f" {DEGENERATE_MARK}" if summary["degenerate"] else ""
        lines.append(f"| {shown}{mark} | " + " | ".join(map(cell, values)) + " |")
    flagged = [
        (shown, s["degenerate"])
        for shown, s in (("This model", chosen), ("The single-task model", single))
        if s["degenerate"]
    ]
    lines += [
        "",
        *(
            f"- {DEGENERATE_MARK} {shown} is degenerate: it {why}"
            + ("; a gain over it is no finding." if shown != "This model" else ".")
            for shown, why in flagged
        ),
        f"- Kind: {chosen['kind']}; trial id `{row.id}`.",
        f"- Target stage settings: `{json.dumps(chosen['target_settings'], sort_keys=True)}`.",
        (
            f"- Source stage ({' -> '.join(chosen['sources'])}) settings: "
            f"`{json.dumps(chosen['source_settings'], sort_keys=True)}`."
            if chosen["source_settings"] is not None
            else "- No source stage: the encoder was fine-tuned on the target alone."
        ),
        *(
            f"- Chain stage outside the run's configured grid (trained for this chain only): "
            f"{stage}."
            for stage in outside_grid
        ),
        f"- Encoder: `{row.config['encoder']['source']}` "
        f"(layers kept: {row.config['encoder']['num_layers'] or 'all'}).",
        f"- Training time of this model: {chosen['hours']:.3f} h; of the whole search "
        f"(reference models and every candidate): {hours:.3f} h.",
        f"- Candidates tried: {singles} of {pool} single-source candidates"
        + (f" and {chains} chain" if chains else "")
        + f" (budget {budget}); the model is chosen by validation {metric}, test {metric} "
        "is reported, never used to choose.",
        "",
        f"Load it with `{HEADS[trial_kind(row).head][0]}.from_pretrained(folder)` and "
        "`AutoTokenizer.from_pretrained(folder)`; "
        f"inputs were truncated to {chosen['target_settings'].get('max_length')} tokens.",
        "",
    ]
    return "\n".join(lines)


def export_model(
    run_dir: Path, row: TrialRow, labels: Sequence[str] | None, folder: Path, card: str
) -> Path:
    """Save a trial's kept weights as a Hugging Face folder with its model card.

    The folder holds ``config.json`` (outputs named by ``labels``, if any),
    ``model.safetensors``, the tokenizer, ``README.md`` (``card``) and ``transferscout.json``
    (trial id, configuration, metrics); it replaces ``folder`` only once complete.
    """
    encoder = load_trained_model(run_dir, row)
    model = encoder.model
    if labels is not None:
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {label: i for i, label in enumerate(labels)}
    temporary = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # one file, no bar
    try:
        model.save_pretrained(temporary, safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    encoder.tokenizer.save_pretrained(temporary)
    (temporary / "README.md").write_text(card, encoding="utf-8")
    payload = {"trial": row.id, "config": row.config, "metrics": row.metrics}
    (temporary / "transferscout.json").write_text(json.dumps(payload, indent=2) + "\n")
    # Every file as an ordinary file of this process (safetensors writes its file 0600).
    ordinary = (temporary / "README.md").stat().st_mode & 0o777
    for path in temporary.iterdir():
        if path.is_file():
            path.chmod(ordinary)
    shutil.rmtree(folder, ignore_errors=True)
    temporary.replace(folder)
    return folder


def write_trace(folder: Path, trace: Sequence[Mapping[Any, Any]]) -> None:
    """``trace.csv`` and ``trace.json`` in ``folder`` (each replaced as a whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(trace, columns=TRACE_COLUMNS)
    write_text_atomically(folder / "trace.csv", frame.to_csv(index=False))
    write_text_atomically(
        folder / "trace.json", json.dumps(frame.to_dict("records"), indent=2, default=float) + "\n"
    )


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file so that a reader sees the old or the new one, never half."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
