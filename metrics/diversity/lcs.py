"""ROUGE-L between many texts, fast: rouge_score's tokens, bit-parallel LCS.

ROUGE-L F of two texts is ``2 P R / (P + R)`` with ``P = LCS / len(prediction)``
and ``R = LCS / len(target)`` over rouge_score's tokens (lowercase, runs of
``[a-z0-9]``, optionally Porter-stemmed). rouge_score fills the whole
``len(a) x len(b)`` dynamic-programming table in pure Python for every pair.
Here each text is tokenized once, its tokens numbered, and the LCS length comes
from the bit-parallel recurrence of Allison & Dix (1986) / Hyyrö (2004): the
LCS table's column differences are the bits of one integer ``V`` (one bit per
token of the longer text) and each token of the shorter text updates it with
``U = V & M[c]; V = (V + U) | (V - U)`` (``M[c]``: positions of token ``c``), so a
pair costs ``min(len)`` big-integer operations instead of ``len(a) * len(b)``
Python steps. The LCS length is the number of zero bits of ``V``.

A CJK-aware variant tokenizes with one of :data:`evalsuite.metrics.diversity.tokenize.TOKENIZERS`
instead (rouge_score's tokenizer drops every non-ASCII character, so Chinese
text has no tokens at all under it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalsuite.errors import ConfigError

ROUGE_TOKENIZER = "rouge"


def rouge_tokens(texts: Sequence[str], tokenizer: str = ROUGE_TOKENIZER, use_stemmer: bool = False) -> list[list[str]]:
    """Each text's tokens: rouge_score's (``"rouge"``), or one of our tokenizers (lowercased)."""
    if tokenizer == ROUGE_TOKENIZER:
        from rouge_score.tokenizers import DefaultTokenizer

        tok = DefaultTokenizer(use_stemmer=use_stemmer)
        return [tok.tokenize(t) for t in texts]
    if use_stemmer:
        raise ConfigError(f"use_stemmer applies to rouge_score's tokenizer only, not to tokenizer={tokenizer!r}")
    from evalsuite.metrics.diversity.tokenize import tokenize

    return tokenize(list(texts), tokenizer, lowercase=True)[0]


@dataclass(frozen=True)
class LcsIndex:
    """Texts as numbered tokens with, per text, each token's position bitmask."""

    tokens: list[list[int]]
    masks: list[dict[int, int]]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.tokens], dtype=np.int64)

    def lcs(self, i: int, j: int) -> int:
        """Length of the longest common subsequence of texts ``i`` and ``j``."""
        a, b = (i, j) if len(self.tokens[i]) >= len(self.tokens[j]) else (j, i)
        masks, n = self.masks[a], len(self.tokens[a])
        if n == 0:
            return 0
        full = (1 << n) - 1
        v = full
        get = masks.get
        for c in self.tokens[b]:
            m = get(c)
            if m:
                u = v & m
                v = (v + u) | (v - u)
        return (~v & full).bit_count()

    def f1(self, i: int, j: int) -> float:
        """ROUGE-L F of texts ``i`` and ``j``, computed as rouge_score computes it (0 when either is empty)."""
        la, lb = len(self.tokens[i]), len(self.tokens[j])
        if la == 0 or lb == 0:
            return 0.0
        lcs = self.lcs(i, j)
        p, r = lcs / la, lcs / lb
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def lcs_index(token_lists: Sequence[Sequence[str]]) -> LcsIndex:
    """Number the tokens of every text and build its position bitmasks."""
    vocab: dict[str, int] = {}
    tokens, masks = [], []
    for toks in token_lists:
        ids = [vocab.setdefault(t, len(vocab)) for t in toks]
        m: dict[int, int] = {}
        for pos, c in enumerate(ids):
            m[c] = m.get(c, 0) | (1 << pos)
        tokens.append(ids)
        masks.append(m)
    return LcsIndex(tokens, masks)


def pairwise_f1(index: LcsIndex, rows: Sequence[int] | None = None) -> np.ndarray:
    """Symmetric ROUGE-L F matrix of the texts ``rows`` (all by default); the diagonal is F of a text with itself."""
    rows = list(range(len(index.tokens))) if rows is None else list(rows)
    n = len(rows)
    out = np.zeros((n, n))
    for a in range(n):
        out[a, a] = 1.0 if index.tokens[rows[a]] else 0.0
        for b in range(a + 1, n):
            out[a, b] = out[b, a] = index.f1(rows[a], rows[b])
    return out
