"""The measurements GRPO rewards need, taken from ``evalsuite.metrics``.

Rewards must never carry a second implementation of a metric; this module is
the single seam between the reward registry and the metrics package.
"""

from __future__ import annotations

import math
from collections import Counter


def tokens(text: str, tokenizer: str = "auto") -> list[str]:
    from evalsuite.metrics.tokenize import tokenize

    token_lists, _ = tokenize([text], tokenizer, False)
    return list(token_lists[0])


def count_tokens(text: str, tokenizer: str = "auto") -> int:
    return len(tokens(text, tokenizer))


def distinct_n(texts: list[str], n: int, tokenizer: str = "auto") -> float:
    """Corpus distinct-n (unique n-grams / all n-grams) of ``texts``."""
    from evalsuite.metrics.distinct import distinct_n as metric

    return float(metric(texts, n=n, tokenizer=tokenizer).value)


def normalised_entropy(text: str, tokenizer: str = "auto") -> float:
    """Shannon entropy of the text's unigram distribution divided by log(token count); 0 for <2 tokens."""
    toks = tokens(text, tokenizer)
    if len(toks) < 2:
        return 0.0
    counts = Counter(toks)
    total = len(toks)
    entropy = -sum(c / total * math.log(c / total) for c in counts.values())
    return entropy / math.log(total)


def cosine_matrix(texts: list[str], embedding: str = "lexical") -> list[list[float]]:
    """Pairwise cosine similarities; ``lexical`` embeds a text as its token-count vector."""
    from evalsuite.errors import ConfigError

    if embedding != "lexical":
        raise ConfigError(f"similarity embedding {embedding!r} is not available; use 'lexical'")
    vectors = [Counter(tokens(t)) for t in texts]
    norms = [math.sqrt(sum(v * v for v in vec.values())) for vec in vectors]
    out = []
    for i, a in enumerate(vectors):
        row = []
        for j, b in enumerate(vectors):
            dot = sum(count * b.get(tok, 0) for tok, count in a.items())
            row.append(dot / (norms[i] * norms[j]) if norms[i] and norms[j] else 0.0)
        out.append(row)
    return out
