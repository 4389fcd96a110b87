"""Agreement statistics against published worked examples and hand computations."""

from __future__ import annotations

import pytest

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.judging.agreement import cohen_kappa, fleiss_kappa, fleiss_kappa_counts, krippendorff_alpha, spearman

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C:
# 4 observers x 12 units with missing values (unit 12 has one value: unpairable).
_ = None
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


@pytest.mark.parametrize(
    "level, published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_published_values(level, published):
    a = krippendorff_alpha(KRIPPENDORFF_2011, level=level)
    assert a.value == pytest.approx(published, abs=5e-4)
    assert a.n_units == 11 and a.n_raters == 4
    assert f"level:{level}" in a.signature


def test_krippendorff_nominal_accepts_labels():
    names = {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}
    labelled = [[None if x is None else names[x] for x in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(labelled, level="nominal").value == pytest.approx(0.743, abs=5e-4)
    with pytest.raises(DataError, match="numeric"):
        krippendorff_alpha(labelled, level="interval")
    with pytest.raises(ConfigError, match="level must be"):
        krippendorff_alpha(KRIPPENDORFF_2011, level="cardinal")


# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example():
    k = fleiss_kappa_counts(FLEISS_TABLE)
    assert k.value == pytest.approx(0.210, abs=5e-4)
    assert (k.n_units, k.n_raters) == (10, 14)
    # The same data as raw labels, one row per subject, one column per rater.
    ratings = [[cat for cat, c in enumerate(row, start=1) for _ in range(c)] for row in FLEISS_TABLE]
    assert fleiss_kappa(ratings).value == pytest.approx(k.value)


def test_fleiss_rejects_missing_and_unequal_raters():
    with pytest.raises(DataError, match="krippendorff_alpha"):
        fleiss_kappa([[1, 2], [1, None]])
    with pytest.raises(DataError, match="same number"):
        fleiss_kappa_counts([[1, 1], [2, 1]])


# Two raters, 8 units, categories 1-3. Confusion (rows a, cols b): (1,1)=2 (1,2)=1 (2,2)=2 (3,2)=1 (3,3)=2;
# margins a = (3, 2, 3), b = (2, 4, 2). kappa_w = 1 - sum(w O) / sum(w a_i b_j / n):
#   linear    |i-j|:   observed 2, expected 56/8 = 7   -> 1 - 2/7  = 5/7
#   quadratic (i-j)^2: observed 2, expected 80/8 = 10  -> 1 - 2/10 = 0.8
#   unweighted: p_o = 6/8, p_e = (6 + 8 + 6)/64        -> (0.75 - 0.3125) / 0.6875 = 7/11
A = [1, 1, 2, 2, 3, 3, 3, 1]
B = [1, 2, 2, 2, 3, 2, 3, 1]


@pytest.mark.parametrize("weights, expected", [(None, 7 / 11), ("linear", 5 / 7), ("quadratic", 0.8)])
def test_cohen_kappa_hand_computation(weights, expected):
    k = cohen_kappa(A, B, weights=weights)
    assert k.value == pytest.approx(expected)


def test_cohen_kappa_drops_missing_pairs():
    k = cohen_kappa(A + [None, 2], B + [3, None], weights="linear")
    assert k.value == pytest.approx(5 / 7) and k.details["dropped_missing"] == 2 and k.n_units == 8
    with pytest.raises(ConfigError, match="weights"):
        cohen_kappa(A, B, weights="cubic")
    with pytest.raises(DataError, match="one rating each"):
        cohen_kappa(A, B[:-1])


def test_spearman_hand_computation():
    # no ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6*4 / (5*24) = 0.8
    s = spearman([1, 2, 3, 4, 5, None], [2, 1, 4, 3, 5, 4])
    assert s.value == pytest.approx(0.8) and s.n_units == 5 and s.details["dropped_missing"] == 1
    assert 0 < s.details["p_value"] < 1


def test_agreement_backends_are_imported_lazily():
    # evalsuite.metrics promises numpy only at import; the backends load when a statistic is called.
    import subprocess
    import sys

    code = (
        "import sys, evalsuite.metrics.judging.agreement, evalsuite.metrics.judging.pairwise, evalsuite.tasks.judging.verdicts; "
        "print(sorted(m for m in ('krippendorff', 'statsmodels', 'sklearn', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
