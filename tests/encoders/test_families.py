"""The family matrix: every supported encoder family, end to end, on a tiny random encoder."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import keyword_rows, tent_rows, write_csv
from tests.encoders.tiny_families import ROWS, TinyFamily
from tests.run_config import KEYWORDS, tiny_config, write_config
from tests.signals.captum_reference import captum_conductance, relative_error
from transferscout.cli import app
from transferscout.encoders import (
    FAMILIES,
    Baseline,
    Encoder,
    EncoderSpec,
    encoder_fingerprint,
    load_encoder,
)
from transferscout.grid.spec import TrialSpec
from transferscout.grid.worker import TrialPayload, execute_trial
from transferscout.signals.attributions import baseline_fill_id
from transferscout.signals.conductance import batch_documents, layer_conductance_all
from transferscout.signals.embeddings import task_embedding, text_embedding
from transferscout.signals.estimators import log_maximum_evidence
from transferscout.signals.pair_stage import pooled_features
from transferscout.tasks import TaskSet
from transferscout.training.finetune import _parameter_groups
from transferscout.training.settings import StageSettings

TEXTS = [
    "we need water and food in the village",
    "help",
    "the road to the city is closed please send tents",
]

matrix = pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])


@pytest.fixture(scope="session")
def folder_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[TinyFamily], Path]:
    """Builds each family's tiny encoder once per session."""
    built: dict[str, Path] = {}

    def get(row: TinyFamily) -> Path:
        if row.name not in built:
            built[row.name] = row.build(tmp_path_factory.mktemp(f"family-{row.name}"))
        return built[row.name]

    return get


def test_every_adapter_entry_has_a_matrix_row() -> None:
    types = {load_model_type(row) for row in ROWS}
    assert types == set(FAMILIES)


def load_model_type(row: TinyFamily) -> str:
    import transformers

    return str(getattr(transformers, row.config).model_type)


@matrix
def test_loads_with_and_without_num_layers(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path]
) -> None:
    folder = folder_of(row)
    full = load_encoder(str(folder))
    cut = load_encoder(EncoderSpec(str(folder), num_layers=1))
    assert full.num_layers == 2 and cut.num_layers == 1
    assert full.hidden_size == 32
    family = full.family
    kept, original = family.layer_modules(cut.model)[0], family.layer_modules(full.model)[0]
    for (name, a), (_, b) in zip(
        kept.state_dict().items(), original.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    batch = full.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad(), family.tap(full.model) as tap:
        logits = full.model(**family.model_inputs(dict(batch))).logits
    assert len(tap.layers) == 2 and logits.shape == (3, 2)
    assert tap.representation.shape == (3, 32)
    assert torch.isfinite(tap.representation).all()


def _tapped(row: TinyFamily, folder_of: Callable[[TinyFamily], Path]):  # type: ignore[no-untyped-def]
    """The model, what the adapter captured on TEXTS, and the model's own output."""
    encoder = load_encoder(str(folder_of(row)))
    family = encoder.family
    batch = family.model_inputs(dict(encoder.tokenizer(TEXTS, padding=True, return_tensors="pt")))
    with torch.no_grad(), family.tap(encoder.model) as tap:
        output = encoder.model(**batch, output_hidden_states=True)
    return encoder.model, tap, output


def test_modernbert_layers_are_taken_before_its_final_norm(
    folder_of: Callable[[TinyFamily], Path],
) -> None:
    (row,) = [r for r in ROWS if r.name == "modernbert"]
    model, tap, output = _tapped(row, folder_of)
    last = tap.layers[-1]
    assert not torch.allclose(last, output.hidden_states[-1])  # that one is after final_norm
    torch.testing.assert_close(model.model.final_norm(last), output.hidden_states[-1])


def test_albert_representation_is_after_the_pooler_tanh(
    folder_of: Callable[[TinyFamily], Path],
) -> None:
    (row,) = [r for r in ROWS if r.name == "albert"]
    model, tap, _ = _tapped(row, folder_of)
    with torch.no_grad():
        expected = torch.tanh(model.albert.pooler(tap.layers[-1][:, 0]))
    torch.testing.assert_close(tap.representation, expected)


@matrix
def test_encoders_describe_shows_the_family(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path]
) -> None:
    result = CliRunner().invoke(app, ["encoders", "describe", str(folder_of(row))])
    assert result.exit_code == 0, result.output
    family = FAMILIES[load_model_type(row)]
    for value in family.describe().values():
        assert value in result.output


