"""Clustered standard errors and power of paired designs, checked against statsmodels and simulation."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite.metrics.clustered import (
    cluster_bootstrap_means, cluster_se, mde_paired_binary, mde_paired_continuous, n_paired_binary,
    n_paired_continuous, paired_cluster_deltas,
)
from evalsuite.metrics.resampling import Resampling


def test_cluster_se_equals_statsmodels_cluster_robust_ols():
    import statsmodels.api as sm

    # Hand-built: 5 prompts with 1-4 samples each; samples of a prompt move together.
    values = [0.9, 0.8, 1.0, 0.2, 0.1, 0.5, 0.6, 0.55, 0.4, 0.3, 0.35, 0.7]
    prompts = ["p1", "p1", "p1", "p2", "p2", "p3", "p3", "p3", "p4", "p4", "p4", "p5"]
    fit = sm.OLS(np.array(values), np.ones((len(values), 1))).fit(cov_type="cluster", cov_kwds={"groups": np.unique(prompts, return_inverse=True)[1]})
    assert cluster_se(values, prompts) == pytest.approx(fit.bse[0], rel=1e-12)
    # With one sample per prompt the clustered SE is the ordinary one (times sqrt(n/(n-1)) / sqrt((n-1)/n) = 1 here).
    ordinary = np.std(values, ddof=1) / np.sqrt(len(values))
    assert cluster_se(values, [str(i) for i in range(len(values))]) == pytest.approx(ordinary, rel=1e-12)
    assert cluster_se(values, prompts) > ordinary  # shared prompts: more uncertainty than the item-level SE claims


def test_cluster_bootstrap_spread_matches_the_clustered_se():
    rng = np.random.default_rng(0)
    prompt_effect = rng.normal(0, 1, 300)
    clusters = np.repeat(np.arange(300), 8)
    values = prompt_effect[clusters] + rng.normal(0, 0.5, len(clusters))
    boots = cluster_bootstrap_means(values, clusters, Resampling(ci=True, n_boot=2000, seed=1))
    se = cluster_se(values, clusters)
    assert boots.std() == pytest.approx(se, rel=0.08)
    naive = values.std(ddof=1) / np.sqrt(len(values))
    assert se > 2.5 * naive  # 8 correlated samples per prompt are worth far fewer than 8 independent ones


def test_paired_cluster_deltas_resample_prompts_on_both_sides():
    a = {"p1": [1.0, 1.0], "p2": [0.0], "p3": [0.5, 0.5, 0.5]}
    b = {"p1": [0.0, 0.0], "p2": [1.0], "p3": [0.5, 0.5, 0.5], "p4": [9.0]}
    delta, boots = paired_cluster_deltas(a, b, Resampling(ci=True, n_boot=500, seed=0))
    assert delta == pytest.approx(2.5 / 6 - 3.5 / 6)  # p4 is unpaired and left out
    assert len(boots) == 500 and boots.min() >= -1 and boots.max() <= 1


@pytest.mark.parametrize("n,sd", [(40, 0.1), (200, 0.05), (1000, 0.3)])
def test_continuous_mde_and_n_match_statsmodels_ttest_power(n, sd):
    from statsmodels.stats.power import TTestPower

    expected = TTestPower().solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8, alternative="two-sided") * sd
    assert mde_paired_continuous(n, sd) == pytest.approx(expected, rel=1e-4)
    needed = TTestPower().solve_power(effect_size=0.02 / sd, nobs=None, alpha=0.05, power=0.8)
    assert n_paired_continuous(0.02, sd) == int(np.ceil(needed))


@pytest.mark.parametrize("n,psi", [(40, 0.3), (1000, 0.15), (14000, 0.1)])
def test_binary_mde_agrees_with_statsmodels_and_reaches_its_power_in_simulation(n, psi):
    from statsmodels.stats.power import NormalIndPower

    mde = mde_paired_binary(n, psi)
    # Under H0 the paired difference has variance psi: statsmodels' one-sample normal power gives the same MDE
    # up to Connor's alternative-variance term (psi - d^2), a relative gap of order d^2 / psi.
    normal = NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=0) * np.sqrt(psi)
    assert mde == pytest.approx(normal, rel=0.06) and mde <= normal
    assert n_paired_binary(mde, psi) in (n, n + 1)
    if n * psi < 100:
        return  # too few discordant pairs for the normal approximation to be held to 0.8 by simulation
    # Simulated McNemar chi-square (no continuity correction) rejection rate at the MDE is 0.8.
    rng = np.random.default_rng(0)
    counts = rng.multinomial(n, [(psi - mde) / 2, (psi + mde) / 2, 1 - psi], size=20000)
    discordant = counts[:, 0] + counts[:, 1]
    chi2 = (counts[:, 1] - counts[:, 0]) ** 2 / np.maximum(discordant, 1)
    assert np.mean(chi2 > 3.841458820694124) == pytest.approx(0.8, abs=0.03)


def test_a_tiny_suite_cannot_detect_a_small_effect():
    assert mde_paired_binary(5, 0.05) == float("inf")
    assert n_paired_binary(0.02, 0.15) > 2000
