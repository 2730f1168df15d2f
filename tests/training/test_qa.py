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
from transferscout.kinds import KINDS
from transferscout.kinds.qa import Answer, answer_labels
from transferscout.tasks.task import Split
from transferscout.training.data import example_batches
from transferscout.training.finetune import evaluate
from transferscout.training.qa import encode_questions, read_answers

QA = KINDS["qa"]

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
    in_context = encoded.extra["in_context"]
    assert encoded.example_of.tolist() == [0, 0, 0, 1, 1, 1]
    assert [sum(c) for c in in_context] == [6, 6, 4] * 2
    texts = [tokenizer.decode(ids) for ids in encoded.texts.input_ids[:3]]
    assert texts == [
        "[CLS] send tent [SEP] send tents to the village. [SEP]",
        "[CLS] send tent [SEP] village. send food to the [SEP]",
        "[CLS] send tent [SEP] to the city. [SEP]",
    ]
    # "the village" is pieces 7-8 of window 0 only (window 1 lacks "the"); "the city" is
    # pieces 5-6 of window 2 only; the other windows point at [CLS] (0)
    assert encoded.labels is not None
    starts, ends, lengths = zip(*encoded.labels, strict=True)
    assert lengths == (11, 11, 9, 11, 11, 9)
    assert list(zip(starts, ends, strict=True)) == [
        (7, 8),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (5, 6),
    ]
    assert encoded.texts.token_type_ids is not None
    assert encoded.texts.token_type_ids[2] == [0, 0, 0, 0, 1, 1, 1, 1, 1]

    # reading spans back: one-hot logits at the gold pieces give the gold text
    def logits(window: int, position: int, value: float) -> np.ndarray:
        out = np.zeros(len(in_context[window]))
        out[position] = value
        return out

    start_logits = [logits(w, s, 4.0) for w, s in enumerate(starts)]
    end_logits = [logits(w, e, 4.0) for w, e in enumerate(ends)]
    # [CLS] is never read as a span: window 1 of question 0 and window 3 of question 1 then
    # have only zero-scored spans, which lose to the gold spans' 8
    answers = read_answers(encoded, start_logits, end_logits, max_answer_tokens=30)
    assert answers == [VILLAGE, CITY]  # the texts, and where they start in the context
    # two tokens are too long for a one-token answer: the best one-token span is then one of
    # the gold tokens (4 + 0), the earliest
    shortest = read_answers(encoded, start_logits, end_logits, max_answer_tokens=1)
    assert shortest == [Answer("the", VILLAGE.start), Answer("the", CITY.start)]
    # a better span in a later window of the same question wins
    start_logits[2] = logits(2, 6, 9.0)
    end_logits[2] = logits(2, 6, 9.0)
    city = Answer("city", CONTEXT.index("city"))
    assert read_answers(encoded, start_logits, end_logits, max_answer_tokens=30)[0] == city
    # the kind's predictions read the same spans from the stacked (pieces, 2) outputs
    outputs = [np.stack([s, e], axis=-1) for s, e in zip(start_logits, end_logits, strict=True)]
    assert QA.predictions(encoded, outputs) == [city, CITY]


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
    assert encoded.labels is not None
    offsets, in_context = encoded.extra["offsets"], encoded.extra["in_context"]
    found = set()
    for w, (q, (start, end, _)) in enumerate(zip(encoded.example_of, encoded.labels, strict=True)):
        if start == 0:
            continue
        found.add(int(q))
        assert context[offsets[w][start][0] : offsets[w][end][1]].strip() == answers[q].text
        assert in_context[w][start] and in_context[w][end]
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


def _templated(n: int, seed: int) -> Split:
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
        answers.append((Answer(place, context.index(f"the {place}.") + 4),))
    ids = tuple(f"q{i}" for i in range(n))
    return Split(ids, tuple(questions), answer_labels(answers), tuple(contexts))


@pytest.mark.slow
def test_a_tiny_span_model_learns_the_templated_task(tiny_encoder_dir: Path) -> None:
    from transformers import AutoModelForQuestionAnswering

    torch.manual_seed(0)
    tokenizer = _tokenizer(tiny_encoder_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_encoder_dir, local_files_only=True)
    train, test = _templated(96, seed=1), _templated(32, seed=2)
    encoded = QA.encode(tokenizer, train, 24)  # stride 24 // 4 = 6
    assert len(encoded) > len(train)  # some contexts take two windows
    before = evaluate(model, tokenizer, test, max_length=24, kind=QA)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(6):
        model.train()
        for _, batch in example_batches(encoded, rng.permutation(len(encoded)), 16, QA.collate):
            labels = batch.pop("labels")
            loss = QA.loss(QA.logits(model(**batch)), labels)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad()
    after = evaluate(model, tokenizer, test, max_length=24, kind=QA)
    assert after["exact_match"] > 0.9 and after["f1"] > 0.9 > before["f1"]
