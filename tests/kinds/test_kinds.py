"""Every task kind answers the same questions: one parametrised matrix (a new kind = a row)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from transferscout.errors import ConfigError, DataError
from transferscout.kinds import KINDS, TaskKind, applicable_estimators, get_kind

# kind name -> (raw label cells, expected labels, class names, head width)
ROWS: dict[str, tuple[list[Any], list[Any], tuple[str, ...], int]] = {
    "binary": (["1", 0, True, "no", 1.0, "0"], [1, 0, 1, 0, 1, 0], (), 2),
    "multiclass": (
        ["news", "direct", "social", "news", "direct", "news"],
        [1, 0, 2, 1, 0, 1],
        ("direct", "news", "social"),
        3,
    ),
    "regression": (["1.5", 2, 0.25, "3", 4.0, "-1"], [1.5, 2.0, 0.25, 3.0, 4.0, -1.0], (), 1),
}


def test_the_matrix_covers_every_kind() -> None:
    assert set(ROWS) == set(KINDS)


@pytest.fixture(params=sorted(ROWS))
def row(request: pytest.FixtureRequest) -> tuple[TaskKind, list[Any], Any, tuple[str, ...], int]:
    cells, labels, classes, width = ROWS[request.param]
    return get_kind(request.param), cells, np.array(labels), classes, width


def _read(kind: TaskKind, cells: list[Any]) -> tuple[Any, tuple[str, ...]]:
    return kind.read_labels(
        cells, [f"line {i + 2}" for i in range(len(cells))], path="d.csv", column="y"
    )


def test_labels_are_read_and_the_head_has_the_right_width(row: Any) -> None:
    kind, cells, labels, classes, width = row
    got, names = _read(kind, cells)
    np.testing.assert_array_equal(got, labels)
    assert got.dtype == kind.label_dtype and names == classes
    assert kind.num_outputs(names) == width


def test_a_bad_cell_is_an_error_naming_its_line(row: Any) -> None:
    kind, cells, *_ = row
    with pytest.raises(DataError, match="line 4"):
        _read(kind, [*cells[:2], None, *cells[3:]])


def test_loss_matches_the_reference_and_outputs_have_the_head_width(row: Any) -> None:
    kind, _, labels, classes, width = row
    logits = torch.randn(len(labels), width, generator=torch.Generator().manual_seed(0))
    target = kind.label_tensor(labels)
    if kind.has_classes:
        expected = torch.nn.CrossEntropyLoss()(logits, target)
    else:
        expected = torch.nn.MSELoss()(logits.squeeze(-1), target)
    assert torch.equal(kind.loss(logits, target), expected)
    outputs = kind.outputs(logits).numpy().astype(np.float64)
    assert outputs.shape == (len(labels), width if kind.has_classes else 1)
    metrics = kind.metrics(labels, outputs)
    assert kind.primary_metric in metrics


def test_strata_caps_and_positive_documents(row: Any) -> None:
    kind, _, labels, classes, _ = row
    strata = kind.strata(labels)
    assert strata.shape[0] == len(labels) and set(np.unique(strata)) <= {0, 1}
    assert np.all(strata.sum(axis=1) <= 1) and strata.any()  # at most one stratum each
    rows = kind.cap(np.tile(labels, 5), 12, "stratified", 1, np.random.default_rng(0))
    assert len(rows) <= 12 and np.all(np.diff(rows) > 0)
    mask = kind.positive_mask(labels, labels)
    assert mask.dtype == np.bool_ and 0 < mask.sum() < len(labels)


def test_positive_documents_and_attribution_targets_by_hand() -> None:
    binary, multiclass, regression = KINDS["binary"], KINDS["multiclass"], KINDS["regression"]
    assert binary.positive_mask(np.array([1, 0, 1]), np.array([0, 0, 1])).tolist() == [
        True,
        False,
        True,
    ]
    # majority training class is 1: the others are the "positive" documents
    assert multiclass.positive_mask(np.array([0, 1, 2, 1]), np.array([1, 1, 0])).tolist() == [
        True,
        False,
        True,
        False,
    ]
    # training median is 2.0: strictly above it
    assert regression.positive_mask(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])
    ).tolist() == [False, False, True]
    outputs = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    assert binary.attribution_targets([None, 0], None) == [1, 1]
    assert multiclass.attribution_targets([2, None], outputs) == [2, 0]  # gold, else predicted
    assert regression.attribution_targets([1.5, None], None) == [0, 0]


def test_estimator_applicability_table() -> None:
    expected = {
        ("binary", "binary"): {"logme", "leep", "nce", "h_score", "h_score_shrinkage", "transrate"},
        ("regression", "multiclass"): {"logme", "h_score", "h_score_shrinkage", "transrate"},
        ("multiclass", "regression"): {"logme"},
        ("regression", "regression"): {"logme"},
        ("multiclass", "binary"): {
            "logme",
            "leep",
            "nce",
            "h_score",
            "h_score_shrinkage",
            "transrate",
        },
    }
    for (source, target), names in expected.items():
        assert applicable_estimators(get_kind(source), get_kind(target)) == names


def test_kind_specific_label_errors() -> None:
    with pytest.raises(DataError, match="1 class"):
        _read(KINDS["multiclass"], ["a", "a", "a"])
    with pytest.raises(DataError, match="not a number"):
        _read(KINDS["regression"], ["1", "two", "3"])
    with pytest.raises(DataError, match="not a number"):
        _read(KINDS["regression"], ["1", "nan", "3"])
    with pytest.raises(ConfigError, match="unknown task kind"):
        get_kind("ordinal")
    ids, names = KINDS["multiclass"].read_labels(
        [2, 0, 1], ["r1", "r2", "r3"], path="x", column="y", classes=("neg", "neu", "pos")
    )
    assert ids.tolist() == [2, 0, 1] and names == ("neg", "neu", "pos")


def test_multiclass_check_names_a_class_seen_only_in_test() -> None:
    kind = KINDS["multiclass"]
    splits = [
        ("train", np.array([0, 1, 0])),
        ("validation", np.array([0])),
        ("test", np.array([2, 1])),
    ]
    with pytest.raises(DataError, match=r"\[2\] occur in the test split but never in training"):
        kind.check("topic", splits, 1, "d.csv")


def test_relevance_maps_the_primary_metric_onto_zero_one() -> None:
    scores = np.array([0.0, 0.25, 1.0])
    for name in ("binary", "multiclass"):  # an F1 is its own relevance, exactly
        np.testing.assert_array_equal(get_kind(name).relevance(scores), scores)
    rho = np.array([-1.0, -0.5, 0.0, 0.6, 1.0])
    np.testing.assert_allclose(get_kind("regression").relevance(rho), [0, 0.25, 0.5, 0.8, 1])
    for kind in KINDS.values():
        low, high = kind.metric_range
        assert kind.relevance([low, high]).tolist() == [0.0, 1.0]
        assert kind.metric_label and kind.display_name


def test_score_label_names_one_kinds_metric_or_a_score() -> None:
    from transferscout.kinds import score_label

    assert score_label(["binary", "binary"]) == "positive F1"
    assert score_label(["regression"]) == "Spearman ρ"
    assert score_label(["binary", "multiclass"]) == "score"
