"""Length-matched comparison of two sets of responses.

Diversity metrics move with length (longer answers have lower distinct-n and
higher self-BLEU pools), so a checkpoint that only got more verbose can look
"less diverse". ``match_lengths`` picks subsets of two sets whose token-length
histograms are equal: lengths are binned on the pooled quantiles and each bin
keeps the same number of responses from both sides, sampled with a seed.
"""

from __future__ import annotations

import numpy as np

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.diversity.io import Record
from evalsuite.metrics.diversity.ngrams import encode


def match_lengths(
    lengths_a: np.ndarray, lengths_b: np.ndarray, *, n_bins: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices into ``a`` and ``b`` with matched length distributions."""
    if n_bins < 1:
        raise ConfigError(f"n_bins must be >= 1, got {n_bins}")
    a = np.asarray(lengths_a)
    b = np.asarray(lengths_b)
    if len(a) == 0 or len(b) == 0:
        return np.arange(0), np.arange(0)
    edges = np.unique(np.quantile(np.concatenate([a, b]), np.linspace(0, 1, n_bins + 1)))
    bin_a = np.searchsorted(edges[1:-1], a, side="right")
    bin_b = np.searchsorted(edges[1:-1], b, side="right")
    rng = np.random.default_rng(seed)
    keep_a, keep_b = [], []
    for k in range(len(edges)):
        ia = np.flatnonzero(bin_a == k)
        ib = np.flatnonzero(bin_b == k)
        m = min(len(ia), len(ib))
        if m:
            keep_a.append(rng.choice(ia, m, replace=False))
            keep_b.append(rng.choice(ib, m, replace=False))
    if not keep_a:
        return np.arange(0), np.arange(0)
    return np.sort(np.concatenate(keep_a)), np.sort(np.concatenate(keep_b))


def length_matched(
    sets: dict[str, list[Record]], *, tokenizer: str = "auto", n_bins: int = 10, seed: int = 0
) -> tuple[dict[str, list[Record]], dict]:
    """The two sets cut to length-matched subsets (:func:`match_lengths` on token counts), and a note of what was kept.

    An error when there are not exactly two sets, or when fewer than two
    responses survive because the lengths do not overlap.
    """
    if len(sets) != 2:
        raise ConfigError(f"length matching needs exactly two sets to compare, got {len(sets)}: {', '.join(sets)}")
    (la, ra), (lb, rb) = sets.items()
    lengths = [encode([r.text for r in recs], tokenizer).lengths for recs in (ra, rb)]
    ia, ib = match_lengths(lengths[0], lengths[1], n_bins=n_bins, seed=seed)
    if len(ia) < 2:
        raise DataError(
            f"length matching kept {len(ia)} responses: the two sets' token lengths do not overlap "
            f"({la}: median {int(np.median(lengths[0]))}, {lb}: median {int(np.median(lengths[1]))}); "
            "compare without --length-matched or with fewer --length-bins"
        )
    note = {"kept": [len(ia), len(ib)], "of": [len(ra), len(rb)], "bins": n_bins}
    return {la: [ra[i] for i in ia], lb: [rb[i] for i in ib]}, note
