"""Probability-weighted pairwise preferences (judge-pairwise-probs), checked by hand on judges whose log-probabilities
are known and that never write a parseable verdict (the demo's tiny local judge)."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pytest

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.errors import ConfigError
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics.judging.length_control import MINIMAL, length_controlled_win_rate
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_pairwise import combine_pairwise
from evalsuite.results import load_result, load_run
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore
from evalsuite.task import GenerationResult, MultipleChoiceResult
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.pairwise import PairwiseJudgeTask, PairwiseProbabilityTask

BASE = ["one two", "a b c", "short", "w x y z", "tiny one", "p q", "just this", "m n o", "brief", "k l m n o"]
CAND = ["one two three four", "a", "a longer answer here", "w x", "tiny one indeed yes", "p q r s t u",
        "just", "m n o p q", "brief and then some more", "k"]
ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.S)


def longer_and_first(a: str, b: str) -> list[float]:
    """log p of 'A]]', 'B]]', 'C]]': favours the longer answer, and the one shown first (a position bias)."""
    return [-3.0 + 0.2 * len(a.split()) + 0.4, -3.0 + 0.2 * len(b.split()), -3.5]


def always_first(a: str, b: str) -> list[float]:
    """Pure position bias: whatever the answers, 'A]]' is the likeliest."""
    return [-0.5, -2.5, -3.0]


class SoftJudge:
    """A judge that never writes a parseable verdict, with known log-likelihoods for the three verdicts."""

    name = "stub"

    def __init__(self, rule):
        self.rule = rule  # the store keys results by the weights: one fingerprint per rule
        weights = hashlib.sha256(rule.__name__.encode()).hexdigest()
        self.fingerprint = ModelFingerprint(model=rule.__name__, revision=None, weights_sha256=weights, backend="stub",
                                            dtype="none", device="cpu")
        self.capabilities = Capabilities(generate=True, loglikelihoods=True)

    def generate(self, requests):
        for i, _ in enumerate(requests):
            yield [i], [GenerationResult(responses=["Both answers"], new_tokens=[2], finish_reasons=["length"],
                                         prompt_tokens=1)]

    def loglikelihoods(self, requests):
        for i, r in enumerate(requests):
            assert r.text == "[[" and r.continuations == ["A]]", "B]]", "C]]"]
            shown = dict(ANSWER.findall(r.prefix))
            yield [i], [MultipleChoiceResult(loglikelihoods=self.rule(shown["A"], shown["B"]), path="stub",
                                             prompt_tokens=1)]

    def close(self):
        pass


def by_hand(rule, base: str, cand: str) -> tuple[float, float, float, float]:
    """Order 0 (candidate shown as B) and order 1 (as A): the candidate's p(win) + 0.5 p(tie), and each order's mass."""
    p0, p1 = [math.exp(x) for x in rule(base, cand)], [math.exp(x) for x in rule(cand, base)]
    pref0 = (p0[1] + 0.5 * p0[2]) / sum(p0)
    pref1 = (p1[0] + 0.5 * p1[2]) / sum(p1)
    return pref0, pref1, sum(p0), sum(p1)


@pytest.fixture()
def runs(answer_runs):
    folders = [str(f) for f in answer_runs({"base": BASE, "cand": CAND})]
    return folders


def test_requests_score_the_three_verdicts_after_the_verdict_runs_prompts(runs):
    verdict, scoring = PairwiseJudgeTask({"runs": runs}), PairwiseProbabilityTask({"runs": runs})
    prompts = {r.key: r.messages[0]["content"] for r in verdict.requests()}
    requests = scoring.requests()
    assert sorted(r.key for r in requests) == sorted(prompts) and len(prompts) == 2 * len(BASE)  # both orders
    for r in requests:
        assert r.group == r.key and r.prefix == prompts[r.key] + "\n\n" and r.text == "[["
        assert r.continuations == ["A]]", "B]]", "C]]"]
    assert "judge_temperature" not in scoring.resolved_params() and scoring.resolved_params()["prompt_format"] == "plain"


def test_soft_preferences_win_rate_and_length_control_by_hand(runs, tmp_path):
    out, params = tmp_path / "pw", {"runs": runs, "n_boot": 40, "seed": 3}
    with ResultStore(tmp_path / "s.sqlite") as store:
        for rule in (longer_and_first, always_first):
            judge = SoftJudge(rule)
            evaluate(PairwiseJudgeTask(params), judge, store, out_dir=out / rule.__name__)
            evaluate(PairwiseProbabilityTask(params), judge, store, out_dir=out / rule.__name__ / "probability")
    result = combine_pairwise(out, ["longer_and_first", "always_first"])
    assert load_result(out) == result and result.probability_judges == ["longer_and_first", "always_first"]
    stats = {p.judge: p for p in result.pairs}
    hand = [by_hand(longer_and_first, b, c) for b, c in zip(BASE, CAND)]
    prefs = np.array([(h[0] + h[1]) / 2 for h in hand])
    mine = stats["longer_and_first"]
    # No verdict parses: the parsed win rate is n/a, the probability-weighted one is defined.
    assert mine.win_rate is None and mine.n == 0 and mine.unparseable_or_failed == 10 and mine.length_controlled is None
    assert mine.probability_win_rate == pytest.approx(prefs.mean(), abs=1e-12)
    assert mine.probability_standard_error == pytest.approx(prefs.std(ddof=1) / math.sqrt(10), abs=1e-12)
    assert (mine.probability_n, mine.probability_missing) == (10, 0)
    assert mine.probability_ci[0] < mine.probability_win_rate < mine.probability_ci[1]
    masses = [m for h in hand for m in h[2:]]
    assert mine.probability_mass.mean == pytest.approx(np.mean(masses), abs=1e-12)
    assert mine.probability_mass.min == pytest.approx(min(masses), abs=1e-12) and mine.probability_mass.n_items == 20
    # The length-controlled win rate on the soft preferences is alpaca_eval's minimal GLM on the same inputs.
    base_words, cand_words = [len(a.split()) for a in BASE], [len(a.split()) for a in CAND]
    direct = length_controlled_win_rate(list(1.0 + prefs), base_words, cand_words, length_unit="words",
                                        resampling=Resampling(ci=True, n_boot=40, seed=3))
    lc = mine.probability_length_controlled
    assert lc.glm == MINIMAL and lc.n == 10 and lc.n_fit == 10 and lc.length_unit == "words"
    assert lc.value == pytest.approx(direct.value, abs=1e-12) and lc.ci == pytest.approx(direct.ci, abs=1e-12)
    assert lc.coefficients == pytest.approx(direct.coefficients, abs=1e-12) and lc.coefficients["length"] < 0
    # A judge biased only by position: both orders average to exactly one half (the bias cancels).
    assert stats["always_first"].probability_win_rate == pytest.approx(0.5, abs=1e-12)
    pooled = np.r_[prefs, np.full(10, 0.5)]
    assert stats["all"].probability_win_rate == pytest.approx(pooled.mean(), abs=1e-12) and stats["all"].probability_n == 20
    # Which scoring produced each number; the judge's own probability run and the per-order records carry it too.
    assert result.scoring["win_rate"].startswith("parsed") and result.scoring["length_controlled"].startswith("parsed")
    assert result.scoring["probability_length_controlled"].startswith("probability-weighted")
    own = load_run(out / "longer_and_first" / "probability").scores
    assert own.pairs[0].soft_win_rate == pytest.approx(prefs.mean(), abs=1e-12) and own.pairs[0].n == 10
    records = [r for r in read_jsonl(out / "judgments.jsonl") if r["judge"] == "longer_and_first"]
    for r in records:
        expected = hand[int(r["prompt_id"])][r["order"]]
        assert r["status"] == "unparseable" and r["soft_preference"] == pytest.approx(expected, abs=1e-12)
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-12)


def test_without_probability_runs_the_record_is_as_before(runs, tmp_path):
    out, params = tmp_path / "pw", {"runs": runs, "n_boot": 20}
    with ResultStore(tmp_path / "s.sqlite") as store:
        evaluate(PairwiseJudgeTask(params), SoftJudge(always_first), store, out_dir=out / "j")
    pair = combine_pairwise(out, ["j"]).pairs[0]
    assert pair.probability_win_rate is None and pair.probability_length_controlled is None
    assert "probability_win_rate" not in load_result(out).scoring


def test_a_judge_without_log_likelihoods_is_refused_before_any_judging(runs, tmp_path):
    judge = JudgeSpec(name="remote", base_url="http://127.0.0.1:9/v1", model="gpt-x", api_key_env="")
    with ResultStore(tmp_path / "s.sqlite") as store, pytest.raises(ConfigError) as info:
        run_judges(PairwiseJudgeTask, {"runs": runs}, [judge], store, tmp_path / "out",
                   probability_cls=PairwiseProbabilityTask)
    assert "judge 'remote': probability-weighted scores need the judge's log-likelihoods" in str(info.value)
    assert not (tmp_path / "out").exists()
