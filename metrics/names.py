"""Metric names: the one place they are spelled.

A metric has one identifier (snake_case, usable on a command line and in a
``--fail-on`` rule) and one human label. Diversity metrics are computed in two
modes; the qualified name of a metric in a mode is ``"<name>.<mode>"``
(``distinct_2.within``). Results files, reports, compare, nightly and the CLI
take names from here and never spell them themselves.
"""

from __future__ import annotations

MODES = ("within", "across")

# identifier -> label, in the order reports list them
DIVERSITY: dict[str, str] = {
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "distinct_3": "distinct-3",
    "distinct_4": "distinct-4",
    "distinct_2_per_response": "distinct-2 (per response)",
    "ead_2": "EAD-2",
    "entropy_4": "entropy-4",
    "norm_token_entropy": "normalised token entropy",
    "self_bleu_4": "self-BLEU-4",
    "seq_rep_4": "seq-rep-4",
    "rep_w16": "rep-w16",
    "rep_r": "rep-r",
    "repeat_rate_4x3": "repeat rate (4-gram x3)",
    "duplicates": "duplicates",
    "compression": "compression ratio",
    "length": "length",
    "embedding_distance": "embedding distance",
    "vendi": "Vendi score",
}

# Diversity metrics computed when asked for by name (``evalsuite metrics --metrics ...``), not in the
# default report: the ``diversity`` package's set (Shaib et al. 2024) and NoveltyBench's (Zhang et al. 2025).
EXTRA_DIVERSITY: dict[str, str] = {
    "ngram_diversity": "n-gram diversity (1-4)",
    "self_repetition": "self-repetition",
    "homogenization_rougel": "homogenization (ROUGE-L)",
    "homogenization_bleu": "homogenization (BLEU)",
    "remote_clique": "remote clique",
    "chamfer": "chamfer distance",
    "distinct_k": "distinct_k (equivalence classes)",
    "utility_k": "utility_k",
}

# Similarity of two runs' answers to the same prompts (homogenization between checkpoints); the
# qualified name is ``"<name>.between"`` (:func:`between`).
BETWEEN = "between"
BETWEEN_RUNS: dict[str, str] = {
    "homogenization_rougel": "homogenization (ROUGE-L)",
    "homogenization_embedding": "homogenization (embedding cosine)",
}

# The diversity metrics shown where there is room for two (nightly trends, report headlines, compare).
HEADLINE = ("distinct_2", "self_bleu_4")

ACCURACY = "acc"
LABELS: dict[str, str] = {**DIVERSITY, **EXTRA_DIVERSITY, **BETWEEN_RUNS, ACCURACY: "accuracy"}


def qualified(name: str, mode: str | None = None) -> str:
    """``distinct_2`` in mode ``within`` is ``distinct_2.within``; without a mode, the name itself."""
    if name not in LABELS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(LABELS)}")
    if mode is None:
        return name
    if mode not in MODES:
        raise KeyError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    return f"{name}.{mode}"


def between(name: str) -> str:
    """The name of a between-runs similarity: ``homogenization_rougel`` -> ``homogenization_rougel.between``."""
    if name not in BETWEEN_RUNS:
        raise KeyError(f"unknown between-runs metric {name!r}; known: {', '.join(BETWEEN_RUNS)}")
    return f"{name}.{BETWEEN}"


def split(qualified_name: str) -> tuple[str, str | None]:
    """Inverse of :func:`qualified`."""
    name, _, mode = qualified_name.partition(".")
    return name, (mode or None)


def label(qualified_name: str) -> str:
    """The human label: ``distinct_2.within`` -> ``distinct-2 (within)``."""
    name, mode = split(qualified_name)
    text = LABELS.get(name, name)
    return f"{text} ({mode})" if mode else text
