"""NoveltyBench's ``distinct_k`` and ``utility_k`` (Zhang et al. 2025), with a pluggable equivalence.

A prompt's k responses are partitioned greedily, in order: each response joins the first class whose
*first member* it is equivalent to, or starts a new class (``partition.py`` of NoveltyBench v1.0).
``distinct_k`` is the number of classes; ``utility_k`` the mean of each response's quality counted
only when it starts a new class (0 for a repeat), weighted by ``patience ** position`` (p = 0.8; its
``score.py``). NoveltyBench rates quality 1-10 with a reward model; pass ``quality`` (one number per
response, e.g. judge scores) for that, otherwise every response counts 1 and ``utility_k`` is the
discounted share of responses that bring something new (0-1).

Before the equivalence, NoveltyBench's short-answer rule decides pairs whose longer answer has at
most 5 lowercased whitespace words: equivalent when twice the shared words reach that length.

Equivalences: ``"unigram"`` (NoveltyBench's: rouge_score ROUGE-1 F > 0.458), ``"exact"`` (equal
strings), ``"embedding"`` (cosine of sentence-transformers embeddings >= ``threshold``; our choice
of threshold, in the signature), or a callable judging pairs in batches (an LLM judge through any
backend: :func:`evalsuite.tasks.novelty_judge.judge_equivalence`), called
``judge([(prompt, first_member, candidate), ...]) -> [bool, ...]``. The partition runs in rounds (the
i-th response of every prompt against all its classes at once), so a judge gets one batch per round.

Within prompts, the values are means over prompts, as NoveltyBench reports them. Across prompts,
``distinct_k`` partitions all responses as one set (``details["share"]`` = classes / responses);
``utility_k`` is defined per prompt only and is NaN there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.common import check_mode, finish
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

UNIGRAM_THRESHOLD = 0.458  # NoveltyBench's equivalence_check_unigram
SHORT_WORDS = 5
EQUIVALENCES = ("unigram", "exact", "embedding")
Judge = Callable[[list[tuple[str, str, str]]], list[bool]]


def _short_rule(a: list[str], b: list[str]) -> bool | None:
    """NoveltyBench's maybe_test_equality: a verdict for short answers, None for the rest."""
    longest = max(len(a), len(b))
    if longest <= SHORT_WORDS:
        return len(set(a) & set(b)) * 2 >= longest
    return None


