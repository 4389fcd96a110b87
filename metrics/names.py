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

# The diversity metrics shown where there is room for two (nightly trends, report headlines, compare).
HEADLINE = ("distinct_2", "self_bleu_4")

ACCURACY = "acc"
LABELS: dict[str, str] = {**DIVERSITY, ACCURACY: "accuracy"}


def qualified(name: str, mode: str | None = None) -> str:
    """``distinct_2`` in mode ``within`` is ``distinct_2.within``; without a mode, the name itself."""
    if name not in LABELS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(LABELS)}")
    if mode is None:
        return name
    if mode not in MODES:
        raise KeyError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    return f"{name}.{mode}"


def split(qualified_name: str) -> tuple[str, str | None]:
    """Inverse of :func:`qualified`."""
    name, _, mode = qualified_name.partition(".")
    return name, (mode or None)


def label(qualified_name: str) -> str:
    """The human label: ``distinct_2.within`` -> ``distinct-2 (within)``."""
    name, mode = split(qualified_name)
    text = LABELS.get(name, name)
    return f"{text} ({mode})" if mode else text
