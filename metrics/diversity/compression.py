"""Compression ratio (Shaib et al. 2024) and length statistics.

Compression ratio = bytes of the texts joined by single spaces (UTF-8) over
the size of their gzip file. Text compressed once, with mtime 0 so the number
is reproducible. (The ``diversity`` package compresses twice; the compressed
stream of highly repetitive text is itself compressible, so its ratio comes
out inflated exactly where the metric matters.)
Higher = more redundant = less diverse.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence

import numpy as np

from evalsuite.errors import DataError
from evalsuite.metrics.common import finish
from evalsuite.metrics.diversity.ngrams import as_encoded
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

# Sentence-final punctuation as the auto tokenizer emits it (after NFKC).
SENTENCE_END = frozenset({".", "!", "?", "。", "…", "؟", "।"})


def gzip_ratio(data: bytes, level: int = 9) -> float:
    if not data:
        return 0.0
    return len(data) / len(gzip.compress(data, compresslevel=level, mtime=0))


def _as_strings(texts) -> list[str]:
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            out.append(t)
        elif isinstance(t, (list, tuple)):
            out.append(" ".join(t))
        else:
            raise DataError(f"record {i}: expected a string or a token list, got {type(t).__name__}")
    return out


def compression_ratio(
    texts, *, level: int = 9, groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """gzip compression ratio of the joined texts (per prompt in within mode).

    Token lists are joined with spaces first. The interval re-compresses every
    resample, so ask for fewer resamples than for the other metrics (200 do).
    """
    strings = _as_strings(texts)
    encoded = [s.encode("utf-8") for s in strings]

    def pooled(w):
        parts = [b for b, c in zip(encoded, w) for _ in range(int(c))]
        return gzip_ratio(b" ".join(parts), level)

    def per_group(gidx, n_groups):
        members: list[list[bytes]] = [[] for _ in range(n_groups)]
        for b, g in zip(encoded, gidx):
            members[g].append(b)
        return np.array([gzip_ratio(b" ".join(m), level) if m else np.nan for m in members])

    return finish(
        "compression",
        {"algo": "gzip", "level": level, "join": "space"},
        n_docs=len(strings), groups=groups, mode=mode, resampling=resampling,
        pooled=pooled, per_group=per_group, details={"bytes": sum(len(b) for b in encoded) + max(len(encoded) - 1, 0)},
    )


def length_stats(
    texts, tokenizer: str = "auto", lowercase: bool = False, *, groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean tokens per response; ``details`` adds mean sentence length in tokens.

    A sentence ends at sentence-final punctuation (a run of it counts once)
    or at the end of the response; the terminal punctuation belongs to it.
    """
    enc = as_encoded(texts, tokenizer, lowercase)
    lengths = enc.lengths.astype(float)
    # the auto tokenizer's vocabulary ids of sentence-final marks are not kept,
    # so recognise them through a per-document re-scan of the token strings
    ends = _sentence_counts(texts, enc)
    n_sent = int(ends.sum())
    details = {
        "mean_sentence_length": float(lengths.sum() / n_sent) if n_sent else 0.0,
        "median_tokens": float(np.median(lengths)) if len(lengths) else float("nan"),
        "n_empty": int((lengths == 0).sum()),
    }
    return finish(
        "length",
        {"unit": "tokens", "tok": enc.tokenizer},
        n_docs=enc.n_docs, groups=groups, mode=mode, resampling=resampling, per_doc=lengths, details=details,
    )


def _sentence_counts(texts, enc) -> np.ndarray:
    from evalsuite.metrics.diversity.tokenize import tokenize

    if hasattr(texts, "ids"):
        raise DataError("length_stats needs texts or token lists, not an Encoded corpus")
    token_lists, _ = tokenize(texts, enc.tokenizer if enc.tokenizer != "pre" else "whitespace")
    out = np.zeros(len(token_lists), dtype=np.int64)
    for i, toks in enumerate(token_lists):
        count, prev_end = 0, False
        for t in toks:
            is_end = t in SENTENCE_END
            if is_end and not prev_end:
                count += 1
            prev_end = is_end
        if toks and not prev_end:
            count += 1
        out[i] = count
    return out