def _float64_documents(
    folder: Path, baseline: Baseline | None = None
) -> tuple[Encoder, torch.Tensor, torch.Tensor, Baseline, int | None]:
    """The encoder in float64, TEXTS as a batch, a baseline (default: the family's), its fill."""
    encoder = load_encoder(str(folder))
    encoder.model.double().eval()
    tokenizer = encoder.tokenizer
    input_ids, mask = batch_documents(
        [tokenizer(t)["input_ids"] for t in TEXTS], tokenizer.pad_token_id
    )
    baseline = baseline or encoder.family.baseline
    return encoder, input_ids, mask, baseline, baseline_fill_id(tokenizer, baseline)


@matrix
def test_conductance_equals_captum_on_each_layer_module(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path]
) -> None:
    encoder, input_ids, mask, baseline, fill = _float64_documents(folder_of(row))
    model = encoder.model
    ours = layer_conductance_all(model, input_ids, mask, n_steps=8, baseline=baseline, fill_id=fill)
    reference_model = copy.deepcopy(model)
    if row.untie is not None:
        row.untie(reference_model)
    layers = encoder.family.layer_modules(reference_model)
    assert len(layers) == 2
    reference = captum_conductance(
        reference_model,
        input_ids,
        mask,
        layers,
        baseline=baseline,
        fill_id=fill,
        n_steps=8,
        method="gausslegendre",
    )
    assert ours.scores.shape == reference.shape == (2, 3, input_ids.shape[1])
    assert relative_error(ours.scores, reference) <= 1e-8
    assert np.isfinite(ours.completeness_errors).all()


@matrix
def test_default_baseline_integrates_to_completeness(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path]
) -> None:
    encoder, input_ids, mask, baseline, fill = _float64_documents(folder_of(row))
    result = layer_conductance_all(
        encoder.model, input_ids, mask, n_steps=50, baseline=baseline, fill_id=fill
    )
    assert np.median(result.completeness_errors) < 0.05


def test_pad_baseline_is_degenerate_where_no_position_term_is_added(
    folder_of: Callable[[TinyFamily], Path],
) -> None:
    """DeBERTa-v3: a zero [PAD] row and no position term -> LayerNorm hides the path."""
    (row,) = [r for r in ROWS if r.name == "deberta-v3"]
    encoder, input_ids, mask, _, fill = _float64_documents(folder_of(row), "pad")
    pad = layer_conductance_all(
        encoder.model, input_ids, mask, n_steps=50, baseline="pad", fill_id=fill
    )
    assert np.median(pad.completeness_errors) > 0.5
    assert encoder.family.baseline == "mask"


def test_the_matrix_covers_every_tokenizer_form(
    folder_of: Callable[[TinyFamily], Path],
) -> None:
    files = {row.name: {p.name for p in folder_of(row).iterdir()} for row in ROWS}
    assert "tokenizer.json" not in files["deberta-v3"] and "spm.model" in files["deberta-v3"]
    assert "tokenizer.json" not in files["distilbert"] and "vocab.txt" in files["distilbert"]
    assert {"vocab.json", "merges.txt"} <= files["roberta"]
    assert files["modernbert"] & {"vocab.txt", "vocab.json", "spm.model"} == set()


@matrix
def test_weight_decay_exempts_biases_and_every_norm(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path]
) -> None:
    model = load_encoder(str(folder_of(row))).model
    decay, no_decay = (
        {id(p) for p in group["params"]}  # type: ignore[attr-defined]
        for group in _parameter_groups(model, 0.01)
    )
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms
    for module in norms:
        assert all(id(p) in no_decay for p in module.parameters())
    named = dict(model.named_parameters())
    assert {n for n, p in named.items() if id(p) in no_decay} == {
        n
        for n, p in named.items()
        if n.endswith("bias") or any(p is q for m in norms for q in m.parameters())
    }
    assert decay and not decay & no_decay
    if row.name == "bert":  # the exemption by name it replaces selects the same parameters
        assert {n for n, p in named.items() if id(p) in no_decay} == {
            n for n in named if n.endswith("bias") or "LayerNorm" in n
        }


def _trial(folder: Path, tasks: TaskSet, target: str, source: str | None = None) -> TrialSpec:
    spec = EncoderSpec(str(folder))
    settings = StageSettings(learning_rate=1e-3, epochs=1, batch_size=8, max_length=32)
    extra = (
        {}
        if source is None
        else {
            "source": source,
            "source_fingerprint": tasks[source].fingerprint,
            "source_settings": settings,
        }
    )
    return TrialSpec(
        kind="single" if source is None else "transfer",
        target=target,
        target_fingerprint=tasks[target].fingerprint,
        target_settings=settings,
        seed=0,
        encoder=spec,
        encoder_fingerprint=encoder_fingerprint(spec),
        **extra,  # type: ignore[arg-type]
    )


