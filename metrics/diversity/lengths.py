"""Length-matched comparison of two sets of responses.

Diversity metrics move with length (longer answers have lower distinct-n and
higher self-BLEU pools), so a checkpoint that only got more verbose can look
"less diverse". ``match_lengths`` picks subsets of two sets whose token-length
histograms are equal: lengths are binned on the pooled quantiles and each bin
keeps the same number of responses from both sides, sampled with a seed.
"""

from __future__ import annotations

import numpy as np

from evalsuite.errors import ConfigError


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
