"""ANSAT between question-answering models: the span target, by hand and against Captum.

Definition (README, "ANSAT for every kind"): a QA model's F in a document is its start logit
at the piece where the answer span starts plus its end logit at the piece where it ends; the
span is the first gold answer for a question of the model's own task, else the model's
predicted best span.  Only the context's words are scored (the question's are left out).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.signals.captum_reference import captum_on_copy, relative_error
from transferscout.encoders import load_encoder
from transferscout.kinds import KINDS, SpanTarget
from transferscout.kinds.qa import Answer
from transferscout.signals.attributions import (
    AttributionSettings,
    attribute_documents,
    span_pieces,
)
from transferscout.signals.conductance import batch_documents, layer_conductance_all

QUESTION = "need food"
CONTEXT = "send food to the city"
CITY = SpanTarget(CONTEXT.index("the city"), CONTEXT.index("the city") + len("the city"))


def test_span_pieces_by_hand(tiny_encoder_dir: Path) -> None:
    tokenizer = load_encoder(str(tiny_encoder_dir), head="span").tokenizer
    encoded = tokenizer(QUESTION, CONTEXT, return_offsets_mapping=True)
    pieces = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert pieces == [
        "[CLS]",
        "need",
        "food",
        "[SEP]",
        "send",
        "food",
        "to",
        "the",
        "city",
        "[SEP]",
    ]
    in_second = [s == 1 for s in encoded.sequence_ids()]
    offsets = encoded["offset_mapping"]
    assert span_pieces(offsets, in_second, CITY) == (7, 8)  # "the" .. "city"
    food = CONTEXT.index("food")
    assert food == QUESTION.index("food") == 5  # the same characters in both texts
    # the context's "food" (piece 5), never the question's (piece 2); a partly covered
    # piece counts as inside the span
    assert span_pieces(offsets, in_second, SpanTarget(food, food + 4)) == (5, 5)
    assert span_pieces(offsets, in_second, SpanTarget(food, food + 2)) == (5, 5)
    assert span_pieces(offsets, in_second, SpanTarget(3, 3)) is None  # no span: nothing
    # cut off by truncation: the span is not in the context pieces
    short = tokenizer(
        QUESTION, CONTEXT, truncation="only_second", max_length=8, return_offsets_mapping=True
    )  # [CLS] need food [SEP] send food to [SEP]
    cut = [s == 1 for s in short.sequence_ids()]
    assert span_pieces(short["offset_mapping"], cut, CITY) is None


def test_targets_are_the_gold_span_else_the_predicted_one() -> None:
    qa = KINDS["qa"]
    assert qa.attributable and qa.needs_predictions_for_attribution
    gold = (Answer("the city", 13), Answer("city", 17))
    predicted = [Answer("food", 5), Answer("", 0)]
    targets = qa.attribution_targets([gold, None], predicted)
    assert targets == [SpanTarget(13, 21), SpanTarget(0, 0)]  # first gold answer; predicted


def test_span_conductance_equals_captum(tiny_encoder_dir: Path) -> None:
    """F = start logit at one piece + end logit at another, through every layer."""
    torch.manual_seed(0)
    encoder = load_encoder(str(tiny_encoder_dir), head="span")
    model = encoder.model.double().eval()
    tokenizer = encoder.tokenizer
    ids = [
        tokenizer(QUESTION, CONTEXT)["input_ids"],
        tokenizer("need water", "water for the village")["input_ids"],
    ]
    input_ids, mask = batch_documents(ids, tokenizer.pad_token_id)
    weights = torch.zeros((*input_ids.shape, 2), dtype=torch.float64)
    weights[0, 7, 0] = weights[0, 8, 1] = 1.0  # "the city"
    weights[1, 7, 0] = weights[1, 7, 1] = 1.0  # "village"
    special = {"baseline": "pad", "fill_id": tokenizer.pad_token_id}
    ours = layer_conductance_all(
        model, input_ids, mask, target=weights, n_steps=8, method="gausslegendre", **special
    )
    reference = captum_on_copy(model, input_ids, mask, special, 8, weights=weights)
    assert relative_error(ours.scores, reference) < 1e-8
    assert np.abs(ours.scores).max() > 1e-3  # a real signal, not two zeros agreeing


def test_a_span_target_scores_the_context_words_only(tiny_encoder_dir: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir), head="span")
    settings = AttributionSettings(n_steps=8, max_length=32)
    words, _, documents = attribute_documents(
        encoder.model,
        encoder.tokenizer,
        {"q1": QUESTION, "q2": QUESTION},
        settings,
        targets={"q1": CITY, "q2": SpanTarget(0, 0)},
        pairs={"q1": CONTEXT, "q2": CONTEXT},
    )
    one = words[words["doc_id"] == "q1"]
    assert one["word"].tolist() == CONTEXT.split()
    assert one["word_index"].tolist() == list(range(5))
    # F(x) - F(x') is the start logit at "the" plus the end logit at "city", input - baseline
    model = encoder.model.eval()
    tokenizer = encoder.tokenizer
    ids = tokenizer(QUESTION, CONTEXT, return_tensors="pt", return_special_tokens_mask=True)
    special = ids.pop("special_tokens_mask").bool()
    # the pair's baseline keeps every special token, the [SEP] between question and context too
    baseline = torch.where(special, ids["input_ids"], tokenizer.pad_token_id)
    assert int(special.sum()) == 3
    with torch.no_grad():
        at_input = model(**ids)
        at_baseline = model(input_ids=baseline, token_type_ids=ids["token_type_ids"])
    expected = sum(
        float(out.start_logits[0, 7] + out.end_logits[0, 8]) * sign
        for out, sign in ((at_input, 1.0), (at_baseline, -1.0))
    )
    difference = documents.set_index("doc_id")["endpoint_difference"]
    np.testing.assert_allclose(difference["q1"], expected, rtol=1e-4, atol=1e-5)
    # no span: nothing is attributed, every context word scores 0
    assert difference["q2"] == 0.0
    assert (words[words["doc_id"] == "q2"]["score"] == 0.0).all()
