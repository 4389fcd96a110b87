"""Bradley-Terry: against a direct maximum-likelihood fit and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from evalsuite.errors import DataError
from evalsuite.metrics.judging import bradley_terry
from evalsuite.metrics.resampling import NO_CI, Resampling


def _random_tournament(seed: int, k: int = 5, n: int = 300):
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1, k)
    rows = []
    for _ in range(n):
        a, b = rng.choice(k, 2, replace=False)
        p = 1 / (1 + math.exp(truth[b] - truth[a]))
        u = rng.random()
        outcome = "tie" if abs(u - p) < 0.05 else ("win" if u < p else "loss")
        rows.append((f"m{a}", f"m{b}", outcome))
    return rows


def _scipy_fit(rows):
    """Maximize the ties-as-half-wins log-likelihood directly with BFGS."""
    models = sorted({r[0] for r in rows} | {r[1] for r in rows})
    idx = {m: i for i, m in enumerate(models)}
    a = np.array([idx[r[0]] for r in rows])
    b = np.array([idx[r[1]] for r in rows])
    s = np.array([{"win": 1.0, "tie": 0.5, "loss": 0.0}[r[2]] for r in rows])

    def nll(free):
        beta = np.concatenate([[0.0], free])
        d = beta[a] - beta[b]
        return -(s * -np.logaddexp(0, -d) + (1 - s) * -np.logaddexp(0, d)).sum()

    res = minimize(nll, np.zeros(len(models) - 1), method="BFGS", options={"gtol": 1e-9})
    beta = np.concatenate([[0.0], res.x])
    return dict(zip(models, beta - beta.mean())), -res.fun


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_direct_likelihood_maximization(seed):
    rows = _random_tournament(seed)
    fit = bradley_terry(rows, resampling=NO_CI)
    expected, ll = _scipy_fit(rows)
    for m, value in expected.items():
        assert fit.strengths[m] == pytest.approx(value, abs=1e-5)
    assert fit.log_likelihood == pytest.approx(ll, abs=1e-8)
    assert sum(fit.strengths.values()) == pytest.approx(0, abs=1e-12)


def test_two_models_closed_form_with_ties_as_half_wins():
    # A beats B 7 times, B beats A twice, 2 ties: credits 8 and 3, so the MLE
    # of P(A beats B) is 8/11 and beta_A - beta_B = log(8/3).
    rows = [("A", "B", "win")] * 7 + [("B", "A", "win")] * 2 + [("A", "B", "tie")] * 2
    fit = bradley_terry(rows, resampling=NO_CI)
    assert fit.strengths["A"] - fit.strengths["B"] == pytest.approx(math.log(8 / 3), abs=1e-10)
    assert fit.win_probability("A", "B") == pytest.approx(8 / 11)
    assert fit.ratings["A"] - fit.ratings["B"] == pytest.approx(400 * math.log10(8 / 3))


@pytest.mark.parametrize("wins, losses", [(99, 1), (1, 999), (3, 3)])
def test_lopsided_records_still_reach_the_closed_form(wins, losses):
    rows = [("A", "B", "win")] * wins + [("A", "B", "loss")] * losses
    fit = bradley_terry(rows, resampling=NO_CI)
    assert fit.strengths["A"] - fit.strengths["B"] == pytest.approx(math.log(wins / losses), abs=1e-9)


def test_balanced_round_robin_gives_equal_strengths():
    rows = []
    for a, b in [("x", "y"), ("y", "z"), ("z", "x")]:
        rows += [(a, b, "win"), (a, b, "loss"), (a, b, "tie")]
    fit = bradley_terry(rows, resampling=NO_CI)
    assert all(abs(v) < 1e-10 for v in fit.strengths.values())


def test_unparseable_excluded_and_unbeaten_model_rejected():
    rows = [("A", "B", "win"), ("B", "A", "win"), ("A", "B", None)]
    fit = bradley_terry(rows, resampling=NO_CI)
    assert fit.unparseable == 1 and fit.n_comparisons == 2
    with pytest.raises(DataError, match="infinite"):
        bradley_terry([("A", "B", "win"), ("B", "C", "tie"), ("C", "B", "win")], resampling=NO_CI)
    with pytest.raises(DataError, match="against itself"):
        bradley_terry([("A", "A", "win")], resampling=NO_CI)


def test_seeded_bootstrap_interval():
    rows = _random_tournament(4, k=4, n=200)
    fit = bradley_terry(rows, resampling=Resampling(ci=True, n_boot=100, seed=7))
    again = bradley_terry(rows, resampling=Resampling(ci=True, n_boot=100, seed=7))
    assert fit.ci == again.ci
    for m, (lo, hi) in fit.ci.items():
        assert lo < fit.strengths[m] < hi
    assert fit.ci != bradley_terry(rows, resampling=Resampling(ci=True, n_boot=100, seed=8)).ci
    assert "ci:boot100@0.95|seed:7" in fit.signature
    assert "ci:boot200@0.95|seed:0" in bradley_terry(rows).signature  # the default: 200 seeded resamples
