"""Every task kind answers the same questions: one parametrised matrix (a new kind = a row)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from transferscout.encoders import load_encoder
from transferscout.errors import ConfigError, DataError
from transferscout.kinds import KINDS, TaskKind, applicable_estimators, get_kind
from transferscout.kinds.qa import Answer, answer_labels
from transferscout.kinds.tagging import sentence_labels
from transferscout.tasks.task import Split
from transferscout.training.data import example_batches
from transferscout.training.finetune import predict

#: The texts every row's labels belong to (a tagging row has one tag per word).
TEXTS = [
    "we need food",
    "city area",
    "send water please",
    "the village",
    "help",
    "doctor in the city",
]

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
    # tag lists, a CSV cell of space-separated tags, ClassLabel-style names; an I-LOC after
    # O (row 4) is read leniently as B-LOC
    "tagging": (
        [
            ["O", "O", "O"],
            "B-LOC I-LOC",
            ("O", "O", "O"),
            ["O", "I-LOC"],
            ["O"],
            ["B-PER", "O", "O", "B-LOC"],
        ],
        [(2, 2, 2), (0, 1), (2, 2, 2), (2, 0), (2,), (3, 2, 2, 0)],
        ("B-LOC", "I-LOC", "O", "B-PER"),
        4,
    ),
}
# part-of-speech tags (not BIO chunks): the tagging kinds scored by token accuracy or tag
# macro-F1 read them as they are, new tags sorted
_POS = (
    [["PRON", "VERB", "NOUN"], "NOUN NOUN", ["VERB", "NOUN", "INTJ"], ["DET", "NOUN"], ["INTJ"]]
    + [["NOUN", "ADP", "DET", "NOUN"]],
    [(4, 5, 3), (3, 3), (5, 3, 2), (1, 3), (2,), (3, 0, 1, 3)],
    ("ADP", "DET", "INTJ", "NOUN", "PRON", "VERB"),
    6,
)
ROWS["tagging-accuracy"] = _POS
ROWS["tagging-macro-f1"] = _POS
#: The contexts of the QA row's questions (``TEXTS``), and its answers: spans of them.
CONTEXTS = [
    "send food to the village",
    "the city area has water",
    "water for the hospital please",
    "the village needs tents",
    "help the doctor",
    "the doctor is in the city",
]
_SPANS = [("village",), ("city area",), ("hospital",), ("the village", "village"), ("doctor",)]
_SPANS += [("city",)]
ROWS["qa"] = (
    [],  # QA answers are read with their contexts from question files, not from cells
    [
        tuple(Answer(text, context.index(text)) for text in texts)
        for texts, context in zip(_SPANS, CONTEXTS, strict=True)
    ],
    (),
    2,
)
#: Declared tag names (as a ``ClassLabel`` gives them): their order is kept, new tags follow.
DECLARED = {"tagging": ("B-LOC", "I-LOC", "O")}


def test_the_matrix_covers_every_kind() -> None:
    assert set(ROWS) == set(KINDS)


def _labels(kind: TaskKind, values: list[Any]) -> Any:
    if kind.name == "qa":
        return answer_labels(values)
    if kind.label_dtype is np.object_:
        return sentence_labels(values)
    return np.array(values)


@pytest.fixture(params=sorted(ROWS))
def row(request: pytest.FixtureRequest) -> tuple[TaskKind, list[Any], Any, tuple[str, ...], int]:
    cells, labels, classes, width = ROWS[request.param]
    kind = get_kind(request.param)
    return kind, cells, _labels(kind, labels), classes, width


def _read(kind: TaskKind, cells: list[Any]) -> tuple[Any, tuple[str, ...]]:
    return kind.read_labels(
        cells,
        [f"line {i + 2}" for i in range(len(cells))],
        path="d.csv",
        column="y",
        classes=DECLARED.get(kind.name),
    )


def test_labels_are_read_and_the_head_has_the_right_width(row: Any) -> None:
    kind, cells, labels, classes, width = row
    if kind.name == "qa":  # no label column: question files ([[data.questions]])
        with pytest.raises(ConfigError, match=r"\[\[data.questions\]\]"):
            _read(kind, ["x"])
        assert kind.num_outputs(()) == width
        assert kind.output_names("y", ()) is None  # start and end logits, not classes
        return
    got, names = _read(kind, cells)
    assert got.tolist() == labels.tolist()
    assert got.dtype == kind.label_dtype and names == classes
    assert kind.num_outputs(names) == width
    kind.check_texts(TEXTS, got, ["r"] * len(TEXTS), path="d.csv", column="y")
    # A saved model names its outputs: binary after the task, multi-class by class, tagging by
    # tag, regression not at all.
    expected = {"binary": ["not y", "y"], "regression": None}
    assert kind.output_names("y", names) == expected.get(kind.name, list(names))


def test_a_bad_cell_is_an_error_naming_its_line(row: Any) -> None:
    kind, cells, *_ = row
    if not cells:
        pytest.skip(f"{kind.name} labels are not read from cells")
    with pytest.raises(DataError, match="line 4"):
        _read(kind, [*cells[:2], None, *cells[3:]])


def test_fingerprint_bytes_are_stable_and_tell_labels_apart(row: Any) -> None:
    kind, _, labels, *_ = row
    assert kind.label_bytes(labels) == kind.label_bytes(labels.copy())
    assert kind.label_bytes(labels) != kind.label_bytes(labels[::-1])


def test_loss_matches_the_reference_and_predictions_are_scored(
    row: Any, tiny_encoder_dir: Path
) -> None:
    """The kind's head, encoding, batches, loss and metrics on a real tiny model."""
    kind, _, labels, classes, width = row
    torch.manual_seed(0)
    encoder = load_encoder(tiny_encoder_dir, num_labels=width, head=kind.head)
    pairs = tuple(CONTEXTS) if kind.name == "qa" else None
    split = Split(tuple(map(str, range(len(TEXTS)))), tuple(TEXTS), labels, pairs)
    encoded = kind.encode(encoder.tokenizer, split, 16)
    ((_, batch),) = example_batches(encoded, np.arange(len(encoded)), 16, kind.collate)
    target = batch.pop("labels")
    logits = kind.logits(encoder.model(**batch))
    if kind.head == "span":  # start and end cross-entropy over each window's own pieces
        terms = [
            torch.nn.functional.cross_entropy(logits[w, : target[w, 2], side], target[w, side])
            for w in range(len(target))
            for side in (0, 1)
        ]
        expected = torch.stack(terms).mean()
        assert target[:, 0].tolist() != [0] * len(target)  # the answers are inside the windows
    elif not kind.has_classes:
        expected = torch.nn.MSELoss()(logits.squeeze(-1), target)
    else:  # one class per text, or a tag per word on its first piece (the rest ignored)
        assert int((target >= 0).sum()) == sum(np.size(x) for x in labels)
        expected = torch.nn.CrossEntropyLoss()(logits.reshape(-1, width), target.reshape(-1))
    assert torch.allclose(kind.loss(logits, target), expected)
    outputs = kind.outputs(logits)
    assert outputs.shape[-1] == (width if kind.has_classes or kind.head == "span" else 1)
    predictions = predict(encoder.model, encoder.tokenizer, split, max_length=16, kind=kind)
    metrics = kind.metrics(labels, predictions, classes=classes)
    assert kind.primary_metric in metrics
    assert set(kind.other_metrics) <= set(metrics) - {kind.primary_metric}  # a card's columns


