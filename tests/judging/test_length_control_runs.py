"""Our own pairwise judge runs carry the length-controlled win rate per pair (judge behind a local HTTP server)."""

from __future__ import annotations


import pytest

from evalsuite.metrics.judging.length_control import MINIMAL, length_controlled_win_rate
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_pairwise import combine_pairwise
from evalsuite.results import load_result
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.pairwise import PairwiseJudgeTask

BASE = ["one two", "a b c", "short", "w x y z", "tiny one", "p q", "just this", "m n o", "brief", "k l m n o"]
CAND = ["one two three four", "a", "a longer answer here", "w x", "tiny one indeed yes", "p q r s t u",
        "just", "m n o p q", "brief and then some more", "k"]


def _prefers_longer(a: str, b: str) -> str:
    """Prefers the longer answer; equal word counts are a tie."""
    return "[[A]]" if len(a.split()) > len(b.split()) else "[[B]]" if len(b.split()) > len(a.split()) else "[[C]]"


def test_pairwise_run_stores_lc_win_rate(tmp_path, pair_judge, answer_runs):
    folders = answer_runs({"base": BASE, "cand": CAND})
    judge = JudgeSpec(name="longer", base_url=pair_judge(_prefers_longer), model="rule")
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_judges(PairwiseJudgeTask, {"runs": [str(f) for f in folders], "n_boot": 40}, [judge], store, tmp_path / "pw")
    result = combine_pairwise(tmp_path / "pw", ["longer"])
    lc = result.pairs[0].length_controlled
    # By hand: the candidate wins where it has more words, loses where fewer (no equal counts here).
    base_words, cand_words = [len(a.split()) for a in BASE], [len(a.split()) for a in CAND]
    prefs = [2.0 if c > b else 1.0 for b, c in zip(base_words, cand_words)]
    direct = length_controlled_win_rate(prefs, base_words, cand_words, resampling=Resampling(ci=True, n_boot=40))
    assert lc.glm == MINIMAL and lc.length_unit == "words" and lc.n == 10
    assert lc.value == pytest.approx(direct.value, abs=1e-12) and lc.ci == pytest.approx(direct.ci, abs=1e-12)
    assert lc.coefficients["length"] < 0  # a longer candidate answer (negative baseline-minus-candidate) wins
    assert result.pairs[0].win_rate == pytest.approx(sum(p == 2.0 for p in prefs) / 10)
    assert load_result(tmp_path / "pw").pairs[0].length_controlled == lc  # written and read back
