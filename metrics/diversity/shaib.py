"""The ``diversity`` package's metrics (Shaib et al. 2024, v0.3.1), same names, same values.

- :func:`ngram_diversity`: its ``ngram_diversity_score``: the texts joined by single spaces and
  split on single spaces (so a newline stays inside a word and two spaces make an empty word;
  n-grams run across response boundaries), then the sum over n = 1..4 of unique n-grams / n-grams.
  Between 0 and 4. The package rounds to 3 decimals; this does not.
- :func:`self_repetition`: its ``self_repetition_score``: each response's distinct 4-grams over
  ``str.split()`` words; for each response the natural log of 1 + the number of other responses'
  occurrences of its 4-grams (each response counts a 4-gram once); the mean over responses.
- :func:`remote_clique` and :func:`chamfer`: its embedding distances over cosine distances (computed
  as sklearn's ``cosine_distances``, which it uses): the mean of all pairwise distances (the zero
  self-distance included, as the package has it) and the mean distance of each response to its
  nearest other response. The package embeds with Qwen3-Embedding-0.6B by default; give ``model``
  or ready embeddings.

The package splits on spaces, which makes Chinese text one "word" per run of characters; the
CJK-aware variant is ``tokenizer="auto"`` (or any of :data:`TOKENIZERS`), whose signature says so.
Its ``compression_ratio`` compresses twice; see :mod:`.compression` for ours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsuite.errors import DataError
from evalsuite.metrics.common import finish
from evalsuite.metrics.diversity.embedding import DEFAULT_MODEL, _as_embeddings
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

PACKAGE = "package"


def _token_ids(texts: Sequence[str], tokenizer: str, package_split) -> tuple[list[np.ndarray], str]:
    """Each text's tokens as ids of one shared vocabulary, and the tokenizer's signature name."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"record {i}: expected a string, got {type(t).__name__}")
    if tokenizer == PACKAGE:
        token_lists, name = [package_split(t) for t in texts], None
    else:
        from evalsuite.metrics.diversity.tokenize import tokenize

        token_lists, name = tokenize(list(texts), tokenizer)
    vocab: dict[str, int] = {}
    ids = [np.fromiter((vocab.setdefault(t, len(vocab)) for t in toks), dtype=np.int64, count=len(toks))
           for toks in token_lists]
    return ids, name


class _JoinedNgrams:
    """The n-grams of the joined texts of any ordered selection of responses, without re-joining the corpus.

    An n-gram of the joined text lies inside one response (numbered once, up front) or crosses a
    response boundary (at most ``n - 1`` per boundary, looked up per selection).
    """

    def __init__(self, ids: list[np.ndarray], num_n: int):
        self.ids, self.num_n = ids, num_n
        self.lengths = np.array([len(x) for x in ids], dtype=np.int64)
        self.tables = []  # per n: (gram -> id, pair_doc, pair_gram)
        for n in range(1, num_n + 1):
            gram_ids: dict[tuple, int] = {}
            docs, grams = [], []
            for d, seq in enumerate(ids):
                keys = np.unique(_gram_keys(seq, n, gram_ids))
                docs.append(np.full(len(keys), d, dtype=np.int64))
                grams.append(keys)
            self.tables.append((gram_ids, np.concatenate(docs), np.concatenate(grams)))

    def score(self, rows: np.ndarray) -> float:
        """Sum over n of distinct / all n-grams of the responses ``rows`` (in this order, repeats allowed) joined."""
        joined = np.concatenate([self.ids[r] for r in rows]) if len(rows) else np.zeros(0, dtype=np.int64)
        starts = np.cumsum(self.lengths[rows])[:-1]
        w = np.bincount(rows, minlength=len(self.ids))
        score = 0.0
        for n, (gram_ids, pair_doc, pair_gram) in enumerate(self.tables, start=1):
            total = len(joined) - n + 1
            if total <= 0:
                return float("nan")
            present = np.bincount(pair_gram, weights=w[pair_doc], minlength=len(gram_ids)) > 0
            pos = (starts[:, None] - np.arange(1, n)[None, :]).ravel()
            pos = np.unique(pos[(pos >= 0) & (pos + n <= len(joined))])
            crossing = {tuple(g) for g in joined[pos[:, None] + np.arange(n)[None, :]].tolist()}
            known = [gram_ids.get(g, -1) for g in crossing]
            unique = int(present.sum()) + sum(1 for k in known if k < 0 or not present[k])
            score += unique / total
        return score


def _gram_keys(seq: np.ndarray, n: int, gram_ids: dict) -> np.ndarray:
    """Ids of the n-grams of ``seq``, numbered in ``gram_ids`` (shared by every document)."""
    tokens = seq.tolist()
    grams = [tuple(tokens[k:k + n]) for k in range(len(tokens) - n + 1)]
    return np.fromiter((gram_ids.setdefault(g, len(gram_ids)) for g in grams), dtype=np.int64, count=len(grams))


