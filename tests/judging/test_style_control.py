"""Style-controlled Bradley-Terry against a statsmodels logistic regression fitted by hand on the same design."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite.errors import DataError
from evalsuite.metrics.judging import STYLE_FEATURES, bradley_terry, style_features
from evalsuite.metrics.resampling import NO_CI, Resampling


def _battles(seed=0, n=400):
    rng = np.random.default_rng(seed)
    models = ["alpha", "beta", "gamma", "delta"]
    true = {"alpha": 0.6, "beta": 0.0, "gamma": -0.3, "delta": -0.3}
    verbosity = {"alpha": 300, "beta": 900, "gamma": 500, "delta": 400}
    rows, style = [], []
    for _ in range(n):
        a, b = rng.choice(models, 2, replace=False)
        sa = {"length": float(rng.poisson(verbosity[a])), "header_count": float(rng.poisson(1.0)),
              "list_count": float(rng.poisson(3.0 if a == "beta" else 1.0)), "bold_count": 0.0}
        sb = {"length": float(rng.poisson(verbosity[b])), "header_count": float(rng.poisson(1.0)),
              "list_count": float(rng.poisson(3.0 if b == "beta" else 1.0)), "bold_count": 0.0}
        z = true[a] - true[b] + 1.5 * (sa["length"] - sb["length"]) / (sa["length"] + sb["length"] + 1)
        u = rng.random()
        p = 1 / (1 + np.exp(-z))
        outcome = "tie" if abs(u - p) < 0.05 else "win" if u < p else "loss"
        rows.append((str(a), str(b), outcome if rng.random() > 0.03 else None))
        style.append((sa, sb))
    return rows, style


def test_matches_statsmodels_on_the_same_design():
    sm = pytest.importorskip("statsmodels.api")
    rows, style = _battles()
    fit = bradley_terry(rows, style=style, resampling=NO_CI)
    # The design by hand, as Chatbot Arena builds it: +1/-1 model columns (alpha the reference), then per style
    # feature (a - b) / (a + b + 1) standardised with the population standard deviation; bold is constant here.
    kept = [(r, s) for r, s in zip(rows, style) if r[2] is not None]
    models = sorted({m for r, _ in kept for m in r[:2]})
    x = np.zeros((len(kept), len(models) - 1))
    for n, ((a, b, _), _) in enumerate(kept):
        for m, sign in ((a, 1), (b, -1)):
            if models.index(m) > 0:
                x[n, models.index(m) - 1] = sign
    feats = ["length", "header_count", "list_count"]
    diff = np.array([[(sa[f] - sb[f]) / (sa[f] + sb[f] + 1) for f in feats] for _, (sa, sb) in kept])
    design = np.hstack([x, (diff - diff.mean(0)) / diff.std(0)])
    y = np.array([{"win": 1.0, "tie": 0.5, "loss": 0.0}[o] for (_, _, o), _ in kept])
    ref = sm.GLM(y, design, family=sm.families.Binomial()).fit(tol=1e-12)
    strengths = np.r_[0.0, ref.params[:3]]
    strengths -= strengths.mean()
    assert [fit.strengths[m] for m in models] == pytest.approx(strengths, abs=1e-8)
    assert [fit.style_coefficients[f] for f in feats] == pytest.approx(ref.params[3:], abs=1e-8)
    mu = ref.mu  # statsmodels' llf adds a binomial-coefficient term for fractional y; compare the kernel
    assert fit.style_dropped == ("bold_count",)
    assert fit.log_likelihood == pytest.approx(float(np.sum(y * np.log(mu) + (1 - y) * np.log(1 - mu))), abs=1e-8)
    assert fit.style_coefficients["length"] > 0  # the simulated judge rewards length
    # Without style control beta's verbosity inflates its strength; with it, beta falls back towards its true 0.
    plain = bradley_terry(rows, resampling=NO_CI)
    assert plain.strengths["beta"] > fit.strengths["beta"]
    assert "style:arena-v1" in fit.signature and "style" not in plain.signature


def test_bootstrap_intervals_cover_style_coefficients():
    rows, style = _battles(seed=1, n=200)
    fit = bradley_terry(rows, style=style, resampling=Resampling(ci=True, n_boot=40))
    lo, hi = fit.style_ci["length"]
    assert lo < fit.style_coefficients["length"] < hi
    assert set(fit.ci) == set(fit.models)


def test_style_features_and_errors():
    text = "# Title\n\nSome **bold** text.\n\n- one\n- two\n1. three\n```\n# not a header\n- not a list\n```\n"
    assert style_features(text) == {"length": float(len(text)), "header_count": 1.0, "list_count": 3.0, "bold_count": 1.0}
    assert style_features("plain", length=7) ["length"] == 7.0
    assert STYLE_FEATURES == ("length", "header_count", "list_count", "bold_count")
    with pytest.raises(DataError, match="got 1 style pairs for 2 comparisons"):
        bradley_terry([("a", "b", "win"), ("b", "a", "win")], style=[({}, {})])
    with pytest.raises(DataError, match=r"comparison 0: style features \['header_count'"):
        bradley_terry([("a", "b", "win")], style=[({"length": 1}, {"length": 2})])
