"""Uncertainty when observations share a cluster, and the power of paired designs.

Samples drawn for one prompt (or judges scoring one item) are not independent:
an item-level standard error treats n samples per prompt as n independent
observations and understates the uncertainty. Here:

- :func:`cluster_se`: the cluster-robust (CR1) standard error of a mean, the
  one statsmodels' OLS reports with ``cov_type="cluster"`` for an intercept-only
  model: ``sqrt(G/(G-1) * sum_g (sum_{i in g} e_i)^2) / N``.
- :func:`cluster_bootstrap_means` / :func:`paired_cluster_deltas`: the
  bootstrap that resamples whole clusters (with everything in them), for one
  sample's mean and for the paired difference of two runs' means over the
  clusters they share. A resample is a weight per cluster (its multiplicity),
  so nothing is copied; resamples are drawn in chunks to bound memory.
- Power of paired designs: the minimum detectable effect (MDE) and the units
  needed for an effect, for paired binary outcomes (McNemar's test, Connor's
  1987 normal approximation with discordance ``psi = p01 + p10``) and for
  continuous paired differences (the paired t-test, noncentral t).

A result's signature names the unit resampled: ``cluster:prompt``,
``cluster:item`` or ``unit:item`` (see :func:`unit_label`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.resampling import Resampling

_CHUNK_CELLS = 4_000_000  # resample weights held at once (n_boot rows x clusters)


def unit_label(cluster_by: str | None) -> str:
    """The signature part naming what is resampled: ``cluster:prompt``, or ``unit:item`` without clusters."""
    return f"cluster:{cluster_by}" if cluster_by else "unit:item"


def _codes(clusters: Sequence) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    return codes, int(codes.max()) + 1 if len(codes) else 0


def cluster_se(values: Sequence[float], clusters: Sequence) -> float:
    """Cluster-robust (CR1) standard error of the mean of ``values`` grouped by ``clusters``.

    Equal to statsmodels ``OLS(values, ones).fit(cov_type="cluster", cov_kwds={"groups": clusters}).bse[0]``.
    NaN with fewer than two clusters.
    """
    y = np.asarray(values, dtype=float)
    if len(y) != len(clusters):
        raise ConfigError(f"cluster_se: {len(y)} values but {len(clusters)} cluster labels")
    codes, g = _codes(clusters)
    if g < 2:
        return float("nan")
    sums = np.bincount(codes, weights=y - y.mean(), minlength=g)
    return float(math.sqrt(g / (g - 1) * np.sum(sums**2)) / len(y))


def _weights(n_clusters: int, resampling: Resampling) -> Iterator[np.ndarray]:
    """Cluster multiplicities of ``resampling.n_boot`` seeded resamples, in chunks of rows."""
    rng = np.random.default_rng(resampling.seed)
    rows = max(1, _CHUNK_CELLS // max(n_clusters, 1))
    done = 0
    while done < resampling.n_boot:
        k = min(rows, resampling.n_boot - done)
        draws = rng.integers(0, n_clusters, size=(k, n_clusters))
        counts = np.zeros((k, n_clusters))
        np.add.at(counts, (np.repeat(np.arange(k), n_clusters), draws.ravel()), 1)
        done += k
        yield counts


def cluster_bootstrap_means(values: Sequence[float], clusters: Sequence, resampling: Resampling) -> np.ndarray:
    """The mean of ``values`` in each of ``resampling.n_boot`` resamples of whole clusters."""
    y = np.asarray(values, dtype=float)
    codes, g = _codes(clusters)
    sums = np.bincount(codes, weights=y, minlength=g)
    sizes = np.bincount(codes, minlength=g).astype(float)
    return np.concatenate([(w @ sums) / (w @ sizes) for w in _weights(g, resampling)])


def paired_cluster_deltas(a: dict[str, Sequence[float]], b: dict[str, Sequence[float]],
                          resampling: Resampling) -> tuple[float, np.ndarray]:
    """``mean(b) - mean(a)`` over the clusters both share, and its value in each cluster resample.

    ``a`` and ``b`` map a cluster id (a prompt) to that cluster's observations
    (one per sample); a resample draws shared clusters with replacement and
    takes every observation of a drawn cluster, on both sides at once.
    """
    shared = sorted(a.keys() & b.keys())
    if not shared:
        raise ConfigError("paired_cluster_deltas: the two runs share no cluster")
    sums = {side: np.array([float(np.sum(d[k])) for k in shared]) for side, d in (("a", a), ("b", b))}
    sizes = {side: np.array([float(len(d[k])) for k in shared]) for side, d in (("a", a), ("b", b))}
    delta = sums["b"].sum() / sizes["b"].sum() - sums["a"].sum() / sizes["a"].sum()
    boots = [(w @ sums["b"]) / (w @ sizes["b"]) - (w @ sums["a"]) / (w @ sizes["a"]) for w in _weights(len(shared), resampling)]
    return float(delta), np.concatenate(boots)


def bootstrap_p(deltas: np.ndarray, n_boot: int) -> float:
    """Two-sided percentile-bootstrap p-value for a delta of zero; never below ``1/n_boot``."""
    if np.all(deltas == 0):
        return 1.0
    tail = min(np.mean(deltas <= 0), np.mean(deltas >= 0))
    return float(min(1.0, max(2 * tail, 1.0 / n_boot)))


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _check(alpha: float, power: float) -> None:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ConfigError(f"alpha and power must lie in (0, 1), got alpha={alpha!r}, power={power!r}")


def n_paired_binary(effect: float, discordance: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Pairs McNemar's test needs to detect ``effect`` = p01 - p10 (Connor 1987), two-sided at ``alpha``."""
    _check(alpha, power)
    d = abs(effect)
    if not 0 < d <= discordance <= 1:
        raise ConfigError(f"need 0 < |effect| <= discordance <= 1, got effect={effect!r}, discordance={discordance!r}")
    root = _z(1 - alpha / 2) * math.sqrt(discordance) + _z(power) * math.sqrt(discordance - d * d)
    return math.ceil(root * root / (d * d))


