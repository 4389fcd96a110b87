"""Paired length matching: each prompt's two answers cut to the shorter one's token count.

Across-prompt diversity moves with length: a longer answer adds more n-grams
to the pool, and the share of distinct ones falls as the pool grows. When two
checkpoints answered the *same* prompts, the fairest length-matched comparison
keeps every prompt and cuts both answers to the same length: answer *i* of
each side keeps its first ``min(len_a[i], len_b[i])`` tokens. Both sides then
have identical per-prompt lengths (so identical length distributions and
totals), and what is left to differ is the wording.

This differs from :func:`evalsuite.metrics.diversity.lengths.match_lengths`,
which draws subsets of two *unpaired* sets with equal length histograms: that
drops whole answers (most of them when one side is much shorter) and adds
sampling noise; truncation keeps all prompts but only answer openings, so
read it as "diversity of what the two say in the same number of tokens".

The cut is made on the encoded tokens of the metric's own tokenizer (an
:class:`~evalsuite.metrics.diversity.ngrams.Encoded`), so every metric sees
exactly matched lengths in its own units, and its signature keeps naming that
tokenizer. Vocabulary ids are kept (so ``vocab_size`` is that of the
untruncated text: do not use the result for EAD's observed-vocabulary mode).
"""

from __future__ import annotations

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.diversity.ngrams import Encoded, as_encoded

METHOD = "paired-truncation"


def truncate(enc: Encoded, lengths) -> Encoded:
    """``enc`` with document *i* cut to its first ``lengths[i]`` tokens (``lengths[i] <= enc.lengths[i]``)."""
    keep = np.asarray(lengths, dtype=np.int64)
    if keep.shape != (enc.n_docs,):
        raise ConfigError(f"truncate: got {keep.size} lengths for {enc.n_docs} documents; give one per document")
    if np.any(keep < 0) or np.any(keep > enc.lengths):
        bad = int(np.flatnonzero((keep < 0) | (keep > enc.lengths))[0])
        raise ConfigError(
            f"truncate: document {bad} has {int(enc.lengths[bad])} tokens, cannot keep {int(keep[bad])}"
        )
    offsets = np.zeros(enc.n_docs + 1, dtype=np.int64)
    np.cumsum(keep, out=offsets[1:])
    starts = np.repeat(enc.offsets[:-1] - offsets[:-1], keep)
    idx = np.arange(offsets[-1], dtype=np.int64) + starts
    return Encoded(enc.ids[idx], offsets, enc.vocab_size, enc.tokenizer)


def pair_truncated(a, b, tokenizer: str = "auto", lowercase: bool = False) -> tuple[Encoded, Encoded, dict]:
    """Two aligned answer lists (answer *i* of both sides to prompt *i*; raw strings, token lists or
    :class:`Encoded`) cut pairwise to the shorter answer's token count, and a note of what was kept.

    The note: ``method``, ``tokenizer``, ``tokens_kept`` (per side, after the cut, equal by
    construction), ``tokens_before`` (per side) and ``prompts``.
    """
    enc_a, enc_b = as_encoded(a, tokenizer, lowercase), as_encoded(b, tokenizer, lowercase)
    if enc_a.n_docs != enc_b.n_docs:
        raise ConfigError(
            f"paired length matching needs one answer per prompt on both sides: got {enc_a.n_docs} and {enc_b.n_docs}"
        )
    shorter = np.minimum(enc_a.lengths, enc_b.lengths)
    cut_a, cut_b = truncate(enc_a, shorter), truncate(enc_b, shorter)
    note = {
        "method": METHOD,
        "tokenizer": enc_a.tokenizer,
        "prompts": int(enc_a.n_docs),
        "tokens_before": [int(enc_a.lengths.sum()), int(enc_b.lengths.sum())],
        "tokens_kept": [int(cut_a.lengths.sum()), int(cut_b.lengths.sum())],
    }
    return cut_a, cut_b, note
