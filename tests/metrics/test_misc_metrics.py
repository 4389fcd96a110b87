"""Compression, length statistics, bootstrap intervals, comparability, length matching."""

import gzip
import math
import warnings
import zlib

import numpy as np
import pytest

from evalsuite.errors import ConfigError
from evalsuite.metrics import (
    check_comparable,
    compression_ratio,
    distinct_n,
    length_stats,
    match_lengths,
    self_bleu,
)
from evalsuite.metrics.bootstrap import half_sample_ci, mean_ci
from evalsuite.metrics.resampling import NO_CI, Resampling


def raw_deflate_size(data: bytes) -> int:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return len(c.compress(data) + c.flush())


def test_compression_ratio_is_bytes_over_one_gzip_pass():
    texts = ["The cat sat on the mat.", "同一个答案", "The cat sat on the mat."]
    data = " ".join(texts).encode("utf-8")
    # gzip = raw deflate + 10-byte header + 8-byte trailer (no file name, mtime 0)
    assert compression_ratio(texts).value == pytest.approx(len(data) / (raw_deflate_size(data) + 18), rel=1e-12)
    # compressed once: on very repetitive text a second pass would inflate the ratio
    rep = ["all work and no play makes jack a dull boy"] * 500
    once = compression_ratio(rep).value
    raw = " ".join(rep).encode()
    assert once == pytest.approx(len(raw) / (raw_deflate_size(raw) + 18), rel=1e-12)
    twice = len(raw) / len(gzip.compress(gzip.compress(raw, mtime=0), mtime=0))
    assert once > 50 and twice > 1.2 * once
    assert compression_ratio([]).value != compression_ratio([]).value  # NaN for no texts
    assert compression_ratio(["", ""]).value == pytest.approx(1 / len(gzip.compress(b" ", mtime=0)))


def test_length_stats():
    r = length_stats(["One two. Three four five!", "单句。", ""])
    # tokens: [One two . Three four five !] = 7, [单 句 。] = 3, [] = 0
    assert r.value == pytest.approx(10 / 3)
    # sentences: 2 + 1 (the empty response has none)
    assert r.details["mean_sentence_length"] == pytest.approx(10 / 3)
    assert r.details["n_empty"] == 1
    assert length_stats(["no final stop here"]).details["mean_sentence_length"] == 4.0


def test_bootstrap_mean_ci_matches_a_plain_loop():
    values = np.array([0.1, 0.5, 0.9, 0.3, 0.7, 0.2])
    lo, hi = mean_ci(values, Resampling(ci=True, n_boot=500, seed=7))
    rng = np.random.default_rng(7)
    means = []
    for _ in range(500):
        idx = rng.integers(0, 6, 6)
        w = np.bincount(idx, minlength=6)
        means.append(np.dot(w, values) / 6)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert lo < values.mean() < hi
    with pytest.raises(ConfigError, match=r"confidence must be in \(0, 1\), got 1.5"):
        Resampling(ci=True, confidence=1.5)
    with pytest.raises(ConfigError, match="n_boot must be >= 1, got 0"):
        Resampling(ci=True, n_boot=0)


def test_ci_on_every_metric_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(0)
    words = "the a cat dog sat ran on under mat log and but red blue".split()
    texts = [" ".join(rng.choice(words, rng.integers(3, 15))) for _ in range(40)]
    groups = [i // 4 for i in range(40)]
    resampling = Resampling(ci=True, n_boot=300, seed=1)
    a = distinct_n(texts, n=2, resampling=resampling, groups=groups)
    b = distinct_n(texts, n=2, resampling=resampling, groups=groups)
    assert a.ci == b.ci and a.ci[0] <= a.value <= a.ci[1]
    assert "ci:0.95/half300/s1/prompt" in a.signature
    w = distinct_n(texts, n=2, resampling=Resampling(ci=True, n_boot=300), groups=groups, mode="within")
    assert w.ci[0] <= w.value <= w.ci[1] and "ci:0.95/boot300/s0/prompt" in w.signature
    plain = distinct_n(texts, n=2, resampling=NO_CI, groups=groups)
    assert plain.ci is None and "|ci:" not in plain.signature and plain.value == a.value


def test_half_sampling_matches_the_bootstrap_for_a_mean():
    # For a plain mean both intervals estimate the same spread; the half-sample
    # one is centred on the estimate. (The plain bootstrap of corpus distinct-n
    # lies below the estimate, which is why pooled metrics use half-sampling.)
    rng = np.random.default_rng(3)
    values = rng.exponential(size=400)
    resampling = Resampling(ci=True, n_boot=2000, seed=1)
    boot = mean_ci(values, resampling)
    half = half_sample_ci(lambda w: float(np.dot(w, values) / w.sum()), 400, values.mean(), resampling)
    assert half[1] - half[0] == pytest.approx(boot[1] - boot[0], rel=0.1)
    assert half[0] < values.mean() < half[1]


def test_check_comparable_warns_on_different_n():
    texts = [f"text number {i} about {i % 5}" for i in range(60)]
    a = self_bleu(texts, sample_size=20)
    b = self_bleu(texts, sample_size=40)
    with pytest.warns(UserWarning, match="N: 20 vs 40.*depend on N"):
        assert not check_comparable(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_comparable(a, self_bleu(texts[::-1], sample_size=20))


def test_match_lengths_equalises_histograms():
    rng = np.random.default_rng(0)
    a = rng.integers(10, 100, 500)
    b = rng.integers(50, 300, 400)
    ia, ib = match_lengths(a, b, n_bins=10, seed=0)
    assert len(ia) == len(ib) > 50
    edges = np.quantile(np.concatenate([a, b]), np.linspace(0, 1, 11))
    ha = np.histogram(a[ia], bins=np.unique(edges))[0]
    hb = np.histogram(b[ib], bins=np.unique(edges))[0]
    assert abs(np.median(a[ia]) - np.median(b[ib])) < 0.2 * np.median(b[ib])
    assert np.abs(ha - hb).sum() <= 0.1 * len(ia)
    assert math.isclose(len(set(ia.tolist())), len(ia))  # no index twice
