"""Token ids and n-gram ids for many documents at once, with numpy.

Every n-gram metric here works on integer ids instead of tuples of strings:
tokens are mapped to ids once (a dict), and the n-gram starting at each
position gets a collision-free dense id built order by order: the key
``id_{n-1} * V + next_token`` (below T * V, so it always fits in int64) is
sorted once and its runs numbered. Per-document counts come from the same
sort when the key also carries the document. Counting then is sorting and
``bincount`` instead of Python ``Counter`` objects, which is where the speed
comes from; nothing is hashed, so there are no collisions.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evalsuite.errors import DataError
from evalsuite.metrics.tokenize import SEP, check_strings, check_tokenizer, flat_tokens, is_pretokenized, tokenize

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

    @property
    def tokens_left(self) -> np.ndarray:
        """Per position: tokens from here to the end of its document (an n-gram starts where >= n)."""
        if "left" not in self._cache:
            self._cache["left"] = np.repeat(self.offsets[1:], self.lengths) - np.arange(len(self.ids), dtype=np.int64)
        return self._cache["left"]

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(gram_ids, doc_ids)`` for every n-gram occurrence, in text order.

        Gram ids are dense in ``0..n_distinct-1`` and equal exactly when the
        n-grams are equal (no hashing, no collisions).
        """
        g = self.grams(n)
        return g.gram, g.doc

    def grams(self, n: int) -> "Grams":
        """Dense n-gram ids per occurrence: one sort of the n-gram keys (none for n = 1)."""
        _check_order(n)
        key = ("grams", int(n))
        if key not in self._cache:
            self._cache[key] = self._build_grams(int(n))
        return self._cache[key]

    def table(self, n: int) -> "NgramTable":
        """Order-n ids plus per-(n-gram, document) counts, from one sort of (n-gram, doc) keys."""
        _check_order(n)
        key = ("table", int(n))
        if key not in self._cache:
            self._cache[key] = self._build_table(int(n))
        return self._cache[key]

    def _raw_keys(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(starts, doc, raw key, exclusive bound of the keys) of the order-n n-grams."""
        v = max(self.vocab_size, 1)
        if n == 1:
            return np.arange(len(self.ids), dtype=np.int64), self.doc_of_token, self.ids, v
        # extend the (n-1)-gram ids, which are dense, by the next token: the key
        # stays below n_distinct(n-1) * V, far inside int64. Positions starting
        # an n-gram are those (n-1)-gram starts with n tokens left.
        prev = self.grams(n - 1)
        keep = self.tokens_left[prev.starts] >= n
        starts = prev.starts[keep]
        raw = prev.gram[keep] * v + self.ids[starts + (n - 1)]
        return starts, prev.doc[keep], raw, prev.n_distinct * v

    def _build_grams(self, n: int) -> "Grams":
        starts, doc, raw, _ = self._raw_keys(n)
        if len(raw) == 0:
            return Grams(starts, np.zeros(0, dtype=np.int64), doc, 0)
        if n == 1:
            # token ids are dense already unless this is a subset of a corpus
            present = np.bincount(raw) > 0
            if present.all():
                return Grams(starts, raw, doc, len(present))
            remap = np.cumsum(present) - 1
            return Grams(starts, remap[raw], doc, int(present.sum()))
        order = np.argsort(raw)
        rs = raw[order]
        new_gram = np.empty(len(rs), dtype=bool)
        new_gram[0] = True
        np.not_equal(rs[1:], rs[:-1], out=new_gram[1:])
        sorted_gram = np.cumsum(new_gram) - 1
        gram = np.empty(len(rs), dtype=np.int64)
        gram[order] = sorted_gram
        return Grams(starts, gram, doc, int(sorted_gram[-1]) + 1)

    def _build_table(self, n: int) -> "NgramTable":
        n_docs = max(self.n_docs, 1)
        known = self._cache.get(("grams", n))
        if known is not None:
            starts, doc, raw, bound = known.starts, known.doc, known.gram, known.n_distinct
        else:
            starts, doc, raw, bound = self._raw_keys(n)
        m = len(raw)
        if m == 0:
            empty = np.zeros(0, dtype=np.int64)
            return NgramTable(starts, empty, doc, 0, empty, empty, empty, empty, np.zeros(0, dtype=bool))
        if bound <= _INT64_MAX // n_docs:
            # one sort by (n-gram, document) gives the n-gram ids and the
            # per-document counts at once
            comb = raw * n_docs + doc
            order = np.argsort(comb)
            cs = comb[order]
            new_pair = np.empty(m, dtype=bool)
            new_pair[0] = True
            np.not_equal(cs[1:], cs[:-1], out=new_pair[1:])
            rs = cs // n_docs
        else:  # pragma: no cover - needs more than ~1e18 (n-gram, doc) combinations
            order = np.lexsort((doc, raw))
            rs = raw[order]
            ds = doc[order]
            new_pair = np.r_[True, (rs[1:] != rs[:-1]) | (ds[1:] != ds[:-1])]
        if known is not None:
            gram, n_distinct = known.gram, known.n_distinct
            sorted_gram = rs
        else:
            new_gram = np.empty(m, dtype=bool)
            new_gram[0] = True
            np.not_equal(rs[1:], rs[:-1], out=new_gram[1:])
            sorted_gram = np.cumsum(new_gram) - 1
            gram = np.empty(m, dtype=np.int64)
            gram[order] = sorted_gram
            n_distinct = int(sorted_gram[-1]) + 1
            self._cache[("grams", n)] = Grams(starts, gram, doc, n_distinct)
        pair_starts = np.flatnonzero(new_pair)
        return NgramTable(
            starts=starts,
            gram=gram,
            doc=doc,
            n_distinct=n_distinct,
            pair_gram=sorted_gram[pair_starts],
            pair_doc=doc[order[pair_starts]],
            pair_count=np.diff(pair_starts, append=m),
            order=order,
            new_pair=new_pair,
        )

    def subset(self, docs: np.ndarray) -> "Encoded":
        """A new Encoded with the given documents (repeats allowed), same vocabulary."""
        docs = np.asarray(docs, dtype=np.int64)
        lengths = self.lengths[docs]
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.repeat(self.offsets[docs] - offsets[:-1], lengths)
        idx = np.arange(offsets[-1], dtype=np.int64) + starts
        return Encoded(self.ids[idx], offsets, self.vocab_size, self.tokenizer)


# np.unique is avoided on purpose: numpy 2.x answers it with a hash table that
# degrades badly on our structured int64 keys (about 10x slower than sorting
# here), and a plain sort is predictable.


def unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values."""
    if len(keys) == 0:
        return keys.copy()
    s = np.sort(keys)
    return s[np.r_[True, s[1:] != s[:-1]]]


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct values, the index of each key's value, and the counts."""
    if len(keys) == 0:
        return keys.copy(), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    s = keys[order]
    new = np.r_[True, s[1:] != s[:-1]]
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    return s[starts], inverse, np.diff(np.r_[starts, len(s)])


def _check_order(n) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n-gram order must be >= 1, got {n}")


@dataclass(frozen=True)
class Grams:
    """Order-n n-gram occurrences: token position, dense n-gram id, document."""

    starts: np.ndarray
    gram: np.ndarray
    doc: np.ndarray
    n_distinct: int


@dataclass(frozen=True)
class NgramTable:
    """Order-n n-grams of an Encoded corpus.

    Per occurrence (text order): ``starts`` (token position), ``gram`` (dense
    id), ``doc``. Per distinct (n-gram, document) pair, sorted by n-gram then
    document: ``pair_gram``, ``pair_doc``, ``pair_count``; ``pair_of`` maps
    each occurrence to its pair.
    """

    starts: np.ndarray
    gram: np.ndarray
    doc: np.ndarray
    n_distinct: int
    pair_gram: np.ndarray
    pair_doc: np.ndarray
    pair_count: np.ndarray
    order: np.ndarray  # occurrences sorted by (n-gram, document)
    new_pair: np.ndarray  # in that order: True where a new (n-gram, document) pair starts

    @property
    def pair_of(self) -> np.ndarray:
        """Index of each occurrence's (n-gram, document) pair."""
        out = np.empty(len(self.gram), dtype=np.int64)
        out[self.order] = np.cumsum(self.new_pair) - 1
        return out


def encode(texts: Sequence, tokenizer: str = "auto", lowercase: bool = False) -> Encoded:
    """Tokenize ``texts`` (strings or token lists) and map tokens to ids."""
    check_tokenizer(tokenizer)
    pre = is_pretokenized(texts)
    if tokenizer in ("auto", "13a") and not pre and len(texts) > 0:
        check_strings(texts)
        tokens = flat_tokens(texts, tokenizer, lowercase)
        vocab = _vocabulary(tokens, first=SEP)
        flat = _lookup(vocab, tokens)
        is_sep = flat == 0
        sep_pos = np.flatnonzero(is_sep)
        ids = flat[~is_sep] - 1
        # document k ends where the k-th separator sits, minus the k separators before it
        ends = np.append(sep_pos - np.arange(len(sep_pos)), len(ids))
        offsets = np.concatenate([[0], ends]).astype(np.int64)
        return Encoded(ids, offsets, len(vocab) - 1, tokenizer)
    if pre:
        token_lists, name = list(texts), "pre"
    else:
        token_lists, name = tokenize(texts, tokenizer, lowercase)
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat_list = [t for toks in token_lists for t in toks]
    if pre and lowercase:
        flat_list = [t.lower() if isinstance(t, str) else t for t in flat_list]
    vocab = _vocabulary(flat_list)
    if pre:
        _check_token_types(vocab, token_lists)
    ids = _lookup(vocab, flat_list)
    return Encoded(ids, offsets, len(vocab), name)


def _check_token_types(vocab: dict, token_lists: Sequence) -> None:
    # checking the distinct tokens is much cheaper than checking every token;
    # only on failure are the records scanned to name the bad one
    if all(type(k) is str for k in vocab):
        for i, toks in enumerate(token_lists):
            if isinstance(toks, str):
                raise DataError(f"record {i}: expected a list of token strings, got a string; pass all raw strings or all token lists")
        return
    for i, toks in enumerate(token_lists):
        if isinstance(toks, str) or not all(isinstance(t, str) for t in toks):
            raise DataError(f"record {i}: expected a list of token strings, got {toks!r:.60}")


def _lookup(vocab: dict[str, int], tokens: list[str]) -> np.ndarray:
    """Ids of ``tokens``. One itemgetter call does every dict lookup in C,
    about 3x faster than iterating a ``map`` (itemgetter returns a bare item,
    not a tuple, for a single key, hence the short path)."""
    if len(tokens) < 2:
        return np.array([vocab[t] for t in tokens], dtype=np.int64)
    return np.fromiter(operator.itemgetter(*tokens)(vocab), dtype=np.int64, count=len(tokens))


def _vocabulary(tokens: list[str], first: str | None = None) -> dict[str, int]:
    # dict.fromkeys and map(dict.__getitem__) run in C; a Python loop with
    # setdefault costs several times more per token.
    keys = dict.fromkeys([first]) if first is not None else {}
    keys.update(dict.fromkeys(tokens))
    return {t: i for i, t in enumerate(keys)}


def as_encoded(texts, tokenizer: str = "auto", lowercase: bool = False) -> Encoded:
    """Pass an Encoded through; encode anything else."""
    if isinstance(texts, Encoded):
        return texts
    return encode(texts, tokenizer, lowercase)
