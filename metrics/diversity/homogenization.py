"""Homogenization: how alike a set of answers is (Padmakumar & He 2024, the ``diversity`` package), and
how alike two checkpoints' answers to the same prompts are.

- :func:`homogenization_rougel` is the ``diversity`` package's ``homogenization_score(measure="rougel")``:
  the mean over responses of their mean ROUGE-L F with every other response, with the package's
  rule that a corpus scoring exactly 0 (meant for "all strings identical", but reached whenever
  no pair shares a token) reports 1.0. Its tokens are rouge_score's, which drop every non-ASCII
  character: a Chinese corpus has no tokens, every pair scores 0, and the rule makes it 1.0, as the
  package says. ``tokenizer="auto"`` (or another of our tokenizers) is the CJK-aware variant; its
  signature says ``tok:auto``. The LCS is bit-parallel (:mod:`.lcs`): equal values, orders of
  magnitude faster.
- :func:`homogenization_bleu` is the package's ``measure="bleu"`` (for each response, the corpus BLEU
  of all the others against it, averaged), computed from n-gram counts with the 13a tokens (sacrebleu's, as :mod:`.tokenize` has them) and
  no smoothing. The package loads its BLEU from the Hub, so it is not checked against the package;
  the test checks it against sacrebleu's ``corpus_bleu``.
- :func:`between_runs` pairs two runs' answers by prompt and reports their mean similarity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.bootstrap import mean_ci
from evalsuite.metrics.common import finish
from evalsuite.metrics.diversity.lcs import ROUGE_TOKENIZER, lcs_index, pairwise_f1, rouge_tokens
from evalsuite.metrics.diversity.tokenize import tokenize_13a
from evalsuite.metrics.names import between
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult, make_signature


def _pair_mean(sim: np.ndarray, w: np.ndarray, zero_rule: bool) -> float:
    """Mean similarity over ordered pairs of distinct (weighted) responses; copies of one response pair at its self-score."""
    w = np.asarray(w, dtype=float)
    total = w.sum()
    if total < 2:
        return float("nan")
    pairs = float(w @ sim @ w - w @ np.diag(sim))
    if pairs == 0 and zero_rule:
        return 1.0
    return pairs / (total * (total - 1))


def _within_set(name: str, sig: dict, sim_of: Callable[[list[int]], np.ndarray], n_docs: int,
                zero_rule: bool, scope: dict) -> MetricResult:
    cache: dict[str, np.ndarray] = {}

    def pooled(w):
        if "all" not in cache:
            cache["all"] = sim_of(list(range(n_docs)))
        return _pair_mean(cache["all"], w, zero_rule)

    def per_group(gidx, n_groups):
        out = np.full(n_groups, np.nan)
        for g in range(n_groups):
            rows = np.flatnonzero(gidx == g).tolist()
            out[g] = _pair_mean(sim_of(rows), np.ones(len(rows)), zero_rule)
        return out

    return finish(name, sig, n_docs=n_docs, pooled=pooled, per_group=per_group, bounds=(0.0, 1.0), **scope)


def homogenization_rougel(
    texts: Sequence[str], tokenizer: str = ROUGE_TOKENIZER, use_stemmer: bool = False,
    package_zero_rule: bool | None = None, *,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean pairwise ROUGE-L F of the responses (the ``diversity`` package's value, unrounded; NaN for < 2).

    ``package_zero_rule`` (a corpus scoring 0 reports 1.0) is on with the package's tokenizer and off
    with ours unless asked for; the signature says which.
    """
    if package_zero_rule is None:
        package_zero_rule = tokenizer == ROUGE_TOKENIZER
    index = lcs_index(rouge_tokens(list(texts), tokenizer, use_stemmer))
    sig = {"measure": "rougeL-F", "tok": tokenizer, "stem": use_stemmer, "zero": "pkg" if package_zero_rule else "no"}
    scope = {"groups": groups, "mode": mode, "resampling": resampling}
    return _within_set("homogenization_rougel", sig, lambda rows: pairwise_f1(index, rows), len(texts),
                       package_zero_rule, scope)


def clipped_overlaps(token_lists: Sequence[Sequence[str]], n: int) -> np.ndarray:
    """``M[i, j]`` = sum over n-grams g of min(count_i(g), count_j(g)): the clipped matches of BLEU and ROUGE-N."""
    from scipy import sparse

    vocab: dict[tuple, int] = {}
    rows, cols = [], []
    for d, toks in enumerate(token_lists):
        for k in range(len(toks) - n + 1):
            rows.append(d)
            cols.append(vocab.setdefault(tuple(toks[k:k + n]), len(vocab)))
    level = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(token_lists), max(len(vocab), 1)))
    level.sum_duplicates()
    out = np.zeros((len(token_lists), len(token_lists)))
    while level.nnz:  # sum_g min(a_g, b_g) = sum over t >= 1 of [a_g >= t][b_g >= t]
        b = level.copy()
        b.data = np.ones_like(b.data)
        out += (b @ b.T).toarray()
        level.data = level.data - 1
        level.eliminate_zeros()
    return out