def test_strata_caps_and_positive_documents(row: Any) -> None:
    kind, _, labels, classes, _ = row
    strata = kind.strata(labels)
    assert strata.shape[0] == len(labels) and set(np.unique(strata)) <= {0, 1}
    assert strata.any()
    rows = kind.cap(np.tile(labels, 5), 12, "stratified", 1, np.random.default_rng(0))
    assert len(rows) <= 12 and np.all(np.diff(rows) > 0)
    mask = kind.positive_mask(labels, labels)
    assert mask.dtype == np.bool_ and 0 < mask.sum() < len(labels) + (kind.name == "qa")


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
    # tagging: sentences with a word not of the training data's commonest tag (O = id 2)
    tagging = KINDS["tagging"]
    sentences = _labels(tagging, [(2, 2), (0, 1, 2), (2,), (3,)])
    reference = _labels(tagging, [(2, 2, 0), (2,)])
    assert tagging.positive_mask(sentences, reference).tolist() == [False, True, False, True]
    # the entity words' tags: gold for a sentence of the task, else the predicted ones
    predicted = [[0, 2, 2], [2, 3, None]]  # the first is not read (gold is known)
    targets = tagging.attribution_targets([sentences[1], None], predicted, reference=reference)
    assert targets == [((0, 0), (1, 1)), ((1, 3),)]
    # QA: every question has an answer; the span attributed is the first gold answer, else
    # the predicted one (see tests/signals/test_ansat_qa.py)
    qa = KINDS["qa"]
    assert qa.positive_mask(_labels(qa, ROWS["qa"][1][:2]), _labels(qa, [])).tolist() == [
        True,
        True,
    ]
    assert qa.attributable


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
        # tagging targets: token features with token tags; LEEP/NCE need a tagger's tags
        ("tagging", "tagging"): {
            "logme",
            "leep",
            "nce",
            "h_score",
            "h_score_shrinkage",
            "transrate",
        },
        ("binary", "tagging"): {"logme", "h_score", "h_score_shrinkage", "transrate"},
        ("regression", "tagging"): {"logme", "h_score", "h_score_shrinkage", "transrate"},
        # a tagger as the source of a text target: its first-token state, no class outputs
        ("tagging", "multiclass"): {"logme", "h_score", "h_score_shrinkage", "transrate"},
        ("tagging", "regression"): {"logme"},
        # QA targets: spans are neither classes nor values, so no estimator is defined; a QA
        # model as a source: its first-token state, no class outputs
        ("binary", "qa"): set(),
        ("qa", "qa"): set(),
        ("qa", "binary"): {"logme", "h_score", "h_score_shrinkage", "transrate"},
        ("qa", "tagging"): {"logme", "h_score", "h_score_shrinkage", "transrate"},
        ("qa", "regression"): {"logme"},
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
    with pytest.raises(DataError) as info:
        kind.check("topic", splits, 1, "d.csv", classes=("food", "water", "tents"))
    assert str(info.value).startswith(
        "d.csv: task 'topic': class 'tents' occurs in the test split but never in training;"
    )
    splits[2] = ("test", np.array([3, 2]))
    with pytest.raises(DataError, match="task 'topic': classes 'tents', 'rain' occur in the test"):
        kind.check("topic", splits, 1, "d.csv", classes=("food", "water", "tents", "rain"))


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


