"""n-gram entropy Ent-n (Zhang et al. 2018) and per-response normalised token entropy.

Ent-n is the Shannon entropy of the corpus n-gram frequency distribution, in
nats by default (``base=2`` for bits). ``diversity_entropy(text)`` is the
entropy of one response's token distribution divided by log(#tokens), in
[0, 1]: 1 when no token repeats, 0 for a single token repeated (or a response
of 0 or 1 tokens). It is a plain function over one text so a trainer can use
it as a per-sample reward.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.common import finish
from evalsuite.metrics.diversity.ngrams import Encoded, as_encoded, unique_inverse
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult
from evalsuite.metrics.diversity.tokenize import tokenize


def _log_base(base: float | str) -> float:
    if base == "e":
        return 1.0
    if isinstance(base, (int, float)) and base > 1:
        return math.log(base)
    raise ConfigError(f"base must be 'e' or a number > 1, got {base!r}")


def _entropy_from_counts(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(float)
    total = counts.sum()
    if total == 0:
        return 0.0
    # H = log T - (1/T) sum c log c  (no per-item division, fewer rounding steps)
    return float(math.log(total) - np.dot(counts, np.log(counts)) / total)


def group_entropy(enc: Encoded, n: int, gidx: np.ndarray, n_groups: int) -> np.ndarray:
    """Entropy of the n-gram distribution inside each group of documents."""
    t = enc.table(n)
    if len(t.pair_gram) == 0:
        return np.zeros(n_groups)
    if n_groups == enc.n_docs and (gidx == np.arange(n_groups)).all():
        g, c = t.pair_doc, t.pair_count.astype(float)
    else:
        # merge the (n-gram, doc) pairs into (n-gram, group) pairs
        keys = t.pair_gram * n_groups + gidx[t.pair_doc]
        uniq, inverse, _ = unique_inverse(keys)
        c = np.bincount(inverse, weights=t.pair_count)
        g = uniq % n_groups
    return _entropy_by(g, c, n_groups)


def _entropy_by(g: np.ndarray, c: np.ndarray, n_groups: int) -> np.ndarray:
    tot = np.bincount(g, weights=c, minlength=n_groups)
    clogc = np.bincount(g, weights=c * np.log(c), minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.log(tot) - clogc / tot
    return np.where(tot > 0, h, 0.0)


def ngram_entropy(
    texts, n: int = 4, tokenizer: str = "auto", lowercase: bool = False, *, base: float | str = "e",
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Ent-n over the pooled n-gram distribution (per prompt in within mode)."""
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    scale = _log_base(base)
    enc = as_encoded(texts, tokenizer, lowercase)

    def pooled(w):
        g = enc.grams(n)
        if len(g.starts) == 0:
            return 0.0
        if (w == 1).all():
            return _entropy_from_counts(g.counts()) / scale
        return _entropy_from_counts(np.bincount(g.gram, weights=w[g.doc])) / scale

    def per_group(gidx, n_groups):
        return group_entropy(enc, n, gidx, n_groups) / scale

    return finish(
        "entropy",
        {"n": n, "base": base, "tok": enc.tokenizer, "case": "lc" if lowercase else "mixed"},
        n_docs=enc.n_docs, groups=groups, mode=mode, resampling=resampling,
        pooled=pooled, per_group=per_group, details={"n_ngrams": int(len(enc.grams(n).starts))},
    )


def normalized_entropy_per_doc(enc: Encoded) -> np.ndarray:
    """Token entropy / log(#tokens) of each document (0 when it has < 2 tokens)."""
    h = group_entropy(enc, 1, np.arange(enc.n_docs), enc.n_docs)
    lengths = enc.lengths.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lengths > 1, h / np.log(np.maximum(lengths, 2.0)), 0.0)


def diversity_entropy(text, tokenizer: str = "auto", lowercase: bool = False) -> float:
    """Normalised token entropy of one response, in [0, 1] (a GRPO-style reward)."""
    tokens = tokenize([text], tokenizer, lowercase)[0][0] if isinstance(text, str) else list(text)
    if len(tokens) < 2:
        return 0.0
    counts = np.fromiter(Counter(tokens).values(), dtype=float)
    return _entropy_from_counts(counts) / math.log(len(tokens))


def normalized_entropy(
    texts, tokenizer: str = "auto", lowercase: bool = False, *, groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean of ``diversity_entropy`` over responses (over prompts in within mode)."""
    enc = as_encoded(texts, tokenizer, lowercase)
    per_doc = normalized_entropy_per_doc(enc)
    return finish(
        "norm-entropy",
        {"tok": enc.tokenizer, "case": "lc" if lowercase else "mixed"},
        n_docs=enc.n_docs, groups=groups, mode=mode, resampling=resampling,
        per_doc=per_doc, details={"n_short": int((enc.lengths < 2).sum())}, bounds=(0.0, 1.0),
    )