class Equivalence:
    """Decides batches of (first member, candidate) pairs of response indices."""

    def __init__(self, texts: Sequence[str], how, *, threshold: float | None, short_rule: bool,
                 prompts: Sequence[str] | None, embed: Callable | None, model: str | None):
        self.texts, self.how, self.threshold = list(texts), how, threshold
        self.words = [t.strip().lower().split() for t in self.texts] if short_rule else None
        self.prompts = list(prompts) if prompts is not None else [""] * len(self.texts)
        self.cache: dict[tuple[int, int], bool] = {}
        self.full: np.ndarray | None = None
        if how == "unigram":
            from evalsuite.metrics.diversity.lcs import rouge_tokens

            self.tokens = rouge_tokens(self.texts)
        elif how == "embedding":
            if embed is not None:
                x = np.asarray(embed(self.texts), dtype=float)
            else:
                from evalsuite.metrics.diversity.embedding import embed as st_embed

                x = st_embed(self.texts, model) if model else None
            if x is None:
                raise ConfigError("equivalence='embedding' needs model= (sentence-transformers) or embed= (texts -> array)")
            self.x = x / np.linalg.norm(x, axis=1, keepdims=True)

    def matrix(self, rows: Sequence[int]) -> np.ndarray:
        """``M[a, b]``: is response ``rows[b]`` equivalent to ``rows[a]`` (the class's first member)?

        For the equivalences computed from the texts; the matrix of all responses is kept and sliced.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if self.full is not None:
            return self.full[np.ix_(rows, rows)]
        m = self._base(rows)
        if self.words is not None:
            short = [k for k, r in enumerate(rows) if len(self.words[r]) <= SHORT_WORDS]
            for a in short:
                for b in short:
                    m[a, b] = _short_rule(self.words[rows[a]], self.words[rows[b]])
        if len(rows) == len(self.texts) and (rows == np.arange(len(rows))).all():
            self.full = m
        return m

    def _base(self, rows: np.ndarray) -> np.ndarray:
        if self.how == "exact":
            ids = np.unique(np.array([self.texts[r] for r in rows], dtype=object), return_inverse=True)[1].reshape(-1)
            return ids[:, None] == ids[None, :]
        if self.how == "embedding":
            return self.x[rows] @ self.x[rows].T >= self.threshold
        from evalsuite.metrics.diversity.homogenization import clipped_overlaps

        tokens = [self.tokens[r] for r in rows]
        overlap = clipped_overlaps(tokens, 1)  # rouge_score.score(target = first member, prediction = candidate)
        lengths = np.array([len(t) for t in tokens], dtype=float)
        p, r = overlap / np.maximum(lengths, 1)[None, :], overlap / np.maximum(lengths, 1)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
        return f > UNIGRAM_THRESHOLD

    def __call__(self, pairs: list[tuple[int, int]]) -> list[bool]:
        if not callable(self.how):
            m = self.matrix(range(len(self.texts)))
            return [bool(m[h, i]) for h, i in pairs]
        todo = [p for p in dict.fromkeys(pairs) if p not in self.cache]
        rest = []
        for h, i in todo:
            rule = _short_rule(self.words[h], self.words[i]) if self.words is not None else None
            if rule is not None:
                self.cache[(h, i)] = rule
            else:
                rest.append((h, i))
        if rest:
            verdicts = list(self.how([(self.prompts[i], self.texts[h], self.texts[i]) for h, i in rest]))
            if len(verdicts) != len(rest):
                raise DataError(f"the equivalence judge returned {len(verdicts)} verdicts for {len(rest)} pairs")
            for pair, verdict in zip(rest, verdicts):
                self.cache[pair] = bool(verdict)
        return [self.cache[p] for p in pairs]


def _greedy(m: np.ndarray) -> list[int]:
    """The greedy partition of responses 0..n-1 given every pair's verdict ``m[head, candidate]``."""
    heads: list[int] = []
    labels = []
    for i in range(len(m)):
        hits = m[heads, i] if heads else np.zeros(0, dtype=bool)
        if hits.any():
            labels.append(int(np.argmax(hits)))
        else:
            labels.append(len(heads))
            heads.append(i)
    return labels


def partition(sets: Sequence[Sequence[int]], equivalent: Equivalence) -> list[list[int]]:
    """Class labels (0, 1, ... in order of first appearance) of each ordered set of response indices.

    A judge is asked in rounds (the r-th response of every set against all its classes, one batch);
    the other equivalences decide every pair of a set at once.
    """
    if not callable(equivalent.how):
        return [_greedy(equivalent.matrix(members)) for members in sets]
    heads: list[list[int]] = [[] for _ in sets]
    labels: list[list[int]] = [[] for _ in sets]
    for r in range(max((len(s) for s in sets), default=0)):
        asks = [(s, h, members[r]) for s, members in enumerate(sets) if r < len(members) for h in heads[s]]
        verdicts = equivalent([(h, i) for _, h, i in asks]) if asks else []
        first: dict[int, int] = {}
        for (s, h, _), same in zip(asks, verdicts):
            if same and s not in first:
                first[s] = heads[s].index(h)
        for s, members in enumerate(sets):
            if r < len(members):
                if s in first:
                    labels[s].append(first[s])
                else:
                    labels[s].append(len(heads[s]))
                    heads[s].append(members[r])
    return labels


def utility(labels: Sequence[int], quality: Sequence[float], patience: float) -> float:
    """NoveltyBench's utility: quality of each class's first member (0 for repeats), weighted by patience**position."""
    seen: set[int] = set()
    gains = []
    for label, q in zip(labels, quality):
        gains.append(0.0 if label in seen else float(q))
        seen.add(label)
    return float(np.average(gains, weights=patience ** np.arange(len(gains)))) if gains else float("nan")