def test_the_documented_signal_table_for_every_pair_of_kinds() -> None:
    """README "Task kinds", the table of signals: every (source, target) pair of kinds."""
    features = {"logme", "h_score", "h_score_shrinkage", "transrate"}
    documented_outputs = {  # target -> the sources whose outputs LEEP/NCE read
        "binary": {"binary", "multiclass"},
        "multiclass": {"binary", "multiclass"},
        "regression": set(),
        "tagging": {"tagging", "tagging-accuracy", "tagging-macro-f1"},
        "tagging-accuracy": {"tagging", "tagging-accuracy", "tagging-macro-f1"},
        "tagging-macro-f1": {"tagging", "tagging-accuracy", "tagging-macro-f1"},
        "qa": set(),
    }
    for source in KINDS:
        for target in KINDS:
            expected = {"logme"} if target == "regression" else set(features)
            if target == "qa":  # spans: no estimator
                expected = set()
            if source in documented_outputs[target]:
                expected |= {"leep", "nce"}
            assert applicable_estimators(KINDS[source], KINDS[target]) == expected, (
                source,
                target,
            )
    # ANSAT: between attributable kinds with the same head (what is attributed carries over);
    # every kind is attributable (QA: the span's start and end logits)
    assert all(kind.attributable for kind in KINDS.values())
    assert {name for name, kind in KINDS.items() if kind.head == "sequence"} == {
        "binary",
        "multiclass",
        "regression",
    }
    assert KINDS["tagging"].head == "token" and KINDS["qa"].head == "span"


