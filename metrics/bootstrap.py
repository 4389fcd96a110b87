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

from evalsuite.metrics.resampling import Resampling


def unit_weights(n_units: int, n_boot: int, seed: int):
    """Yield ``n_boot`` integer weight vectors (bootstrap multiplicities)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` share of ``samples`` (NaN left out); NaNs when nothing is left."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0:
        return (float("nan"), float("nan"))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n_units: int, resampling: Resampling) -> tuple[float, float]:
    """Percentile CI of ``statistic(unit_weights)`` over ``resampling.n_boot`` seeded resamples."""
    if n_units == 0:
        return (float("nan"), float("nan"))
    r = resampling
    samples = np.fromiter((statistic(w) for w in unit_weights(n_units, r.n_boot, r.seed)), dtype=float, count=r.n_boot)
    return percentile_interval(samples, r.confidence)


def mean_ci(values: np.ndarray, resampling: Resampling) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of per-unit ``values`` (NaN units are left out)."""
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)

    def stat(w: np.ndarray) -> float:
        w = w * keep
        s = w.sum()
        return float(np.dot(w, np.where(keep, values, 0.0)) / s) if s else float("nan")

    return bootstrap_ci(stat, len(values), resampling)


def half_sample_ci(
    statistic: Callable[[np.ndarray], float], n_units: int, value: float, resampling: Resampling
) -> tuple[float, float]:
    """Centred half-sampling interval around ``value`` (see the module docstring)."""
    if n_units < 2 or np.isnan(value):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(resampling.seed)
    m = n_units // 2
    samples = np.empty(resampling.n_boot)
    for b in range(resampling.n_boot):
        w = np.zeros(n_units, dtype=np.int64)
        w[rng.choice(n_units, m, replace=False)] = 1
        samples[b] = statistic(w)
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0:
        return (float("nan"), float("nan"))
    scale = np.sqrt(m * (n_units - 1) / (n_units * (n_units - m)))
    lo, hi = percentile_interval((samples - samples.mean()) * scale, resampling.confidence)
    return (float(value + lo), float(value + hi))
