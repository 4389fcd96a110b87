"""Repetition inside responses and duplication across samples.

``kind`` picks the statistic (all per response, then averaged):

- ``seq-rep``: seq-rep-n of Welleck et al. 2019, 1 - unique n-grams / n-grams
  within the response (0 for a response without n-grams).
- ``rep-w``: share of tokens that already occurred among the previous ``window``
  tokens (Fu et al. 2021, the rep/l of Welleck et al. 2019).
- ``rep-r``: Fu et al. 2021, |{i : (x_i, x_i+1) = (x_j, x_j+1) for some j != i}| / |x|,
  the share of positions that start a bigram occurring elsewhere in the response.
- ``rate``: share of responses containing an n-gram repeated at least ``k`` times.
- ``duplicates``: share of responses identical (token for token) to an earlier
  response of the same pool: the prompt's samples in within mode, all
  responses in across mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.common import finish, group_index
from evalsuite.metrics.diversity.ngrams import Encoded, as_encoded
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

KINDS = ("seq-rep", "rep-w", "rep-r", "rate", "duplicates")


def _pair_counts(enc: Encoded, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc, count) per distinct (doc, n-gram) pair, and each occurrence's pair."""
    t = enc.table(n)
    return t.pair_doc, t.pair_count, t.pair_of


def seq_rep_per_doc(enc: Encoded, n: int) -> np.ndarray:
    totals = np.maximum(enc.lengths - n + 1, 0)
    uniq = np.bincount(enc.table(n).pair_doc, minlength=enc.n_docs)
    return np.divide(totals - uniq, totals, out=np.zeros(enc.n_docs), where=totals > 0)


def rep_w_per_doc(enc: Encoded, window: int) -> np.ndarray:
    pos = np.arange(len(enc.ids), dtype=np.int64)
    key = enc.ids * enc.n_docs + enc.doc_of_token
    order = np.argsort(key, kind="stable")  # same (doc, token): positions ascending
    ks = key[order]
    same = np.r_[False, ks[1:] == ks[:-1]]
    gap = np.r_[0, np.diff(pos[order])]
    hit = np.zeros(len(pos), dtype=bool)
    hit[order] = same & (gap <= window)
    lengths = enc.lengths
    reps = np.bincount(enc.doc_of_token, weights=hit, minlength=enc.n_docs)
    return np.divide(reps, lengths, out=np.zeros(enc.n_docs), where=lengths > 0)


def rep_r_per_doc(enc: Encoded) -> np.ndarray:
    grams, docs = enc.ngrams(2)
    lengths = enc.lengths
    if len(grams) == 0:
        return np.zeros(enc.n_docs)
    _, count, inverse = _pair_counts(enc, 2)
    repeated = count[inverse] >= 2
    reps = np.bincount(docs, weights=repeated, minlength=enc.n_docs)
    return np.divide(reps, lengths, out=np.zeros(enc.n_docs), where=lengths > 0)


def max_ngram_count_per_doc(enc: Encoded, n: int) -> np.ndarray:
    t = enc.table(n)
    doc, count = t.pair_doc, t.pair_count
    out = np.zeros(enc.n_docs, dtype=np.int64)
    np.maximum.at(out, doc, count)
    return out


def duplicate_flags(enc: Encoded, pool: np.ndarray) -> np.ndarray:
    """True for a doc whose token sequence equals an earlier doc's in the same pool."""
    seen: set = set()
    flags = np.zeros(enc.n_docs, dtype=bool)
    ids, off = enc.ids, enc.offsets
    for i in range(enc.n_docs):
        key = (int(pool[i]), ids[off[i] : off[i + 1]].tobytes())
        flags[i] = key in seen
        seen.add(key)
    return flags


def repetition(
    texts, kind: str = "seq-rep", n: int = 4, tokenizer: str = "auto", lowercase: bool = False, *,
    k: int = 3, window: int = 16, groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """A repetition statistic in [0, 1] (higher = more repetitive); see the module doc."""
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")
    for name, v in (("n", n), ("k", k), ("window", window)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    enc = as_encoded(texts, tokenizer, lowercase)
    opts: dict = {"kind": kind}
    if kind == "seq-rep":
        per_doc, opts["n"] = seq_rep_per_doc(enc, n), n
    elif kind == "rep-w":
        per_doc, opts["w"] = rep_w_per_doc(enc, window), window
    elif kind == "rep-r":
        per_doc = rep_r_per_doc(enc)
    elif kind == "rate":
        per_doc = (max_ngram_count_per_doc(enc, n) >= k).astype(float)
        opts["n"], opts["k"] = n, k
    else:
        if mode == "within":
            pool = group_index(groups, enc.n_docs)[0] if groups is not None else np.zeros(enc.n_docs, dtype=np.int64)
        else:
            pool = np.zeros(enc.n_docs, dtype=np.int64)
        per_doc = duplicate_flags(enc, pool).astype(float)
    opts.update({"tok": enc.tokenizer, "case": "lc" if lowercase else "mixed"})
    return finish(
        "repetition", opts,
        n_docs=enc.n_docs, groups=groups, mode=mode, resampling=resampling,
        per_doc=per_doc, details={"n_empty": int((enc.lengths == 0).sum())}, bounds=(0.0, 1.0),
    )