def _bleu_stats(texts: Sequence[str], max_order: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per order: the clipped-match matrix ``M[j, i]`` (hyp j against ref i) and each text's n-gram total; token lengths."""
    tokens = [tokenize_13a(t) for t in texts]
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    matches = [clipped_overlaps(tokens, n) for n in range(1, max_order + 1)]
    totals = [np.maximum(lengths - n + 1, 0).astype(float) for n in range(1, max_order + 1)]
    return matches, totals, lengths


def _bleu_mean(matches, totals, lengths, w: np.ndarray) -> float:
    w = np.asarray(w, dtype=float)
    total = w.sum()
    if total < 2:
        return float("nan")
    log_p = np.zeros(len(w))
    zero = np.zeros(len(w), dtype=bool)
    for m, t in zip(matches, totals):
        hit = m.T @ w - np.diag(m)  # hypotheses: every other (weighted) response
        possible = t @ w - t
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(possible > 0, hit / possible, 0.0)
        zero |= p <= 0
        log_p += np.log(np.where(p > 0, p, 1.0))
    hyp_len = lengths @ w - lengths
    ref_len = (total - 1) * lengths
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(hyp_len > ref_len, 1.0, np.exp(1 - ref_len / np.maximum(hyp_len, 1e-300)))
    bleu = np.where(zero, 0.0, bp * np.exp(log_p / len(matches)))
    keep = w > 0
    return float(np.dot(w[keep], bleu[keep]) / total)


def homogenization_bleu(
    texts: Sequence[str], max_order: int = 4, *, groups: Sequence | None = None, mode: str = "across",
    resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean over responses of the corpus BLEU (13a tokens, no smoothing, 0-1) of all other responses against it."""
    matches, totals, lengths = _bleu_stats(list(texts), max_order)

    def sim_value(w):
        return _bleu_mean(matches, totals, lengths, w)

    def per_group(gidx, n_groups):
        out = np.full(n_groups, np.nan)
        for g in range(n_groups):
            rows = np.flatnonzero(gidx == g)
            sub = [m[np.ix_(rows, rows)] for m in matches]
            out[g] = _bleu_mean(sub, [t[rows] for t in totals], lengths[rows], np.ones(len(rows)))
        return out

    sig = {"measure": "bleu", "order": max_order, "tok": "13a", "smooth": "none"}
    return finish("homogenization_bleu", sig, n_docs=len(texts), groups=groups, mode=mode, resampling=resampling,
                  pooled=sim_value, per_group=per_group, bounds=(0.0, 1.0))


MEASURES = ("rougel", "embedding")


def _matched_keys(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[list[str], list[str]]:
    common = [k for k in a if k in b]
    unmatched = [k for k in a if k not in b] + [k for k in b if k not in a]
    if not common:
        only_a = ", ".join(repr(k) for k in list(a)[:3]) or "none"
        only_b = ", ".join(repr(k) for k in list(b)[:3]) or "none"
        raise DataError(f"the two runs share no prompt: none of their {len(a)} and {len(b)} keys match "
                        f"(first run: {only_a}; second run: {only_b}); pair runs over the same prompts")
    return common, unmatched


def between_runs(
    a: Mapping[str, str], b: Mapping[str, str], *, measure: str = "rougel",
    embed: Callable[[list[str]], np.ndarray] | None = None, resampling: Resampling | None = None,
    tokenizer: str = ROUGE_TOKENIZER,
) -> MetricResult:
    """Mean per-prompt similarity of two runs' answers, paired by prompt key over the keys both have.

    ``measure="rougel"``: ROUGE-L F of the two answers (``tokenizer="auto"`` for CJK text);
    ``"embedding"``: cosine of ``embed``'s vectors. The interval (``resampling``) is a percentile
    bootstrap over prompts; ``details["per_prompt"]`` maps every key to its similarity, for paired tests.
    """
    if measure not in MEASURES:
        raise ConfigError(f"measure must be one of {MEASURES}, got {measure!r}")
    resampling = resampling or NO_CI
    keys, unmatched = _matched_keys(a, b)
    for side, run in (("first", a), ("second", b)):
        for k in keys:
            if not isinstance(run[k], str):
                raise DataError(f"{side} run, prompt {k!r}: the answer must be a string, got {type(run[k]).__name__}")
    if measure == "rougel":
        index = lcs_index(rouge_tokens([a[k] for k in keys] + [b[k] for k in keys], tokenizer))
        values = np.array([index.f1(i, len(keys) + i) for i in range(len(keys))])
        name, sig = "homogenization_rougel", {"measure": "rougeL-F", "tok": tokenizer}
    else:
        if embed is None:
            raise ConfigError("measure='embedding' needs embed: a function from a list of texts to an (n, d) array")
        values = _cosines(embed, [a[k] for k in keys], [b[k] for k in keys])
        name, sig = "homogenization_embedding", {"measure": "cosine", "embed": getattr(embed, "__name__", "given")}
    value = float(values.mean())
    interval = mean_ci(values, resampling) if resampling.ci else None
    ci_label = f"{resampling.confidence:g}/boot{resampling.n_boot}/s{resampling.seed}/prompt" if resampling.ci else None
    details = {"per_prompt": {k: float(v) for k, v in zip(keys, values)}, "n_unmatched": len(unmatched),
               "unmatched_examples": unmatched[:5]}
    return MetricResult(name=between(name), value=value, signature=make_signature(between(name), **sig, ci=ci_label),
                        ci=interval, n=len(keys), n_groups=len(keys), details=details)


def _cosines(embed, left: list[str], right: list[str]) -> np.ndarray:
    x = np.asarray(embed(left + right), dtype=float)
    if x.ndim != 2 or x.shape[0] != len(left) + len(right):
        raise DataError(f"embed returned shape {x.shape}; expected ({len(left) + len(right)}, d)")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise DataError(f"embedding of text {int(np.flatnonzero(norms == 0)[0])} is all zeros; cosine is undefined")
    x = x / norms[:, None]
    n = len(left)
    return np.einsum("ij,ij->i", x[:n], x[n:])

