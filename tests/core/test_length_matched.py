"""Paired length matching: both answers to a prompt cut to the shorter one's token count."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evalsuite.errors import ConfigError
from evalsuite.metrics.diversity.distinct import distinct_n
from evalsuite.metrics.diversity.length_matched import pair_truncated, truncate
from evalsuite.metrics.diversity.ngrams import encode
from evalsuite.metrics.diversity.self_bleu import self_bleu
from evalsuite.metrics.diversity.tokenize import tokenize


def test_hand_built_pairs_are_cut_to_the_shorter_answer():
    a = ["a b a b a b", "x y"]          # 6 and 2 tokens
    b = ["c d e", "p q r s t"]          # 3 and 5 tokens
    cut_a, cut_b, note = pair_truncated(a, b, tokenizer="whitespace")
    assert cut_a.lengths.tolist() == [3, 2] and cut_b.lengths.tolist() == [3, 2]
    assert note["tokens_before"] == [8, 8] and note["tokens_kept"] == [5, 5] and note["method"] == "paired-truncation"
    # By hand: side a keeps "a b a" + "x y": bigrams ab, ba, xy -> 3 distinct of 3; side b keeps "c d e" + "p q": 3 of 3.
    assert distinct_n(cut_a, 2).value == pytest.approx(1.0)
    # distinct-1 of side a: tokens a, b, a, x, y -> 4 distinct of 5.
    assert distinct_n(cut_a, 1).value == pytest.approx(4 / 5)
    assert distinct_n(cut_b, 1).value == pytest.approx(5 / 5)


def test_matched_values_equal_metrics_on_hand_truncated_token_lists(data_dir):
    rows = json.loads((data_dir / "judging/alpaca_eval_outputs/Meta-Llama-3-8B-Instruct.json").read_text())[:30]
    other = json.loads((data_dir / "judging/alpaca_eval_outputs/Llama-3-Instruct-8B-SimPO.json").read_text())[:30]
    a, b = [r["output"] for r in rows], [r["output"] for r in other]
    for tokenizer, metric in (("auto", lambda x: distinct_n(x, 2).value),
                              ("13a", lambda x: self_bleu(x, 4, tokenizer="13a").value)):
        cut_a, cut_b, note = pair_truncated(a, b, tokenizer=tokenizer)
        ta, _ = tokenize(a, tokenizer)
        tb, _ = tokenize(b, tokenizer)
        keep = [min(len(x), len(y)) for x, y in zip(ta, tb)]
        hand_a = [t[:k] for t, k in zip(ta, keep)]
        hand_b = [t[:k] for t, k in zip(tb, keep)]
        assert note["tokens_kept"] == [sum(keep), sum(keep)]
        assert metric(cut_a) == pytest.approx(metric(hand_a), abs=1e-12)
        assert metric(cut_b) == pytest.approx(metric(hand_b), abs=1e-12)
        # Cutting nothing changes nothing.
        full = encode(a, tokenizer)
        assert metric(truncate(full, full.lengths)) == pytest.approx(metric(full), abs=1e-12)


def test_errors_name_what_is_wrong():
    with pytest.raises(ConfigError, match="one answer per prompt on both sides: got 2 and 1"):
        pair_truncated(["a b", "c"], ["d"], tokenizer="whitespace")
    enc = encode(["a b", "c"], "whitespace")
    with pytest.raises(ConfigError, match="document 1 has 1 tokens, cannot keep 2"):
        truncate(enc, np.array([1, 2]))
    with pytest.raises(ConfigError, match="got 1 lengths for 2 documents"):
        truncate(enc, np.array([1]))