def _setup(texts, equivalence, threshold, short_answer_rule, prompts, embed, model):
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"record {i}: expected a string, got {type(t).__name__}")
    if not callable(equivalence) and equivalence not in EQUIVALENCES:
        raise ConfigError(f"equivalence must be one of {EQUIVALENCES} or a judge callable, got {equivalence!r}")
    if prompts is not None and len(prompts) != len(texts):
        raise ConfigError(f"prompts has {len(prompts)} entries for {len(texts)} texts; give one prompt per text")
    eq = Equivalence(texts, equivalence, threshold=threshold, short_rule=short_answer_rule, prompts=prompts,
                     embed=embed, model=model)
    name = getattr(equivalence, "__name__", "judge") if callable(equivalence) else equivalence
    sig = {"eq": name, "thr": UNIGRAM_THRESHOLD if equivalence == "unigram" else (
        threshold if equivalence == "embedding" else None), "short": short_answer_rule}
    if equivalence == "embedding":
        sig["model"] = "given" if embed is not None else (
            os.path.basename(os.path.normpath(model)) if model and os.path.isdir(model) else model)
    return eq, sig


def _members(gidx: np.ndarray, n_groups: int) -> list[list[int]]:
    order = np.argsort(gidx, kind="stable")
    return [m.tolist() for m in np.split(order, np.cumsum(np.bincount(gidx, minlength=n_groups))[:-1])]


def distinct_k(
    texts: Sequence[str], equivalence: str | Judge = "unigram", threshold: float = 0.9, short_answer_rule: bool = True,
    prompts: Sequence[str] | None = None, embed: Callable | None = None, model: str | None = None, *,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Number of equivalence classes among a prompt's responses (mean over prompts), or among all responses."""
    eq, sig = _setup(texts, equivalence, threshold, short_answer_rule, prompts, embed, model)
    n = len(texts)
    details = {}
    if mode == "across" and n:
        details["share"] = len(set(partition([list(range(n))], eq)[0])) / n

    def pooled(w):  # classes per response, scaled to the full set: a share, for half-sampling
        rows = np.repeat(np.arange(n), w).tolist()
        return len(set(partition([rows], eq)[0])) / len(rows) * n if rows else float("nan")

    def per_group(gidx, n_groups):
        return np.array([len(set(lab)) for lab in partition(_members(gidx, n_groups), eq)], dtype=float)

    return finish("distinct_k", sig, n_docs=n, groups=groups, mode=mode, resampling=resampling,
                  pooled=pooled, per_group=per_group, details=details, bounds=(1.0, float(max(n, 1))))


def utility_k(
    texts: Sequence[str], equivalence: str | Judge = "unigram", threshold: float = 0.9, short_answer_rule: bool = True,
    prompts: Sequence[str] | None = None, embed: Callable | None = None, model: str | None = None,
    quality: Sequence[float] | None = None, patience: float = 0.8, *,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean over prompts of NoveltyBench's patience-discounted utility (NaN across prompts)."""
    check_mode(mode, groups)
    if quality is not None and len(quality) != len(texts):
        raise ConfigError(f"quality has {len(quality)} entries for {len(texts)} texts; give one per text")
    if not 0 < patience <= 1:
        raise ConfigError(f"patience must be in (0, 1], got {patience!r}")
    eq, sig = _setup(texts, equivalence, threshold, short_answer_rule, prompts, embed, model)
    q = np.ones(len(texts)) if quality is None else np.asarray(quality, dtype=float)
    sig.update(p=patience, quality="given" if quality is not None else "1")

    def per_group(gidx, n_groups):
        members = _members(gidx, n_groups)
        return np.array([utility(lab, q[m], patience) for lab, m in zip(partition(members, eq), members)])

    details = {"undefined": "utility_k is defined over one prompt's samples; see the within mode"} if mode == "across" else {}
    return finish("utility_k", sig, n_docs=len(texts), groups=groups, mode=mode, resampling=resampling,
                  pooled=lambda w: float("nan"), per_group=per_group, details=details, bounds=(0.0, None))

