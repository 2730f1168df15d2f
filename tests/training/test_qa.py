"""Extractive QA features: windows with a stride, answer positions, spans read back as text."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.encoders.tiny_families import ROWS
from transferscout.errors import DataError, EncoderError
from transferscout.kinds.qa import Answer, qa_metrics, span_loss
from transferscout.training.qa import (
    encode_questions,
    predict_answers,
    question_batches,
    read_answers,
)

CONTEXT = "send tents to the village. send food to the city."
VILLAGE = Answer("the village", CONTEXT.index("the village"))
CITY = Answer("the city", CONTEXT.index("the city"))


def _tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory, local_files_only=True)


def test_windows_and_answer_positions_by_hand(tiny_encoder_dir: Path) -> None:
    tokenizer = _tokenizer(tiny_encoder_dir)
    # context pieces: send tents to the village . send food to the city . (12); the question
    # "send tent" is 2 and [CLS] [SEP] [SEP] 3, so a window of 11 holds 6 context pieces and
    # a stride of 2 starts windows at context pieces 0, 4 and 8
    encoded = encode_questions(
        tokenizer,
        ["send tent", "send food"],
        [CONTEXT, CONTEXT],
        [VILLAGE, CITY],
        max_length=11,
        stride=2,
    )
    assert encoded.question == [0, 0, 0, 1, 1, 1]
    assert [sum(c) for c in encoded.in_context] == [6, 6, 4] * 2
    texts = [tokenizer.decode(ids) for ids in encoded.encoded.input_ids[:3]]
    assert texts == [
        "[CLS] send tent [SEP] send tents to the village. [SEP]",
        "[CLS] send tent [SEP] village. send food to the [SEP]",
        "[CLS] send tent [SEP] to the city. [SEP]",
    ]
    # "the village" is pieces 7-8 of window 0 only (window 1 lacks "the"); "the city" is
    # pieces 5-6 of window 2 only; the other windows point at [CLS] (0)
    assert list(zip(encoded.starts, encoded.ends, strict=True)) == [
        (7, 8),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (5, 6),
    ]
    assert encoded.encoded.token_type_ids is not None
    assert encoded.encoded.token_type_ids[2] == [0, 0, 0, 0, 1, 1, 1, 1, 1]

    # reading spans back: one-hot logits at the gold pieces give the gold text
    def logits(window: int, position: int, value: float) -> np.ndarray:
        out = np.zeros(len(encoded.in_context[window]))
        out[position] = value
        return out

    starts = [logits(w, s, 4.0) for w, s in enumerate(encoded.starts)]
    ends = [logits(w, e, 4.0) for w, e in enumerate(encoded.ends)]
    # [CLS] is never read as a span: window 1 of question 0 and window 3 of question 1 then
    # have only zero-scored spans, which lose to the gold spans' 8
    assert read_answers(encoded, starts, ends, max_answer_tokens=30) == ["the village", "the city"]
    # two tokens are too long for a one-token answer: the best one-token span is then one of
    # the gold tokens (4 + 0), the earliest
    assert read_answers(encoded, starts, ends, max_answer_tokens=1) == ["the", "the"]
    # a better span in a later window of the same question wins
    starts[2] = logits(2, 6, 9.0)
    ends[2] = logits(2, 6, 9.0)
    assert read_answers(encoded, starts, ends, max_answer_tokens=30)[0] == "city"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_answers_survive_windows_in_every_family(row: Any) -> None:
    """Gold spans map to pieces and back to the same text, whatever the tokenizer's offsets."""
    with tempfile.TemporaryDirectory() as folder:
        row.tokenizer(Path(folder))
        tokenizer = _tokenizer(Path(folder))
    context = "Send  tents to Gonaives city, then water to the Hinche road now."
    answers = [Answer(t, context.index(t)) for t in ("Gonaives city", "water", "Hinche road")]
    encoded = encode_questions(
        tokenizer,
        ["where?", "what?", "which road?"],
        [context] * 3,
        answers,
        max_length=28,
        stride=10,
    )
    # the context needs several windows; an answer of at most stride + 1 = 11 pieces (here
    # "Gonaives city" is 9 in the character-level vocabularies) is whole in one of them
    assert len(encoded) > 3
    found = set()
    for w, q in enumerate(encoded.question):
        if encoded.starts[w] == 0:
            continue
        found.add(q)
        first, last = encoded.offsets[w][encoded.starts[w]], encoded.offsets[w][encoded.ends[w]]
        assert context[first[0] : last[1]].strip() == answers[q].text
        assert encoded.in_context[w][encoded.starts[w]] and encoded.in_context[w][encoded.ends[w]]
    assert found == {0, 1, 2}


def test_a_question_must_leave_room_for_the_stride(tiny_encoder_dir: Path) -> None:
    tokenizer = _tokenizer(tiny_encoder_dir)
    with pytest.raises(DataError, match="question 'q2' takes 5 tokens, leaving 3 of max_length 11"):
        encode_questions(
            tokenizer,
            ["send", "send food to the city"],
            [CONTEXT] * 2,
            None,
            max_length=11,
            stride=3,
            ids=["q1", "q2"],
        )
    slow = __import__("transformers").BertTokenizerLegacy.from_pretrained(tiny_encoder_dir)
    with pytest.raises(EncoderError, match="needs a fast tokenizer"):
        encode_questions(slow, ["send"], [CONTEXT], None, max_length=11, stride=2)


PLACES = ("village", "city", "hospital", "bridge", "road", "area")
AID = ("food", "water", "tents", "shelter", "help")
FILLER = ("rain", "storm", "people", "need", "please", "report", "news", "cold")


def _templated(n: int, seed: int) -> tuple[list[str], list[str], list[Answer]]:
    """ "send <aid> to the <place>." among filler words; the answer is the place."""
    rng = random.Random(seed)
    questions, contexts, answers = [], [], []
    for _ in range(n):
        aid, place = rng.choice(AID), rng.choice(PLACES)
        before = " ".join(rng.choices(FILLER, k=rng.randint(0, 10)))
        after = " ".join(rng.choices(FILLER, k=rng.randint(0, 10)))
        context = f"{before} send {aid} to the {place}. {after}".strip()
        questions.append(f"send {aid} to")
        contexts.append(context)
        answers.append(Answer(place, context.index(f"the {place}.") + 4))
    return questions, contexts, answers


@pytest.mark.slow
def test_a_tiny_span_model_learns_the_templated_task(tiny_encoder_dir: Path) -> None:
    from transformers import AutoModelForQuestionAnswering

    torch.manual_seed(0)
    tokenizer = _tokenizer(tiny_encoder_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_encoder_dir, local_files_only=True)
    questions, contexts, answers = _templated(96, seed=1)
    train = encode_questions(tokenizer, questions, contexts, answers, max_length=24, stride=6)
    questions, contexts, answers = _templated(32, seed=2)
    test = encode_questions(tokenizer, questions, contexts, None, max_length=24, stride=6)
    assert len(train) > 96 and len(test) > 32  # some contexts take two windows
    gold = [[a.text] for a in answers]
    before = qa_metrics(gold, predict_answers(model, test))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(6):
        model.train()
        for _, batch in question_batches(train, rng.permutation(len(train)), 16):
            starts, ends = batch.pop("start_positions"), batch.pop("end_positions")
            output = model(**batch)
            loss = span_loss(
                output.start_logits, output.end_logits, starts, ends, batch["attention_mask"]
            )
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad()
    after = qa_metrics(gold, predict_answers(model, test))
    assert after["exact_match"] > 0.9 and after["f1"] > 0.9 > before["f1"]