def _judged(kind: TaskKind, labels: Any, outputs: Any, classes: tuple[str, ...] = ()) -> Any:
    """The kind's verdict on a model with these validation outputs, from its stored metrics."""
    metrics = kind.metrics(labels, outputs, classes=classes)
    return kind.degenerate({f"validation_{key}": value for key, value in metrics.items()})


def _one_hot(predicted: list[int], width: int) -> np.ndarray:
    return np.eye(width)[predicted]


def test_degenerate_models_by_hand_for_every_kind() -> None:
    binary = get_kind("binary")
    balanced = np.array([1] * 20 + [0] * 20)
    # 39 of 40 predicted positive: 1 negative prediction < 0.1 x 20 negatives.
    reason = _judged(binary, balanced, _one_hot([1] * 39 + [0], 2))
    assert reason == (
        "predicts positive for 39 of 40 validation examples (20 are not positive; 1 "
        "predictions are not)"
    )
    assert _judged(binary, balanced, _one_hot([1] * 38 + [0] * 2, 2)) is None  # 2 = 0.1 x 20
    assert "predicts negative for 40 of 40" in _judged(binary, balanced, _one_hot([0] * 40, 2))
    # A rare class (2 of 40) predicted 3 times: 92.5% negative, but not degenerate.
    rare = np.array([1, 1] + [0] * 38)
    assert _judged(binary, rare, _one_hot([1, 1, 1] + [0] * 37, 2)) is None
    assert _judged(binary, rare, _one_hot([0] * 40, 2)) is not None
    # Stored binary trials always had the counts; metrics without them are not judged.
    assert binary.degenerate({"validation_f1": 0.0}) is None

    multiclass = get_kind("multiclass")
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10)
    # class 1 for 29 of 30: 1 other prediction < 0.1 x 20 examples of other classes
    assert "for 29 of 30 validation examples (20 are not one class; 1" in _judged(
        multiclass, labels, _one_hot([1] * 29 + [2], 3)
    )
    assert _judged(multiclass, labels, _one_hot([1] * 28 + [0, 2], 3)) is None
    assert multiclass.degenerate({"validation_macro_f1": 0.3}) is None

    regression = get_kind("regression")
    values = np.array([0.0, 1.0, 2.0, 3.0])
    constant = np.full((4, 1), 1.5) + np.array([[0.0], [1e-4], [0.0], [0.0]])
    assert "predicts a constant on the validation examples" in _judged(
        regression, values, constant
    )  # sd 4.3e-5 < 1e-3 x 1.118
    assert _judged(regression, values, np.array([[1.0], [1.1], [1.0], [1.2]])) is None

    tagging = get_kind("tagging")
    tags = ("B-LOC", "I-LOC", "O")
    gold = [[0, 1, 2], [2, 2], [0, 2]]  # 3 entity words of 7
    assert "predicts one tag for 7 of 7 validation words (3 are not one tag; 0" in _judged(
        tagging, gold, [[2, 2, 2], [2, 2], [2, 2]], tags
    )
    assert _judged(tagging, gold, [[0, 2, 2], [2, 2], [2, 2]], tags) is None  # 1 >= 0.3

    qa = get_kind("qa")
    assert qa.degenerate({"validation_f1": 0.0, "validation_exact_match": 0.0}) is None
    assert {kind.degenerate_rule != "" for kind in KINDS.values()} == {True}
