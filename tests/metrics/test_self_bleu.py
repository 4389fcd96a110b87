"""self-BLEU against sacrebleu and nltk (the Texygen recipe), pair by pair."""

import math
import random

import numpy as np
import pytest
import sacrebleu
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from evalsuite.errors import ConfigError
from evalsuite.metrics import self_bleu, tokenize
from evalsuite.metrics.diversity.ngrams import encode
from evalsuite.metrics.diversity.self_bleu import closest_other_length, self_bleu_scores
from evalsuite.metrics.resampling import Resampling

TOL = 1e-9


def sacrebleu_scores(texts, smoothing, tok="13a", lowercase=False):
    return [
        sacrebleu.sentence_bleu(h, texts[:i] + texts[i + 1 :], smooth_method=smoothing, tokenize=tok, lowercase=lowercase).score / 100
        for i, h in enumerate(texts)
    ]


def nltk_scores(token_lists, max_order=4):
    weights = (1.0 / max_order,) * max_order
    sm = SmoothingFunction().method1
    return [
        sentence_bleu(token_lists[:i] + token_lists[i + 1 :], h, weights=weights, smoothing_function=sm)
        for i, h in enumerate(token_lists)
    ]


def ours(texts, smoothing, tok="13a", max_order=4, lowercase=False):
    enc = encode(texts, tok, lowercase)
    return self_bleu_scores(enc, np.zeros(enc.n_docs, dtype=np.int64), 1, max_order, smoothing)


