"""distinct-n, EAD, entropy and repetition against plain Counter implementations."""

import math
import random
from collections import Counter

import numpy as np
import pytest

from evalsuite.errors import ConfigError
from evalsuite.metrics import distinct_n, diversity_entropy, ead, ngram_entropy, normalized_entropy, repetition, tokenize


def grams(tokens, n):
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def ref_distinct_corpus(token_lists, n):
    all_grams = [g for t in token_lists for g in grams(t, n)]
    return len(set(all_grams)) / len(all_grams) if all_grams else 0.0


def ref_distinct_response(token_lists, n):
    vals = [len(set(grams(t, n))) / len(grams(t, n)) if grams(t, n) else 0.0 for t in token_lists]
    return sum(vals) / len(vals)


def ref_entropy(token_lists, n):
    c = Counter(g for t in token_lists for g in grams(t, n))
    total = sum(c.values())
    return -sum(v / total * math.log(v / total) for v in c.values())


@pytest.fixture(scope="module")
def real_mix(alpaca_en, alpaca_zh):
    rng = random.Random(0)
    texts = rng.sample(alpaca_en, 150) + rng.sample(alpaca_zh, 150) + ["", "one", "a a a a a a", "a a a a a a"]
    rng.shuffle(texts)
    groups = [i % 23 for i in range(len(texts))]
    return texts, groups


@pytest.mark.integration
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("tok,lc", [("auto", False), ("auto", True), ("13a", False), ("zh", False)])
def test_distinct_and_entropy_equal_counter_versions(real_mix, n, tok, lc):
    texts, groups = real_mix
    token_lists, _ = tokenize(texts, tok, lc)
    d = distinct_n(texts, n, tokenizer=tok, lowercase=lc)
    assert d.value == pytest.approx(ref_distinct_corpus(token_lists, n), abs=1e-12)
    r = distinct_n(texts, n, tokenizer=tok, lowercase=lc, level="response")
    assert r.value == pytest.approx(ref_distinct_response(token_lists, n), abs=1e-12)
    assert ngram_entropy(texts, n, tokenizer=tok, lowercase=lc).value == pytest.approx(ref_entropy(token_lists, n), abs=1e-9)
    # within-prompt: the per-prompt corpus value, averaged over prompts
    per = []
    for g in sorted(set(groups)):
        members = [t for t, gg in zip(token_lists, groups) if gg == g]
        per.append(ref_distinct_corpus(members, n))
    w = distinct_n(texts, n, tokenizer=tok, lowercase=lc, groups=groups, mode="within")
    assert w.value == pytest.approx(sum(per) / len(per), abs=1e-12) and w.n_groups == 23
    ent_per = [ref_entropy([t for t, gg in zip(token_lists, groups) if gg == g], n) for g in sorted(set(groups))]
    assert ngram_entropy(texts, n, tokenizer=tok, lowercase=lc, groups=groups, mode="within").value == pytest.approx(
        np.mean(ent_per), abs=1e-9
    )


def test_distinct_hand_checked():
    assert distinct_n(["a b a b"], n=2).value == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["我爱我家"], n=1).value == pytest.approx(3 / 4)  # Chinese: one token per character
    assert distinct_n(["same answer"] * 4, n=1).value == pytest.approx(2 / 8)
    empty = distinct_n(["", "a b"], n=2, level="response")
    assert empty.value == pytest.approx(0.5) and empty.details["n_empty"] == 1 and empty.n == 2
    assert distinct_n([""], n=1).value == 0.0
    assert distinct_n(["x"], n=2).value == 0.0  # one token, no bigram
    assert "distinct|n:2|level:corpus|tok:auto|case:lc|mode:across|v:" in distinct_n(["A"], n=2, lowercase=True).signature
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        distinct_n(["a"], n=0)


def test_ead_formula_hand_checked():
    # 4 unigrams, 3 unique, V = 10: expected unique = 10 * (1 - 0.9**4) = 3.439
    r = ead(["a b a c"], n=1, vocab_size=10)
    assert r.value == pytest.approx(3 / (10 * (1 - 0.9**4)), rel=1e-12)
    assert "V:10" in r.signature
    # default V: the observed vocabulary (3 here)
    assert ead(["a b a c"], n=1).value == pytest.approx(3 / (3 * (1 - (2 / 3) ** 4)), rel=1e-12)
    # EAD removes the length bias distinct has on uniform random text
    rng = np.random.default_rng(0)
    short = [" ".join(map(str, rng.integers(0, 500, 20))) for _ in range(20)]
    long = [" ".join(map(str, rng.integers(0, 500, 200))) for _ in range(20)]
    d_s, d_l = distinct_n(short, n=1).value, distinct_n(long, n=1).value
    e_s, e_l = ead(short, n=1, vocab_size=500).value, ead(long, n=1, vocab_size=500).value
    assert d_l < 0.5 * d_s
    assert abs(e_l - e_s) < 0.05 and abs(e_l - 1) < 0.05