def ngram_diversity(
    texts: Sequence[str], num_n: int = 4, tokenizer: str = PACKAGE, *,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Sum over n = 1..``num_n`` of distinct n-grams / n-grams of the joined texts (the package's, unrounded)."""
    ids, tok = _token_ids(texts, tokenizer, lambda t: t.split(" "))
    index = _JoinedNgrams(ids, num_n)

    def per_group(gidx, n_groups):
        return np.array([index.score(np.flatnonzero(gidx == g)) for g in range(n_groups)])

    return finish("ngram_diversity", {"n": f"1-{num_n}", "tok": tok or "split(' ')", "join": "space"},
                  n_docs=len(texts), groups=groups, mode=mode, resampling=resampling,
                  pooled=lambda w: index.score(np.repeat(np.arange(len(w)), w)), per_group=per_group,
                  bounds=(0.0, float(num_n)))


def self_repetition(
    texts: Sequence[str], n: int = 4, tokenizer: str = PACKAGE, *,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean over responses of log(1 + other responses' occurrences of its distinct n-grams) (the package's)."""
    ids, tok = _token_ids(texts, tokenizer, str.split)
    docs, grams, gram_ids = [], [], {}
    for d, seq in enumerate(ids):
        keys = np.unique(_gram_keys(seq, n, gram_ids))
        docs.append(np.full(len(keys), d, dtype=np.int64))
        grams.append(keys)
    pair_doc = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
    all_keys = np.concatenate(grams) if grams else np.zeros(0, dtype=np.int64)
    pair_gram = np.unique(all_keys, return_inverse=True)[1].reshape(-1) if len(all_keys) else all_keys
    n_docs = len(texts)
    n_own = np.bincount(pair_doc, minlength=n_docs).astype(float)

    def scores(w: np.ndarray) -> np.ndarray:
        counts = np.bincount(pair_gram, weights=w[pair_doc].astype(float), minlength=int(pair_gram.max(initial=-1)) + 1)
        others = np.bincount(pair_doc, weights=counts[pair_gram], minlength=n_docs) - n_own
        return np.log(np.maximum(others, 0) + 1)  # negative only for responses left out (weight 0)

    def pooled(w):
        keep = np.flatnonzero(w)  # a response left out of a resample has no score of its own
        return float(np.dot(w[keep], scores(w)[keep]) / w.sum()) if len(keep) else float("nan")

    def per_group(gidx, n_groups):
        values = np.full(n_groups, np.nan)
        for g in range(n_groups):
            member = (gidx == g).astype(np.int64)
            values[g] = pooled(member)
        return values

    return finish("self_repetition", {"n": n, "tok": tok or "split()", "log": "e"}, n_docs=n_docs, groups=groups,
                  mode=mode, resampling=resampling, pooled=pooled, per_group=per_group)


def _distances(texts, model, batch_size, device) -> tuple[np.ndarray, str]:
    """Cosine distances as sklearn's ``cosine_distances`` gives them: clipped to [0, 2], zero diagonal."""
    x, name = _as_embeddings(texts, model, batch_size, device)  # unit rows
    dist = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return dist, name


def _remote_clique(dist: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float(w @ dist @ w / total**2) if total else float("nan")


def _chamfer(dist: np.ndarray, w: np.ndarray) -> float:
    keep = np.flatnonzero(w)
    if w.sum() < 2:
        return float("nan")
    sub = dist[np.ix_(keep, keep)] + np.diag(np.full(len(keep), np.inf))
    nearest = sub.min(axis=1) if len(keep) > 1 else np.array([np.inf])
    nearest = np.where(w[keep] > 1, 0.0, nearest)  # a resampled copy sits at distance 0
    return float(np.dot(w[keep], nearest) / w.sum())


def _distance_metric(name, statistic, texts, model, batch_size, device, scope) -> MetricResult:
    dist, model_name = _distances(texts, model, batch_size, device)

    def per_group(gidx, n_groups):
        out = np.full(n_groups, np.nan)
        for g in range(n_groups):
            rows = np.flatnonzero(gidx == g)
            out[g] = statistic(dist[np.ix_(rows, rows)], np.ones(len(rows)))
        return out

    return finish(name, {"dist": "cosine", "model": model_name}, n_docs=len(dist), pooled=lambda w: statistic(dist, w),
                  per_group=per_group, bounds=(0.0, 2.0), **scope)


def remote_clique(
    texts, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str | None = None,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean pairwise cosine distance with the zero self-distances in the mean (the package's remote clique)."""
    scope = {"groups": groups, "mode": mode, "resampling": resampling}
    return _distance_metric("remote_clique", _remote_clique, texts, model, batch_size, device, scope)


def chamfer(
    texts, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str | None = None,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean cosine distance of each response to its nearest other response (the package's chamfer distance)."""
    scope = {"groups": groups, "mode": mode, "resampling": resampling}
    return _distance_metric("chamfer", _chamfer, texts, model, batch_size, device, scope)