def mix(real, n, seed):
    """Real answers plus the hard cases: exact and partial duplicates, very short ones."""
    rng = random.Random(seed)
    texts = rng.sample(real, n)
    texts += [texts[0], texts[1][: len(texts[1]) // 2], texts[2] + " " + texts[3][:80]]
    texts += ["Yes.", "No", "Yes.", "the the the the", "OK", "42"]
    rng.shuffle(texts)
    return texts


@pytest.mark.integration
@pytest.mark.parametrize("smoothing", ["exp", "floor", "none"])
def test_equals_sacrebleu_on_real_english(alpaca_en, smoothing):
    texts = mix(alpaca_en, 35, seed=1)
    np.testing.assert_allclose(ours(texts, smoothing), sacrebleu_scores(texts, smoothing), rtol=0, atol=TOL)


@pytest.mark.integration
def test_equals_sacrebleu_on_real_chinese_with_zh_tokenizer(alpaca_zh):
    texts = mix(alpaca_zh, 30, seed=2)
    np.testing.assert_allclose(ours(texts, "exp", tok="zh"), sacrebleu_scores(texts, "exp", tok="zh"), rtol=0, atol=TOL)


@pytest.mark.integration
def test_equals_sacrebleu_lowercased(alpaca_eval_instructions):
    texts = mix(alpaca_eval_instructions, 40, seed=3) + ["WRITE A POEM", "write a poem"]
    np.testing.assert_allclose(
        ours(texts, "exp", lowercase=True), sacrebleu_scores(texts, "exp", lowercase=True), rtol=0, atol=TOL
    )


@pytest.mark.integration
@pytest.mark.parametrize("max_order", [1, 2, 4])
def test_equals_nltk_texygen_recipe(alpaca_en, max_order):
    texts = mix(alpaca_en, 35, seed=4)
    token_lists, _ = tokenize(texts, "13a")
    got = self_bleu_scores(encode(token_lists), np.zeros(len(texts), dtype=np.int64), 1, max_order, "method1")
    np.testing.assert_allclose(got, nltk_scores(token_lists, max_order), rtol=0, atol=TOL)


@pytest.mark.integration
def test_equals_nltk_on_chinese_characters(alpaca_zh):
    texts = mix(alpaca_zh, 40, seed=5)
    token_lists, _ = tokenize(texts, "auto")
    got = self_bleu(token_lists, smoothing="method1")
    assert math.isclose(got.value, float(np.mean(nltk_scores(token_lists))), abs_tol=TOL)
    assert "tok:pre" in got.signature


@pytest.mark.integration
def test_within_prompt_equals_per_group_loop(alpaca_en):
    rng = random.Random(6)
    texts, groups = [], []
    for g in range(15):
        size = rng.choice([1, 2, 3, 5, 8])
        base = rng.sample(alpaca_en, 2)
        for _ in range(size):  # samples of one prompt share material, as real ones do
            texts.append(rng.choice(base)[: rng.randint(20, 400)] + " " + rng.choice(alpaca_en)[:60])
            groups.append(f"p{g}")
    got = self_bleu(texts, smoothing="exp", groups=groups, mode="within")
    means = []
    for g in dict.fromkeys(groups):
        members = [t for t, gg in zip(texts, groups) if gg == g]
        if len(members) > 1:
            means.append(np.mean(sacrebleu_scores(members, "exp")))
    assert math.isclose(got.value, float(np.mean(means)), abs_tol=TOL)
    assert got.details["groups_undefined"] == sum(1 for g in dict.fromkeys(groups) if groups.count(g) == 1)


def test_closest_other_length_tie_rules():
    lengths = np.array([10, 8, 12, 5, 5, 30])
    groups = np.array([0, 0, 0, 1, 1, 2])
    # 10 is 2 away from both 8 and 12: the shorter wins (sacrebleu and nltk agree)
    assert closest_other_length(lengths, groups).tolist() == [8, 10, 10, 5, 5, -1]


def test_hand_checked_cases():
    # identical responses: every hypothesis is matched completely
    assert self_bleu(["a b c d e"] * 3).value == 1.0
    # a single response has no references: undefined, not 0 or 1
    single = self_bleu(["only one answer here"])
    assert math.isnan(single.value) and single.details["n_scored"] == 0
    # one-token responses. nltk method1 keeps all 4 orders: "x" vs {"y","x"} has
    # p1 = 1/1 and p2..p4 = 0.1/max(1, 0), so 0.1 ** 0.75; "y" has no match -> 0.
    r = self_bleu(["x", "y", "x"], smoothing="method1")
    assert r.value == pytest.approx(2 * 0.1**0.75 / 3, abs=1e-12)
    # sacrebleu's effective order drops the orders a 1-token hypothesis lacks: "x" -> 1
    assert self_bleu(["x", "y", "x"], smoothing="exp").value == pytest.approx(2 / 3, abs=1e-12)
    # an empty response scores 0 and is counted, not dropped
    r = self_bleu(["", "a b c", "a b c"], smoothing="exp")
    assert r.n == 3 and r.details["n_scored"] == 3 and r.value == pytest.approx(2 / 3, abs=1e-12)
    # nltk: the 3-token hypotheses have no 4-gram, p4 = 0.1 / max(1, 0)
    assert self_bleu(["", "a b c", "a b c"]).value == pytest.approx(2 * 0.1**0.25 / 3, abs=1e-12)
    # exp vs method1 on a case with no bigram match:
    # hyp "a b" vs refs {"b a"}: p1 = 2/2, p2 = 0/1 -> method1 0.1/1, exp 1/(2*1)
    m1 = ours(["a b", "b a"], "method1", max_order=2)[0]
    ex = ours(["a b", "b a"], "exp", max_order=2)[0]
    assert m1 == pytest.approx(math.sqrt(1.0 * 0.1)) and ex == pytest.approx(math.sqrt(1.0 * 0.5))


def test_sample_size_in_signature_and_deterministic(alpaca_en):
    texts = alpaca_en[:120]
    a = self_bleu(texts, sample_size=50, seed=3)
    b = self_bleu(texts, sample_size=50, seed=3)
    c = self_bleu(texts, sample_size=50, seed=4)
    assert a.value == b.value and a.n == 50
    assert "N:50" in a.signature and "sample:50/s3" in a.signature
    assert a.value != c.value
    # N is the pool actually scored, so "all of 120" and "all of 60" differ
    assert "|N:120|" in self_bleu(texts).signature and "|N:60|" in self_bleu(texts[:60]).signature
    assert "|N:2-3|" in self_bleu(["a", "b", "c", "d", "e"], groups=[1, 1, 2, 2, 2], mode="within").signature


def test_ci_and_errors():
    texts = ["a b c d", "a b c e", "x y z w", "a b x y", "q r s t", "a b c d"]
    r = self_bleu(texts, resampling=Resampling(ci=True, n_boot=200), groups=[1, 1, 2, 2, 3, 3])
    assert r.ci[0] <= r.value <= r.ci[1]
    with pytest.raises(ConfigError, match="smoothing must be one of"):
        self_bleu(texts, smoothing="add-k")
    with pytest.raises(ConfigError, match="sample_size"):
        self_bleu(texts, sample_size=1)
    with pytest.raises(ConfigError, match="needs groups"):
        self_bleu(texts, mode="within")


def test_within_prompt_with_interleaved_groups_and_sampling():
    # groups not contiguous in the input: the result must not depend on the order
    rng = random.Random(7)
    words = "the cat dog sat on a mat log and ran far away".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(30)]
    groups = [i % 4 for i in range(30)]
    got = self_bleu(texts, smoothing="exp", groups=groups, mode="within")
    order = sorted(range(30), key=lambda i: groups[i])
    again = self_bleu([texts[i] for i in order], smoothing="exp", groups=[groups[i] for i in order], mode="within")
    means = [np.mean(sacrebleu_scores([t for t, g in zip(texts, groups) if g == k], "exp")) for k in range(4)]
    assert got.value == pytest.approx(float(np.mean(means)), abs=TOL) == again.value
    # a fixed-size sample per prompt: 3 of each prompt's 7-8 samples, scored exactly
    s = self_bleu(texts, smoothing="exp", groups=groups, mode="within", sample_size=3, seed=1)
    assert "|N:3|" in s.signature and s.n == 12


@pytest.mark.integration
def test_equals_fast_bleu(alpaca_en):
    fast_bleu = pytest.importorskip("fast_bleu")
    texts = mix(alpaca_en, 40, seed=8)
    token_lists, _ = tokenize(texts, "13a")
    enc = encode(token_lists)
    zeros = np.zeros(len(texts), dtype=np.int64)
    for order in (2, 4):
        ours = self_bleu_scores(enc, zeros, 1, order, "method1")
        ref = np.array(fast_bleu.SelfBLEU(token_lists, {order: (1 / order,) * order}).get_score()[order])
        # fast-bleu 0.0.90 is not exact: in some processes it scores a hypothesis
        # wrongly (here no. 41 in about one run in four, by 5e-4; the same
        # input is right in other processes, which points at hashing). Where
        # it disagrees, nltk decides, and ours must equal nltk.
        bad = np.flatnonzero(np.abs(ours - ref) > TOL)
        assert len(bad) <= 2, f"fast-bleu disagrees on {len(bad)} hypotheses"
        for i in bad:
            nl = sentence_bleu(token_lists[:i] + token_lists[i + 1 :], token_lists[i], weights=(1 / order,) * order,
                               smoothing_function=SmoothingFunction().method1)
            assert ours[i] == pytest.approx(nl, abs=TOL)