def test_entropy_hand_checked():
    assert ngram_entropy(["a b c d"], n=1).value == pytest.approx(math.log(4))
    assert ngram_entropy(["a b c d"], n=1, base=2).value == pytest.approx(2.0)
    assert ngram_entropy(["a a a a"], n=1).value == 0.0
    assert ngram_entropy([""], n=2).value == 0.0
    assert diversity_entropy("a b c d") == pytest.approx(1.0)
    assert diversity_entropy("a a a a") == 0.0
    assert diversity_entropy("a") == 0.0 and diversity_entropy("") == 0.0
    # H(1/2,1/4,1/4) / log 4
    assert diversity_entropy("a a b c") == pytest.approx((1.5 * math.log(2)) / math.log(4))
    assert diversity_entropy("我们我们") == pytest.approx(math.log(2) / math.log(4))
    r = normalized_entropy(["a b c d", "a a a a", ""])
    assert r.value == pytest.approx(1 / 3) and r.details["n_short"] == 1


def ref_seq_rep(tokens, n):
    g = grams(tokens, n)
    return 1 - len(set(g)) / len(g) if g else 0.0


def ref_rep_w(tokens, w):
    if not tokens:
        return 0.0
    return sum(tokens[t] in tokens[max(0, t - w) : t] for t in range(len(tokens))) / len(tokens)


def ref_rep_r(tokens):
    if not tokens:
        return 0.0
    b = grams(tokens, 2)
    c = Counter(b)
    return sum(c[x] >= 2 for x in b) / len(tokens)


@pytest.mark.integration
def test_repetition_equals_counter_versions(real_mix):
    texts, groups = real_mix
    toks, _ = tokenize(texts, "auto")
    for n in (2, 4):
        assert repetition(texts, "seq-rep", n=n).value == pytest.approx(np.mean([ref_seq_rep(t, n) for t in toks]), abs=1e-12)
        rate = np.mean([max(Counter(grams(t, n)).values(), default=0) >= 3 for t in toks])
        assert repetition(texts, "rate", n=n, k=3).value == pytest.approx(rate, abs=1e-12)
    for w in (1, 16, 128):
        assert repetition(texts, "rep-w", window=w).value == pytest.approx(np.mean([ref_rep_w(t, w) for t in toks]), abs=1e-12)
    assert repetition(texts, "rep-r").value == pytest.approx(np.mean([ref_rep_r(t) for t in toks]), abs=1e-12)
    within = repetition(texts, "seq-rep", n=4, groups=groups, mode="within").value
    per = [np.mean([ref_seq_rep(t, 4) for t, g in zip(toks, groups) if g == gg]) for gg in sorted(set(groups))]
    assert within == pytest.approx(np.mean(per), abs=1e-12)


def test_repetition_hand_checked():
    assert repetition(["a b a b a b"], "seq-rep", n=2).value == pytest.approx(1 - 2 / 5)
    # rep-w, w=2: a b a b -> positions 2 and 3 repeat within the last 2 tokens
    assert repetition(["a b a b"], "rep-w", window=2).value == pytest.approx(2 / 4)
    assert repetition(["a b c a"], "rep-w", window=2).value == 0.0
    # rep-r: bigrams ab, bc, ab -> positions 0 and 2 start a repeated bigram, over 4 tokens
    assert repetition(["a b c a b"], "rep-r").value == pytest.approx(2 / 5)
    assert repetition(["x x x", "x y z"], "rate", n=1, k=3).value == 0.5
    dup = repetition(["Same.", "Same.", "other", "Same."], "duplicates", groups=[1, 1, 1, 2], mode="within")
    # prompt 1: the second "Same." duplicates the first (1/3); prompt 2 alone: 0
    assert dup.value == pytest.approx((1 / 3 + 0) / 2)
    assert repetition(["Same.", "Same.", "other", "Same."], "duplicates").value == pytest.approx(2 / 4)
    with pytest.raises(ConfigError, match="kind must be one of"):
        repetition(["a"], "rep-x")


def test_subset_of_an_encoded_corpus_counts_like_a_fresh_one():
    from evalsuite.metrics.diversity.ngrams import encode

    texts = ["a b c d", "x y", "a b x", "q r s t u"]
    enc = encode(texts)
    sub = enc.subset(np.array([2, 0, 2]))  # vocabulary ids of "y", "q"... are absent here
    fresh = [texts[2], texts[0], texts[2]]
    for n in (1, 2, 3):
        assert distinct_n(sub, n).value == pytest.approx(distinct_n(fresh, n).value)
        assert distinct_n(sub, n).details["unique"] == distinct_n(fresh, n).details["unique"]
        assert ngram_entropy(sub, n).value == pytest.approx(ngram_entropy(fresh, n).value)
        assert repetition(sub, "seq-rep", n=n).value == pytest.approx(repetition(fresh, "seq-rep", n=n).value)


@pytest.mark.parametrize("bound", [1, 7, 2**20, 2**40, 2**62])
def test_argsort_bounded_is_a_stable_argsort(bound):
    from evalsuite.metrics.diversity.ngrams import argsort_bounded

    keys = np.random.default_rng(bound).integers(0, bound, 5000, dtype=np.int64)
    order, sorted_keys = argsort_bounded(keys, bound)  # 2**62 takes the np.argsort path
    expected = np.argsort(keys, kind="stable")
    assert np.array_equal(order, expected)
    assert np.array_equal(sorted_keys, keys[expected])
