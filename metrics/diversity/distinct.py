"""distinct-n (Li et al. 2016) and expectation-adjusted distinct, EAD (Liu et al. 2022).

distinct-n = unique n-grams / total n-grams. Corpus level pools all responses;
response level averages each response's own ratio. A response with no n-gram
(empty, or shorter than n tokens) has distinct 0 at response level: it is
counted as an empty answer, not dropped (``details["n_empty"]`` says how many).

EAD divides the number of unique n-grams by its expectation when the same
number of n-grams is drawn uniformly from a vocabulary of size V:
``V * (1 - ((V - 1) / V) ** C)``, which removes most of distinct's fall with
length. Liu et al. use the model tokenizer's vocabulary size for V; pass it as
``vocab_size``. By default V is the number of distinct tokens observed in the
texts (``V:obs<value>`` in the signature).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.common import finish
from evalsuite.metrics.diversity.ngrams import Encoded, as_encoded, unique_sorted
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

LEVELS = ("corpus", "response")


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")


def _case(lowercase: bool) -> str:
    return "lc" if lowercase else "mixed"


def ngram_totals(enc: Encoded, n: int) -> np.ndarray:
    """Number of n-grams in each document."""
    return np.maximum(enc.lengths - n + 1, 0)


def unique_per_doc(enc: Encoded, n: int) -> np.ndarray:
    """Number of distinct n-grams inside each document."""
    return np.bincount(enc.table(n).pair_doc, minlength=enc.n_docs)


def unique_per_group(enc: Encoded, n: int, gidx: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct n-grams inside each group of documents."""
    t = enc.table(n)
    if len(t.pair_gram) == 0:
        return np.zeros(n_groups, dtype=np.int64)
    pair = unique_sorted(t.pair_gram * n_groups + gidx[t.pair_doc])
    return np.bincount(pair % n_groups, minlength=n_groups)


def _unique_weighted(enc: Encoded, n: int, w: np.ndarray) -> int:
    g = enc.grams(n)
    if (w > 0).all():
        return g.n_distinct  # every document counts: all distinct n-grams
    if len(g.starts) == 0:
        return 0
    present = np.bincount(g.gram, weights=w[g.doc], minlength=g.n_distinct) > 0
    return int(present.sum())


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _unique_over(enc: Encoded, n: int, totals: np.ndarray, denominator):
    """``pooled`` and ``per_group`` statistics of unique n-grams / ``denominator(n-gram count)``."""

    def pooled(w):
        total = float(np.dot(w, totals))
        return _unique_weighted(enc, n, w) / float(denominator(total)) if total else 0.0

    def per_group(gidx, n_groups):
        uniq = unique_per_group(enc, n, gidx, n_groups)
        return _ratio(uniq, denominator(np.bincount(gidx, weights=totals, minlength=n_groups)))

    return pooled, per_group


def distinct_n(
    texts, n: int = 2, tokenizer: str = "auto", lowercase: bool = False, *, level: str = "corpus",
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """distinct-n of ``texts`` (raw strings or token lists), in [0, 1]."""
    _check_n(n)
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {LEVELS}, got {level!r}")
    enc = as_encoded(texts, tokenizer, lowercase)
    totals = ngram_totals(enc, n)

    if level == "corpus":
        per_doc, (pooled, per_group) = None, _unique_over(enc, n, totals, lambda total: total)
    else:
        per_doc, pooled, per_group = _ratio(unique_per_doc(enc, n), totals), None, None
    details = {
        "unique": enc.grams(n).n_distinct,
        "total": int(totals.sum()),
        "n_empty": int((totals == 0).sum()),
    }
    return finish(
        "distinct",
        {"n": n, "level": level, "tok": enc.tokenizer, "case": _case(lowercase)},
        n_docs=enc.n_docs, groups=groups, mode=mode, resampling=resampling,
        per_doc=per_doc, pooled=pooled, per_group=per_group, details=details, bounds=(0.0, 1.0),
    )


def expected_unique(vocab_size: int, total: np.ndarray | float) -> np.ndarray:
    """Expected number of distinct items among ``total`` uniform draws from ``vocab_size``."""
    total = np.asarray(total, dtype=float)
    v = float(vocab_size)
    if v <= 1:
        return np.where(total > 0, 1.0, 0.0)
    # V * (1 - ((V-1)/V)^C), written with log1p/expm1 so it stays exact for large V
    return -v * np.expm1(total * np.log1p(-1.0 / v))


def ead(
    texts, n: int = 2, tokenizer: str = "auto", lowercase: bool = False, *, vocab_size: int | None = None,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Expectation-adjusted distinct-n (corpus level; per prompt in within mode)."""
    _check_n(n)
    enc = as_encoded(texts, tokenizer, lowercase)
    if vocab_size is not None and (not isinstance(vocab_size, int) or vocab_size < 1):
        raise ConfigError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    v = vocab_size if vocab_size is not None else enc.vocab_size
    pooled, per_group = _unique_over(enc, n, ngram_totals(enc, n), lambda total: expected_unique(v, total))
    vsig = str(v) if vocab_size is not None else f"obs{v}"
    return finish(
        "ead",
        {"n": n, "V": vsig, "tok": enc.tokenizer, "case": _case(lowercase)},
        n_docs=enc.n_docs, groups=groups, mode=mode, resampling=resampling,
        pooled=pooled, per_group=per_group, details={"vocab_size": v},
    )
