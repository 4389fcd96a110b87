"""Self-BLEU (Zhu et al. 2018, Texygen) without comparing every pair.

Each response is scored as a BLEU hypothesis against all *other* responses of
its group as references, and the scores are averaged. Done naively that is
N^2 sentence-BLEU calls. But BLEU against many references only needs, per
n-gram, the largest count among the references (the clip), and the reference
length closest to the hypothesis. For "all the others" both come from
per-group summaries: the top two counts of every n-gram (a response that is
the unique holder of the top count is clipped by the second), and the sorted
lengths (the closest other length is a neighbour in sorted order). So the cost
grows with the number of n-gram occurrences, not with N^2, and the result is
exactly what the reference implementations compute:

- ``smoothing="method1"`` reproduces nltk ``sentence_bleu(others, hyp,
  weights=(1/max_order,)*max_order, smoothing_function=SmoothingFunction().method1)``,
  the Texygen recipe (epsilon 0.1; zero when no unigram matches);
- ``"exp"``, ``"floor"`` (value 0.1) and ``"none"`` reproduce
  ``sacrebleu.sentence_bleu(hyp, others, smooth_method=...)`` with its default
  effective order. ``exp`` differs from ``method1`` whenever an order has no
  match (1/2^k of the n-gram count instead of 0.1 of it).

Self-BLEU rises with the number of responses pooled (every extra reference can
only add matches), so ``sample_size`` scores a fixed-size seeded sample of each
group and the sample size is part of the signature (``N:``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.common import check_mode, finish, group_index
from evalsuite.metrics.diversity.ngrams import Encoded, as_encoded
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

SMOOTHINGS = ("method1", "exp", "floor", "none")


@dataclass(frozen=True)
class SelfBleuConfig:
    max_order: int = 4
    smoothing: str = "method1"
    tokenizer: str = "13a"
    lowercase: bool = False
    sample_size: int | None = None
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.max_order, int) or self.max_order < 1:
            raise ConfigError(f"max_order must be a positive integer, got {self.max_order!r}")
        if self.smoothing not in SMOOTHINGS:
            raise ConfigError(f"smoothing must be one of {SMOOTHINGS}, got {self.smoothing!r}")
        if self.sample_size is not None and (not isinstance(self.sample_size, int) or self.sample_size < 2):
            raise ConfigError(f"sample_size must be an integer >= 2 (or None for all), got {self.sample_size!r}")


def clipped_matches(enc: Encoded, gidx: np.ndarray, n_groups: int, n: int) -> np.ndarray:
    """Per document: sum over its n-grams of min(count, max count in the other docs of its group).

    Documents must be ordered by group (``gidx`` non-decreasing), so that the
    n-gram table's pairs, sorted by (n-gram, doc), are also sorted by
    (n-gram, group) and every (n-gram, group) is one contiguous run.
    """
    t = enc.table(n)
    out = np.zeros(enc.n_docs, dtype=np.int64)
    if len(t.pair_gram) == 0:
        return out
    grp = gidx[t.pair_doc]
    count = t.pair_count
    change = np.r_[True, (t.pair_gram[1:] != t.pair_gram[:-1]) | (grp[1:] != grp[:-1])]
    run_starts = np.flatnonzero(change)
    run = np.cumsum(change) - 1
    top1 = np.maximum.reduceat(count, run_starts)
    is_top = count == top1[run]
    holders = np.bincount(run, weights=is_top, minlength=len(run_starts))
    rest = np.maximum.reduceat(np.where(is_top, 0, count), run_starts)
    top2 = np.where(holders >= 2, top1, rest)
    # the largest count among the *others*: the runner-up for a holder of the
    # top count (the top count itself when several docs share it), else the top
    max_other = np.where(is_top, top2[run], top1[run])
    return np.bincount(t.pair_doc, weights=np.minimum(count, max_other), minlength=enc.n_docs).astype(np.int64)


def closest_other_length(lengths: np.ndarray, gidx: np.ndarray) -> np.ndarray:
    """Per document: the closest length among the other docs of its group.

    Ties go to the shorter length (sacrebleu and nltk agree on that). -1 for a
    document alone in its group.
    """
    order = np.lexsort((lengths, gidx))
    ls, gs = lengths[order], gidx[order]
    m = len(ls)
    prev_ok = np.r_[False, gs[1:] == gs[:-1]]
    next_ok = np.r_[gs[:-1] == gs[1:], False]
    prev_len = np.where(prev_ok, np.r_[0, ls[:-1]], -1)
    next_len = np.where(next_ok, np.r_[ls[1:], 0], -1)
    big = np.iinfo(np.int64).max
    d_prev = np.where(prev_ok, ls - prev_len, big)
    d_next = np.where(next_ok, next_len - ls, big)
    best = np.where(d_prev <= d_next, prev_len, next_len)  # ties -> previous, the shorter
    out = np.empty(m, dtype=np.int64)
    out[order] = np.where(prev_ok | next_ok, best, -1)
    return out


def sentence_scores(
    correct: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray, max_order: int, smoothing: str
) -> np.ndarray:
    """Sentence BLEU in [0, 1] per hypothesis from its sufficient statistics.

    ``correct`` is (max_order, n_docs). NaN where there is no reference.
    """
    hyp_len = hyp_len.astype(float)
    ref_len = ref_len.astype(float)
    orders = np.arange(1, max_order + 1)[:, None]
    total = np.maximum(hyp_len[None, :] - orders + 1, 0.0)
    correct = correct.astype(float)
    scores = np.zeros(len(hyp_len))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if smoothing == "method1":
            # nltk: denominator max(1, total); zero matches -> 0.1 / denominator;
            # no unigram match -> 0; BP = 1 if c > r, 0 if c == 0, else exp(1 - r/c)
            den = np.maximum(total, 1.0)
            p = np.where(correct > 0, correct / den, 0.1 / den)
            logs = np.log(p).sum(axis=0) * (1.0 / max_order)
            bp = np.where(hyp_len > ref_len, 1.0, np.where(hyp_len == 0, 0.0, np.exp(1 - ref_len / hyp_len)))
            scores = np.where(correct[0] > 0, bp * np.exp(logs), 0.0)
        else:
            # sacrebleu compute_bleu with effective_order=True, on its 0-100 scale
            eff = np.minimum(hyp_len, max_order)  # orders with at least one n-gram
            used = orders <= eff[None, :]
            zero = (correct == 0) & used
            if smoothing == "exp":
                k = np.cumsum(zero, axis=0)
                p = np.where(zero, 100.0 / (2.0**k * total), 100.0 * correct / total)
            elif smoothing == "floor":
                p = np.where(zero, 100.0 * 0.1 / total, 100.0 * correct / total)
            else:
                p = np.where(zero, 0.0, 100.0 * correct / total)
            logp = np.where(used, np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -9999999999.0), 0.0)
            bp = np.where(hyp_len < ref_len, np.where(hyp_len > 0, np.exp(1 - ref_len / hyp_len), 0.0), 1.0)
            score = bp * np.exp(logp.sum(axis=0) / np.maximum(eff, 1))
            scores = np.where(correct.sum(axis=0) > 0, score, 0.0) / 100.0
    return np.where(ref_len < 0, np.nan, scores)


def sample_groups(gidx: np.ndarray, n_groups: int, sample_size: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded sample of at most ``sample_size`` docs per group (sorted)."""
    if sample_size is None:
        return np.arange(len(gidx))
    rng = np.random.default_rng(seed)
    order = np.argsort(gidx, kind="stable")
    bounds = np.searchsorted(gidx[order], np.arange(n_groups + 1))
    keep = []
    for g in range(n_groups):
        members = order[bounds[g] : bounds[g + 1]]
        if len(members) > sample_size:
            members = rng.choice(members, sample_size, replace=False)
        keep.append(members)
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def self_bleu_scores(enc: Encoded, gidx: np.ndarray, n_groups: int, max_order: int = 4, smoothing: str = "method1") -> np.ndarray:
    """Each document's sentence BLEU against the other documents of its group."""
    if len(gidx) > 1 and (np.diff(gidx) < 0).any():
        perm = np.argsort(gidx, kind="stable")
        out = np.empty(len(gidx))
        out[perm] = self_bleu_scores(enc.subset(perm), gidx[perm], n_groups, max_order, smoothing)
        return out
    correct = np.stack([clipped_matches(enc, gidx, n_groups, n) for n in range(1, max_order + 1)])
    lengths = enc.lengths
    return sentence_scores(correct, lengths, closest_other_length(lengths, gidx), max_order, smoothing)


