"""pass@k against the binomial formula computed directly with math.comb (exact rationals)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from evalsuite.errors import ConfigError
from evalsuite.execution.pass_at_k import pass_at_k, pass_at_k_table


def direct(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


# Hand-made counts, including the edges: none correct, all correct, n - c < k, k == n, large n.
CASES = [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 2), (5, 2, 3), (5, 2, 4), (10, 3, 10), (10, 0, 5),
         (10, 10, 1), (20, 1, 10), (100, 7, 1), (100, 7, 10), (200, 37, 100), (200, 1, 1), (1000, 3, 100)]


@pytest.mark.parametrize("n,c,k", CASES)
def test_matches_math_comb(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(direct(n, c, k), rel=1e-12, abs=1e-15)


def test_pass_at_1_is_the_fraction_correct():
    assert pass_at_k(40, 13, 1) == pytest.approx(13 / 40, rel=1e-12)


def test_k_larger_than_n_is_not_computed():
    assert pass_at_k(3, 1, 5) is None


def test_table_reports_overall_only_when_every_task_has_enough_samples():
    table = pass_at_k_table({"a": (10, 3), "b": (10, 0), "c": (4, 4)}, [1, 5])
    assert table[1].value == pytest.approx((direct(10, 3, 1) + 0 + 1) / 3)
    assert table[1].tasks_with_enough_samples == 3
    assert table[5].value is None
    assert table[5].per_task["c"] is None
    assert table[5].per_task["a"] == pytest.approx(direct(10, 3, 5))
    assert table[5].tasks_with_enough_samples == 2
    assert table[5].signature.startswith("pass@k|k:5|")


@pytest.mark.parametrize("n,c,k,needle", [(5, 6, 1, "c <= n"), (5, -1, 1, "c <= n"), (5, 2, 0, "at least 1"),
                                          (5.0, 2, 1, "integer"), (5, True, 1, "integer")])
def test_bad_arguments_are_errors(n, c, k, needle):
    with pytest.raises(ConfigError, match=needle):
        pass_at_k(n, c, k)
