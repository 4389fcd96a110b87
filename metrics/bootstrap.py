"""Seeded confidence intervals over units (prompts, or responses).

Statistics here take a weight per unit instead of a resampled copy of the
data, so a resample never copies text or re-tokenizes anything.

- Means over units (within-prompt metrics, per-response averages): percentile
  bootstrap; resampling with replacement = integer weights drawn from
  Multinomial(U, 1/U).
- Pooled statistics (corpus distinct-n, Ent-n, compression, pooled self-BLEU,
  Vendi): the ordinary bootstrap is wrong for them. A unit drawn twice brings
  exact duplicate text, which such statistics read as lost diversity, so the
  resampled values sit systematically below the estimate (distinct-n's whole
  interval can lie under its value). They use half-sampling instead: random
  halves of the units without replacement (no duplicates), deviations from the
  half-sample mean rescaled by sqrt(m (U - 1) / (U (U - m))), which makes the
  spread exact for a mean, and centred on the full-sample value. Centring
  also removes the shift that size-dependent statistics show on half the data.
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


def half_sample_ci(
    statistic: Callable[[np.ndarray], float],
    n_units: int,
    value: float,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Centred half-sampling interval around ``value`` (see the module docstring)."""
    check_ci_args(confidence, n_boot)
    if n_units < 2 or np.isnan(value):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    m = n_units // 2
    samples = np.empty(n_boot)
    for b in range(n_boot):
        w = np.zeros(n_units, dtype=np.int64)
        w[rng.choice(n_units, m, replace=False)] = 1
        samples[b] = statistic(w)
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0:
        return (float("nan"), float("nan"))
    scale = np.sqrt(m * (n_units - 1) / (n_units * (n_units - m)))
    dev = (samples - samples.mean()) * scale
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(dev, [alpha, 1 - alpha])
    return (float(value + lo), float(value + hi))
