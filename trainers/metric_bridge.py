"""The measurements GRPO rewards need, taken from ``evalsuite.metrics``.

Rewards never carry a second implementation of a metric; this module is the
single seam between the reward registry and the metrics package.
"""

from __future__ import annotations

import math
from collections import Counter


def tokens(text: str, tokenizer: str = "auto") -> list[str]:
    from evalsuite.metrics import tokenize

    token_lists, _ = tokenize([text], tokenizer, False)
    return list(token_lists[0])


def count_tokens(text: str, tokenizer: str = "auto") -> int:
    return len(tokens(text, tokenizer))


def distinct_n(texts: list[str], n: int, tokenizer: str = "auto") -> float:
    """Corpus distinct-n (unique n-grams / all n-grams) of ``texts``."""
    from evalsuite.metrics import distinct_n as metric

    return float(metric(texts, n=n, tokenizer=tokenizer).value)


def normalised_entropy(text: str, tokenizer: str = "auto") -> float:
    """Token entropy of one text divided by log(token count), in [0, 1]."""
    from evalsuite.metrics import diversity_entropy

    return float(diversity_entropy(text, tokenizer))


def cosine_matrix(texts: list[str], embedding: str = "lexical") -> list[list[float]]:
    """Pairwise cosine similarities of ``texts``.

    ``lexical`` compares token-count vectors (no model needed); any other value names a sentence-transformers
    model (Hub id or local directory) embedded through ``evalsuite.metrics.diversity.embedding``.
    """
    if embedding != "lexical":
        from evalsuite.metrics.diversity.embedding import embed

        x = embed(texts, embedding)
        return (x @ x.T).tolist()
    vectors = [Counter(tokens(t)) for t in texts]
    norms = [math.sqrt(sum(v * v for v in vec.values())) for vec in vectors]
    return [[sum(c * b.get(tok, 0) for tok, c in a.items()) / (norms[i] * norms[j]) if norms[i] and norms[j] else 0.0
             for j, b in enumerate(vectors)] for i, a in enumerate(vectors)]
