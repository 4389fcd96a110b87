"""The ``diversity`` package's metrics (0.3.1) reproduced: its own modules run in the same test on real
English and Chinese text. Installed with ``pip install --no-deps diversity==0.3.1`` (scripts/setup.sh);
its ``__init__`` imports spaCy-based modules, so the single module files are loaded directly."""

from __future__ import annotations

import gzip
import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest

from evalsuite.metrics.diversity.compression import compression_ratio
from evalsuite.metrics.diversity.homogenization import homogenization_bleu, homogenization_rougel
from evalsuite.metrics.diversity.lcs import lcs_index, pairwise_f1, rouge_tokens
from evalsuite.metrics.diversity.shaib import chamfer, ngram_diversity, remote_clique, self_repetition
from evalsuite.metrics.resampling import Resampling


def package_module(name: str):
    spec = importlib.util.find_spec("diversity")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the diversity package is not installed: pip install --no-deps diversity==0.3.1")
    path = Path(next(iter(spec.submodule_search_locations))) / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"_diversity_pkg_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def sample(texts: list[str], n: int, seed: int) -> list[str]:
    return random.Random(seed).sample(texts, n)


def test_ngram_diversity_and_self_repetition_equal_the_package(alpaca_en, alpaca_zh):
    ng, sr = package_module("ngram_diversity"), package_module("self_repetition")
    for texts in (sample(alpaca_en, 300, 0), sample(alpaca_zh, 300, 1), alpaca_en[:40], ["", "a  b", "a\nb a", " "]):
        # the package rounds n-gram diversity to 3 decimals and leaves self-repetition unrounded
        assert round(ngram_diversity(texts).value, 3) == ng.ngram_diversity_score(texts)
        assert self_repetition(texts).value == pytest.approx(sr.self_repetition_score(texts, verbose=False), abs=1e-9)
        for n in (2, 3):
            assert self_repetition(texts, n=n).value == pytest.approx(sr.self_repetition_score(texts, n=n, verbose=False),
                                                                      abs=1e-9)
        assert round(ngram_diversity(texts, num_n=2).value, 3) == ng.ngram_diversity_score(texts, num_n=2)


def test_within_mode_is_the_package_per_prompt(alpaca_en):
    ng, sr = package_module("ngram_diversity"), package_module("self_repetition")
    texts = sample(alpaca_en, 60, 2)
    groups = [i % 6 for i in range(60)]
    members = [[t for t, g in zip(texts, groups) if g == k] for k in range(6)]
    within = ngram_diversity(texts, groups=groups, mode="within").value
    assert within == pytest.approx(np.mean([ng.ngram_diversity_score(m) for m in members]), abs=6e-4)
    within = self_repetition(texts, groups=groups, mode="within").value
    assert within == pytest.approx(np.mean([sr.self_repetition_score(m, verbose=False) for m in members]), abs=1e-9)


def test_chinese_is_one_word_per_run_under_the_package_and_the_cjk_variant_says_so():
    ng = package_module("ngram_diversity")
    texts = ["我喜欢猫", "我喜欢狗", "我喜欢猫"]
    package_like, cjk = ngram_diversity(texts, num_n=2), ngram_diversity(texts, num_n=2, tokenizer="auto")
    # by hand: three "words", two distinct; two bigrams, both distinct
    assert package_like.value == pytest.approx(2 / 3 + 1) and ng.ngram_diversity_score(texts, num_n=2) == 1.667
    assert "tok:split(' ')" in package_like.signature and "tok:auto" in cjk.signature
    assert cjk.value < package_like.value  # characters repeat across the three answers


def test_homogenization_rougel_equals_the_package(alpaca_en, alpaca_zh):
    h = package_module("homogenization")
    for texts in (sample(alpaca_en, 14, 3), sample(alpaca_zh, 14, 4), ["same text", "same text", "same text"],
                  ["完全不同", "另一个回答"]):
        ours = homogenization_rougel(texts).value
        assert round(ours, 3) == h.homogenization_score(texts, verbose=False)
    # rouge_score drops non-ASCII characters: Chinese without Latin letters or digits has no tokens, every
    # pair scores 0 and the package's zero rule reports 1.0; the CJK-aware variant measures the text
    assert homogenization_rougel(["完全不同", "另一个回答"]).value == 1.0
    assert homogenization_rougel(["完全不同", "另一个回答"], package_zero_rule=False).value == 0.0
    cjk = homogenization_rougel(["我喜欢猫", "我喜欢狗"], tokenizer="auto")
    assert "tok:auto" in cjk.signature and "zero:no" in cjk.signature
    # one token per character: LCS 我喜欢, 3 of 4 and 4 tokens, F = 2 * 3 / 8
    assert rouge_tokens(["我喜欢猫", "我喜欢狗"], "auto") == [["我", "喜", "欢", "猫"], ["我", "喜", "欢", "狗"]]
    assert cjk.value == pytest.approx(0.75)