@matrix
def test_trains_a_single_task_and_a_transfer_trial_and_every_signal_is_finite(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path], tasks: TaskSet
) -> None:
    folder = folder_of(row)
    torch.set_num_threads(1)
    single = execute_trial(TrialPayload(_trial(folder, tasks, "food"), tasks["food"], device="cpu"))
    assert single.ok, single.traceback
    assert single.metrics is not None and 0 <= single.metrics["test_f1"] <= 1
    transfer = execute_trial(
        TrialPayload(
            _trial(folder, tasks, "water", source="food"),
            tasks["water"],
            source_weights=single.model_bytes,
            device="cpu",
        )
    )
    assert transfer.ok, transfer.traceback
    pretrained = load_encoder(str(folder))
    split = tasks["food"].train
    textemb = text_embedding(pretrained.model, pretrained.tokenizer, split.texts, max_length=32)
    assert textemb.shape == (32,) and np.isfinite(textemb).all()
    taskemb = task_embedding(
        pretrained.model, pretrained.tokenizer, split.texts, split.labels, max_length=32
    )
    assert sorted(taskemb) == ["layer_1", "layer_2", "pooled"]
    assert all(np.isfinite(v).all() and v.shape == (32,) for v in taskemb.values())
    features, probabilities = pooled_features(
        pretrained.model, pretrained.tokenizer, split.texts, max_length=32, batch_size=8
    )
    assert features.shape == (len(split), 32) and probabilities.shape == (len(split), 2)
    assert np.isfinite(log_maximum_evidence(features, split.labels))


RUN_CHANGES = {
    "grid.source.epochs": [2],
    "evaluation": {
        "feature_sets": ["f1", "all"],
        "rmse_ks": [1, 2],
        "bootstrap_resamples": 20,
        "random_permutations": 5,
        "n_estimators": 10,
        "adaptive": False,
    },
}


@pytest.mark.slow
@matrix
def test_the_whole_tiny_run_and_rank(
    row: TinyFamily, folder_of: Callable[[TinyFamily], Path], tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "keywords.csv", keyword_rows(45, seed=3))
    run = tiny_config({**KEYWORDS, "path": str(data)}, folder_of(row), RUN_CHANGES)
    config = write_config(tmp_path / "run.toml", run)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "report" / "report.html").is_file()
    # A balanced keyword target on 360 texts: 81 steps of the run's target settings are enough
    # for every family's tiny encoder to predict both classes, so rank passes its
    # degenerate-target check and ranks.
    target = write_csv(tmp_path / "camp.csv", tent_rows(360, seed=11))
    ranked = CliRunner().invoke(
        app,
        ["rank", str(run_dir), "--data", str(target), "--label-column", "camp", "--output", "csv"],
    )
    assert ranked.exit_code == 0, ranked.output
    table = pd.read_csv(io.StringIO(ranked.stdout))
    assert sorted(table["source"]) == ["food", "shelter", "water"]
    scores = table.drop(columns="source")  # predictions, intervals, settings, every signal
    assert len(scores.columns) > 10 and np.isfinite(scores.to_numpy(dtype=float)).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_device_trains_and_attributes_on_cuda(
    folder_of: Callable[[TinyFamily], Path], tasks: TaskSet
) -> None:
    folder = folder_of(ROWS[0])
    outcome = execute_trial(TrialPayload(_trial(folder, tasks, "food"), tasks["food"]))
    assert outcome.ok and outcome.device is not None and outcome.device.startswith("cuda")
    encoder = load_encoder(str(folder))
    model = encoder.model.to("cuda")
    input_ids, mask = batch_documents(
        [encoder.tokenizer(t)["input_ids"] for t in TEXTS], encoder.tokenizer.pad_token_id
    )
    result = layer_conductance_all(
        model, input_ids, mask, n_steps=8, fill_id=encoder.tokenizer.pad_token_id
    )
    assert np.isfinite(result.scores).all()
    features, _ = pooled_features(
        model, encoder.tokenizer, tuple(TEXTS), max_length=32, batch_size=8
    )
    assert features.shape == (3, 32) and np.isfinite(features).all()