def self_bleu(
    texts, max_order: int = 4, smoothing: str = "method1", tokenizer: str = "13a", sample_size: int | None = None,
    seed: int = 0, *, lowercase: bool = False,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean self-BLEU in [0, 1] (higher = more alike).

    ``mode="across"`` pools all responses; ``mode="within"`` scores each
    response against the other samples of its prompt and averages per prompt,
    then over prompts. A response with no other response to compare with has
    no score (NaN, left out of the means); ``details["n_scored"]`` counts the
    rest. ``seed`` draws the ``sample_size`` sample; the interval (its seed is
    ``resampling.seed``) resamples hypotheses (by prompt when groups are given)
    with the reference pool held fixed.
    """
    cfg = SelfBleuConfig(max_order, smoothing, tokenizer, lowercase, sample_size, seed)
    check_mode(mode, groups)
    enc = as_encoded(texts, tokenizer, lowercase)
    gidx, n_groups = group_index(groups, enc.n_docs)
    keep = sample_groups(gidx if mode == "within" else np.zeros(enc.n_docs, dtype=np.int64),
                         n_groups if mode == "within" else 1, cfg.sample_size, seed)
    sub = enc if len(keep) == enc.n_docs else enc.subset(keep)
    sub_groups = None if groups is None else [groups[i] for i in keep]
    if mode == "within":
        pool_idx, pool_n = group_index(sub_groups, sub.n_docs)
    else:
        pool_idx, pool_n = np.zeros(sub.n_docs, dtype=np.int64), 1
    scores = self_bleu_scores(sub, pool_idx, pool_n, cfg.max_order, cfg.smoothing)
    scored = ~np.isnan(scores)
    pooled, per_group = _scored_means(scores)
    sizes = np.bincount(pool_idx, minlength=pool_n) if sub.n_docs else np.zeros(0, dtype=np.int64)
    sampled = cfg.sample_size is not None and len(keep) < enc.n_docs
    return finish(
        "self-bleu",
        {"n": cfg.max_order, "smooth": cfg.smoothing, "tok": enc.tokenizer, "case": "lc" if lowercase else "mixed",
         "N": _pool_sizes(sizes), "sample": f"{cfg.sample_size}/s{seed}" if sampled else None},
        n_docs=sub.n_docs, groups=sub_groups, mode=mode, resampling=resampling,
        pooled=pooled, per_group=per_group,
        details={"n_scored": int(scored.sum()), "pool_size_mean": float(sizes.mean()) if len(sizes) else 0.0,
                 "pool_size_max": int(sizes.max()) if len(sizes) else 0},
        bounds=(0.0, 1.0),
    )


def _scored_means(scores: np.ndarray):
    """``pooled`` and ``per_group`` means of the scores that are not NaN."""
    scored = ~np.isnan(scores)
    safe = np.where(scored, scores, 0.0)

    def pooled(w):
        w = w * scored
        s = w.sum()
        return float(np.dot(w, safe) / s) if s else float("nan")

    def per_group(gi, ng):
        sums = np.bincount(gi, weights=safe, minlength=ng)
        cnt = np.bincount(gi, weights=scored.astype(float), minlength=ng)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / cnt

    return pooled, per_group


def _pool_sizes(sizes: np.ndarray) -> str:
    """The signature's ``N``: the size of the pools actually scored (``2-3`` when they differ).

    Two numbers computed on different amounts of text never carry the same signature.
    """
    scored_sizes = sizes[sizes >= 2]
    if len(scored_sizes) == 0:
        return "0"
    if scored_sizes.min() == scored_sizes.max():
        return str(scored_sizes.max())
    return f"{scored_sizes.min()}-{scored_sizes.max()}"