def test_bit_parallel_lcs_equals_rouge_score_pair_by_pair(alpaca_en):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    texts = sample(alpaca_en, 20, 5) + ["", "a", "a b a b a", "b a b"]
    matrix = pairwise_f1(lcs_index(rouge_tokens(texts)))
    expected = np.array([[scorer.score(a, b)["rougeL"].fmeasure for b in texts] for a in texts])
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-12)
    # random token sequences with many repeats (the hard case for bit-parallel LCS), against the table
    rng = np.random.default_rng(0)
    from rouge_score.rouge_scorer import _lcs_table

    for _ in range(200):
        a = [str(t) for t in rng.integers(0, 4, rng.integers(0, 90))]
        b = [str(t) for t in rng.integers(0, 4, rng.integers(0, 90))]
        index = lcs_index([a, b])
        assert index.lcs(0, 1) == (_lcs_table(a, b)[-1][-1] if a and b else 0)


def test_homogenization_bleu_equals_sacrebleu_corpus_bleu(alpaca_en):
    import sacrebleu

    texts = sample(alpaca_en, 25, 6)
    per_text = []
    for i, ref in enumerate(texts):
        others = [t for j, t in enumerate(texts) if j != i]
        bleu = sacrebleu.corpus_bleu(others, [[ref] * len(others)], smooth_method="none", tokenize="13a")
        per_text.append(bleu.score / 100)
    assert homogenization_bleu(texts).value == pytest.approx(np.mean(per_text), abs=1e-12)


def test_remote_clique_and_chamfer_equal_the_package_given_the_same_embeddings(monkeypatch):
    emb = package_module("embedding")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 24)) + rng.normal(size=24)  # correlated, so distances spread

    class FixedEncoder:
        def __init__(self, *args, **kwargs):
            pass

        def encode(self, data, **kwargs):
            return x[: len(data)]

    monkeypatch.setattr(emb, "SentenceTransformer", FixedEncoder)
    texts = [str(i) for i in range(40)]
    assert round(remote_clique(x).value, 3) == emb.remote_clique(texts, verbose=False)
    assert round(chamfer(x).value, 3) == emb.chamfer_dist(texts, verbose=False)
    # by hand: all pairs with the zero diagonal in the mean; the nearest other response
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - u @ u.T
    np.fill_diagonal(d, 0)
    assert remote_clique(x).value == pytest.approx(d.mean(), abs=1e-9)
    np.fill_diagonal(d, np.inf)
    assert chamfer(x).value == pytest.approx(d.min(axis=1).mean(), abs=1e-9)
    groups = [i // 10 for i in range(40)]
    within = chamfer(x, groups=groups, mode="within").value
    assert within == pytest.approx(np.mean([d[k:k + 10, k:k + 10].min(axis=1).mean() for k in range(0, 40, 10)]))


def test_compression_ratio_differs_from_the_package_by_its_second_compression(alpaca_en, tmp_path):
    comp = package_module("compression")
    texts = sample(alpaca_en, 200, 8)
    data = " ".join(texts).encode("utf-8")
    ours = compression_ratio(texts).value
    assert ours == pytest.approx(len(data) / len(gzip.compress(data, compresslevel=9, mtime=0)), abs=1e-12)
    # the package gzips the gzip stream into a GzipFile named compressed.gz (its header holds the name)
    twice = len(gzip.compress(gzip.compress(data), compresslevel=9, mtime=0)) + len(b"compressed\0")
    assert comp.compression_ratio(texts, path=str(tmp_path)) == round(len(data) / twice, 3)
    assert comp.compression_ratio(texts, path=str(tmp_path)) != round(ours, 3)


def test_intervals_and_signatures(alpaca_en):
    texts = sample(alpaca_en, 60, 9)
    groups = [i // 4 for i in range(60)]
    r = Resampling(ci=True, n_boot=50)
    for metric in (ngram_diversity, self_repetition, homogenization_rougel, homogenization_bleu):
        for mode in ("within", "across"):
            result = metric(texts, groups=groups, mode=mode, resampling=r)
            lo, hi = result.ci
            assert lo <= result.value <= hi and (lo < hi or mode == "within"), (metric.__name__, mode, result)
            assert f"mode:{mode}|ci:0.95/{'boot' if mode == 'within' else 'half'}50/s0/prompt" in result.signature
    assert homogenization_rougel(texts).signature == (
        "homogenization_rougel|measure:rougeL-F|tok:rouge|stem:no|zero:pkg|mode:across|v:0.1.0")
    # seeded: the same interval twice
    assert ngram_diversity(texts, resampling=r).ci == ngram_diversity(texts, resampling=r).ci
