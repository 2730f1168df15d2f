"""The attribution cache is content-addressed: a document id alone never finds a row."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.encoders import load_encoder
from transferscout.kinds import SpanTarget
from transferscout.signals.attributions import (
    AttributionCache,
    AttributionSettings,
    attribute_documents,
    document_key,
)

SETTINGS = AttributionSettings(n_steps=6, max_length=32)


def test_document_key_covers_text_pair_and_target() -> None:
    key = document_key("0", "need food now", None, 1)
    assert key.startswith("0:") and len(key) == len("0:") + 16
    assert key == document_key("0", "need food now", None, 1)  # deterministic
    others = {
        document_key("1", "need food now", None, 1),
        document_key("0", "send water now", None, 1),
        document_key("0", "need food now", "", 1),
        document_key("0", "need food now", None, 0),
        document_key("0", "need food now", None, ((0, 1),)),
        document_key("0", "need food now", None, ((0, 2),)),
        document_key("0", "need food now", None, SpanTarget(0, 4)),
        document_key("0", "need food now", None, SpanTarget(0, 5)),
    }
    assert key not in others and len(others) == 8
    assert document_key("0", "a", None, np.int64(1)) == document_key("0", "a", None, 1)
    # a single text's key is as before issue 31.8 (its baseline did not change); a pair's
    # names the baseline that keeps its middle separator, so earlier pair rows are not read
    content = json.dumps(["need food now", None, 1], ensure_ascii=False)
    assert key == "0:" + hashlib.sha256(content.encode()).hexdigest()[:16]
    old_pair = json.dumps(["need food now", "", 1], ensure_ascii=False)
    assert document_key("0", "need food now", "", 1) != (
        "0:" + hashlib.sha256(old_pair.encode()).hexdigest()[:16]
    )


def test_an_id_with_another_text_is_attributed_again(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    encoder = load_encoder(str(tiny_encoder_dir))
    cache = AttributionCache(tmp_path)
    key = AttributionCache.key("model", SETTINGS)
    old = {"0": "need food now", "1": "the bridge is down"}
    cache.add(key, *attribute_documents(encoder.model, encoder.tokenizer, old, SETTINGS))
    new = {"0": "send water here", "1": "the bridge is down"}  # same id and word count
    keys = {doc: document_key(doc, text, None, SETTINGS.target) for doc, text in new.items()}
    assert cache.missing(key, keys) == ["0"]
    fresh = attribute_documents(encoder.model, encoder.tokenizer, {"0": new["0"]}, SETTINGS)
    cache.add(key, *fresh)
    assert cache.missing(key, keys) == []
    scores = cache.word_scores(key, keys)
    np.testing.assert_array_equal(scores["0"], fresh[0]["score"].to_numpy())
    old_scores = cache.word_scores(key, {"0": document_key("0", old["0"], None, 1)})["0"]
    assert len(old_scores) == len(scores["0"]) == 3
    assert not np.array_equal(old_scores, scores["0"])
    assert cache.completeness(key, keys)["documents"] == 2.0
    assert sorted(cache.documents(key)["doc_id"]) == ["0", "0", "1"]


def test_one_text_with_two_targets_gets_two_rows(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    encoder = load_encoder(str(tiny_encoder_dir), num_labels=3)
    cache = AttributionCache(tmp_path)
    key = AttributionCache.key("model", SETTINGS)
    text = {"d": "water for the village"}
    by_target = {}
    for target in (1, 2):  # e.g. the gold class with the own task's model, else predicted
        tables = attribute_documents(
            encoder.model, encoder.tokenizer, text, SETTINGS, targets={"d": target}
        )
        keys = {"d": document_key("d", text["d"], None, target)}
        assert cache.missing(key, keys) == ["d"]
        cache.add(key, *tables)
        by_target[target] = (keys, tables[0]["score"].to_numpy())
    words = cache.words(key)
    assert len(set(words["doc_key"])) == 2 and set(words["doc_id"]) == {"d"}
    for keys, scores in by_target.values():
        assert cache.missing(key, keys) == []
        np.testing.assert_array_equal(cache.word_scores(key, keys)["d"], scores)
    assert not np.array_equal(by_target[1][1], by_target[2][1])


def test_a_cache_without_document_keys_is_not_read(tmp_path: Path) -> None:
    cache = AttributionCache(tmp_path)
    key = AttributionCache.key("model", SETTINGS)
    cache.folder.mkdir()
    old = pd.DataFrame({"doc_id": ["0"], "word_index": [0], "word": ["a"], "score": [0.5]})
    old.to_parquet(cache.folder / f"{key}.words.parquet", index=False)
    keys = {"0": document_key("0", "a", None, 1)}
    assert cache.missing(key, keys) == ["0"]
    assert cache.words(key).empty and cache.ids(key) == set()
