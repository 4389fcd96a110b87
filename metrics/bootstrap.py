"""Seeded percentile bootstrap over units (prompts, or responses).

Resampling units with replacement is the same as giving every unit an integer
weight drawn from Multinomial(U, 1/U); statistics here take such weights, so
a resample never copies text or re-tokenizes anything.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evalsuite.errors import ConfigError


def check_ci_args(confidence: float, n_boot: int) -> None:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot!r}")


def unit_weights(n_units: int, n_boot: int, seed: int):
    """Yield ``n_boot`` integer weight vectors (bootstrap multiplicities)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0:
        return (float("nan"), float("nan"))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n_units: int,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of ``statistic(unit_weights)`` over ``n_boot`` resamples."""
    check_ci_args(confidence, n_boot)
    if n_units == 0:
        return (float("nan"), float("nan"))
    samples = np.fromiter((statistic(w) for w in unit_weights(n_units, n_boot, seed)), dtype=float, count=n_boot)
    return percentile_interval(samples, confidence)


def mean_ci(
    values: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """CI of the mean of per-unit ``values`` (NaN units are left out)."""
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)

    def stat(w: np.ndarray) -> float:
        w = w * keep
        s = w.sum()
        return float(np.dot(w, np.where(keep, values, 0.0)) / s) if s else float("nan")

    return bootstrap_ci(stat, len(values), n_boot=n_boot, confidence=confidence, seed=seed)