def mde_paired_binary(n: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest |p01 - p10| McNemar's test detects with ``power`` on ``n`` pairs (Connor 1987); inf if none."""
    from scipy.optimize import brentq

    _check(alpha, power)
    if n < 1 or not 0 < discordance <= 1:
        raise ConfigError(f"need n >= 1 and 0 < discordance <= 1, got n={n!r}, discordance={discordance!r}")
    za, zb = _z(1 - alpha / 2), _z(power)

    def gap(d: float) -> float:  # n d^2 - (required root)^2: increasing in d
        return n * d * d - (za * math.sqrt(discordance) + zb * math.sqrt(max(discordance - d * d, 0.0))) ** 2

    if gap(discordance) < 0:
        return math.inf
    return float(brentq(gap, 1e-12, discordance, xtol=1e-12))


def _t_power(effect: float, n: float, sd: float, alpha: float) -> float:
    from scipy.stats import nct, t

    df = n - 1
    crit = t.ppf(1 - alpha / 2, df)
    shift = effect * math.sqrt(n) / sd
    # P(T < -crit | shift) = P(T > crit | -shift); scipy's cdf turns NaN far in the tail where sf does not.
    upper, lower = nct.sf(crit, df, shift), nct.sf(crit, df, -shift)
    return float(np.nan_to_num(upper) + np.nan_to_num(lower))


def mde_paired_continuous(n: int, sd: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean paired difference the two-sided paired t-test detects with ``power`` on ``n`` pairs."""
    from scipy.optimize import brentq

    _check(alpha, power)
    if n < 2 or not sd > 0:
        raise ConfigError(f"need n >= 2 pairs and sd > 0, got n={n!r}, sd={sd!r}")
    high = sd
    while _t_power(high, n, sd, alpha) < power:
        high *= 2
    return float(brentq(lambda d: _t_power(d, n, sd, alpha) - power, 1e-12 * sd, high, xtol=1e-14))


def n_paired_continuous(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Pairs the two-sided paired t-test needs to detect a mean difference ``effect`` with ``power``."""
    from scipy.optimize import brentq

    _check(alpha, power)
    if effect == 0 or not sd > 0:
        raise ConfigError(f"need effect != 0 and sd > 0, got effect={effect!r}, sd={sd!r}")
    d = abs(effect)
    if _t_power(d, 2.0, sd, alpha) >= power:
        return 2
    high = 4.0
    while _t_power(d, high, sd, alpha) < power:
        high *= 2
    return math.ceil(brentq(lambda n: _t_power(d, n, sd, alpha) - power, 2.0, high, xtol=1e-9))
