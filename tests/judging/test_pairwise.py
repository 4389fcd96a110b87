"""Pairwise statistics against hand-computed tables and AlpacaEval's own pandas arithmetic."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from evalsuite.errors import DataError
from evalsuite.metrics.judging import (
    combine_orders, longer_answer_win_share, position_bias, preference_value, soft_win_rate, win_rate,
)
from evalsuite.metrics.resampling import NO_CI, Resampling


def test_win_rate_hand_table():
    outcomes = ["win"] * 5 + ["tie"] * 3 + ["loss"] * 2 + [None] * 2
    resampling = Resampling(ci=True, n_boot=500, seed=1)
    w = win_rate(outcomes, resampling=resampling)
    assert (w.wins, w.ties, w.losses, w.n, w.unparseable) == (5, 3, 2, 10, 2)
    assert w.value == pytest.approx((5 + 0.5 * 3) / 10)
    # scores 1,1,1,1,1,.5,.5,.5,0,0: sum of squared deviations from .65 is
    # 5(.35^2) + 3(.15^2) + 2(.65^2) = 1.525, so se = sqrt(1.525 / 9 / 10).
    assert w.standard_error == pytest.approx(math.sqrt(1.525 / 9 / 10))
    assert w.win_only_rate == pytest.approx(0.5) and w.loss_rate == pytest.approx(0.2)
    lo, hi = w.ci
    assert lo < w.value < hi and 0 <= lo and hi <= 1
    assert win_rate(outcomes, resampling=resampling).ci == w.ci  # seeded
    assert "ties:half" in w.signature and "ci:boot500@0.95|seed:1" in w.signature
    # By default a win rate carries a 95% interval from 1,000 resamples; without one the signature says nothing of it.
    assert "ci:boot1000@0.95|seed:0" in win_rate(outcomes).signature
    assert win_rate(outcomes, resampling=NO_CI).ci is None and "ci:" not in win_rate(outcomes, resampling=NO_CI).signature


def test_win_rate_rejects_unknown_outcome_and_handles_all_unparseable():
    with pytest.raises(DataError, match="outcome 1 is 'A'"):
        win_rate(["win", "A"])
    w = win_rate([None, None], resampling=NO_CI)
    assert w.n == 0 and w.unparseable == 2 and math.isnan(w.value)


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ("win", "win", "win"), ("loss", "loss", "loss"), ("tie", "tie", "tie"),
        ("win", "loss", "tie"), ("loss", "win", "tie"), ("win", "tie", "tie"), ("tie", "loss", "tie"),
        (None, "win", None), ("win", None, None), (None, None, None),
    ],
)
def test_combine_orders_disagreement_is_tie_and_unparseable_drops(first, second, expected):
    assert combine_orders(first, second) == expected


def test_position_bias_hand_table():
    # Outcomes of the side shown first in order 1 (and second in order 2).
    first = ["win", "win", "loss", "tie", "win", "loss", None, "win"]
    second = ["win", "loss", "win", "tie", "tie", "win", "win", "loss"]
    p = position_bias(first, second)
    # parsed pairs: 7; inconsistent: (w,l) (l,w) (w,t) (l,w) (w,l) = 5
    assert (p.n_pairs, p.inconsistent, p.unparseable) == (7, 5, 1)
    assert p.share_inconsistent == pytest.approx(5 / 7)
    assert p.first_position_favoured == 2  # (win, loss): the first-shown answer won both times
    assert p.second_position_favoured == 2
    with pytest.raises(DataError, match="one of each per pair"):
        position_bias(["win"], [])


def test_longer_answer_win_share():
    outcomes = ["win", "loss", "win", "tie", "loss", "win", None]
    mine = [100, 100, 10, 500, 50, 30, 900]
    theirs = [50, 10, 20, 10, 50, 10, 1]
    lb = longer_answer_win_share(outcomes, mine, theirs)
    # decisive with different lengths: rows 0,1,2,5 -> longer won in rows 0 and 5
    assert (lb.n_decisive, lb.longer_wins) == (4, 2)
    assert lb.share_longer_wins == pytest.approx(0.5)


def test_soft_win_rate_hand_values():
    prefs = [2, 2, 1, 1.5, 1.7, 1.4, None, float("nan"), 0, 2.5, -1]
    s = soft_win_rate(prefs)
    soft = [1, 1, 0, 0.5, 0.7, 0.4, 0.5]  # legacy 0 is a draw; None, NaN, 2.5, -1 are unparseable
    discrete = [1, 1, 0, 0.5, 1, 0, 0.5]
    assert (s.n, s.unparseable) == (7, 4)
    assert s.value == pytest.approx(4.1 / 7)
    assert s.discrete_value == pytest.approx(4 / 7)
    assert s.standard_error == pytest.approx(statistics.stdev(soft) / math.sqrt(7))
    assert s.discrete_standard_error == pytest.approx(statistics.stdev(discrete) / math.sqrt(7))
    assert (s.n_wins, s.n_wins_base, s.n_draws) == (3, 2, 2)


def test_soft_win_rate_matches_alpaca_eval_pandas_arithmetic():
    # AlpacaEval's describe_head2head: replace 0 -> 1.5, keep 1 <= p <= 2, mean/sem of p - 1 (x100);
    # the zero-one rule rounds first, 1.5 staying a draw.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    prefs = list(rng.uniform(1, 2, 40)) + [1.5, 1.5, 2.0, 1.0, 0.0]
    s = soft_win_rate(prefs)
    series = pd.Series(prefs).replace({0: 1.5}).astype(float)
    series = series[(series >= 1) & (series <= 2)] - 1
    assert s.value * 100 == pytest.approx(series.mean() * 100)
    assert s.standard_error * 100 == pytest.approx(series.sem() * 100)
    zero_one = pd.Series(prefs).replace({1.5: 0}).round().astype(float).replace({0.0: 1.5}) - 1
    assert s.discrete_value * 100 == pytest.approx(zero_one.mean() * 100)


def test_preference_value_is_never_guessed():
    assert preference_value(None) is None
    assert preference_value("2") is None
    assert preference_value(True) is None
    assert preference_value(float("nan")) is None
    assert preference_value(0) == 1.5 and preference_value(1) == 1.0 and preference_value(2.0) == 2.0
