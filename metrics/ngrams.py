"""Token ids and n-gram ids for many documents at once, with numpy.

Every n-gram metric here works on integer ids instead of tuples of strings:
tokens are mapped to ids once (a dict), and the n-gram starting at each
position gets a collision-free integer id built order by order,
``id_n = id_{n-1} * V + token``, compacted with ``np.unique`` whenever the
next product could overflow int64. Counting then is sorting and ``bincount``
instead of Python ``Counter`` objects, which is where the speed comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evalsuite.metrics.tokenize import SEP, auto_flat, is_pretokenized, tokenize

_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class Encoded:
    """Documents as one flat array of token ids plus offsets."""

    ids: np.ndarray  # int64, all tokens of all documents
    offsets: np.ndarray  # int64, len n_docs + 1
    vocab_size: int
    tokenizer: str  # signature name of the tokenizer used
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def doc_of_token(self) -> np.ndarray:
        if "doc" not in self._cache:
            self._cache["doc"] = np.repeat(np.arange(self.n_docs, dtype=np.int64), self.lengths)
        return self._cache["doc"]

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(gram_ids, doc_ids)`` for every n-gram occurrence, in text order.

        Gram ids are dense in ``0..n_distinct-1`` and equal exactly when the
        n-grams are equal (no hashing, no collisions).
        """
        if n < 1:
            raise ValueError(f"n-gram order must be >= 1, got {n}")
        key = ("ngrams", n)
        if key not in self._cache:
            keys, bound, valid = self._keys(n)
            grams, _ = _compact(keys[valid])
            self._cache[key] = (grams, self.doc_of_token[valid])
        return self._cache[key]

    def _keys(self, n: int) -> tuple[np.ndarray, int, np.ndarray]:
        # Returns per-position keys (valid where an n-gram starts), an exclusive
        # upper bound of the key values, and the validity mask.
        ck = ("keys", n)
        if ck in self._cache:
            return self._cache[ck]
        total = len(self.ids)
        ends = np.repeat(self.offsets[1:], self.lengths)
        valid = np.arange(total, dtype=np.int64) + n <= ends
        if n == 1:
            out = (self.ids, max(self.vocab_size, 1), valid)
        else:
            prev, bound, _ = self._keys(n - 1)
            v = max(self.vocab_size, 1)
            if bound > _INT64_MAX // v:
                # compact the previous order so the product fits in int64
                pv = prev.copy()
                prev_valid = self._keys(n - 1)[2]
                pv[prev_valid], bound = _compact(prev[prev_valid])
                pv[~prev_valid] = 0
                prev = pv
            keys = np.zeros(total, dtype=np.int64)
            m = total - n + 1
            if m > 0:
                keys[:m] = prev[:m] * v + self.ids[n - 1 :]
            out = (keys, bound * v, valid)
        self._cache[ck] = out
        return out

    def subset(self, docs: np.ndarray) -> "Encoded":
        """A new Encoded with the given documents (repeats allowed), same vocabulary."""
        docs = np.asarray(docs, dtype=np.int64)
        lengths = self.lengths[docs]
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.repeat(self.offsets[docs] - offsets[:-1], lengths)
        idx = np.arange(offsets[-1], dtype=np.int64) + starts
        return Encoded(self.ids[idx], offsets, self.vocab_size, self.tokenizer)


def _compact(keys: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, inverse = np.unique(keys, return_inverse=True)
    return inverse.astype(np.int64, copy=False).reshape(-1), len(uniq)


def encode(texts: Sequence, tokenizer: str = "auto", lowercase: bool = False) -> Encoded:
    """Tokenize ``texts`` (strings or token lists) and map tokens to ids."""
    vocab: dict[str, int] = {}
    if tokenizer == "auto" and not is_pretokenized(texts) and len(texts) > 0:
        from evalsuite.metrics.tokenize import _check_strings

        _check_strings(texts)
        vocab[SEP] = 0
        # setdefault evaluates len(vocab) before inserting, so a new token gets
        # the next free id; this comprehension is the only per-token Python work.
        flat = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in auto_flat(texts, lowercase)), dtype=np.int64
        )
        is_sep = flat == 0
        sep_pos = np.flatnonzero(is_sep)
        ids = flat[~is_sep] - 1
        # document k ends where the k-th separator sits, minus the k separators before it
        ends = np.append(sep_pos - np.arange(len(sep_pos)), len(ids))
        offsets = np.concatenate([[0], ends]).astype(np.int64)
        return Encoded(ids, offsets, len(vocab) - 1, "auto")
    token_lists, name = tokenize(texts, tokenizer, lowercase)
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter(
        (vocab.setdefault(t, len(vocab)) for toks in token_lists for t in toks), dtype=np.int64, count=int(offsets[-1])
    )
    return Encoded(ids, offsets, len(vocab), name)


def as_encoded(texts, tokenizer: str = "auto", lowercase: bool = False) -> Encoded:
    """Pass an Encoded through; encode anything else."""
    if isinstance(texts, Encoded):
        return texts
    return encode(texts, tokenizer, lowercase)
