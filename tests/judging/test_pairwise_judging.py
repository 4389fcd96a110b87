"""Pairwise A/B judging with judges behind real HTTP servers: both orders, ties, biases, Bradley-Terry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalsuite.jsonl import read_jsonl
from evalsuite.reports.judge_pairwise import PairwiseResult, combine_pairwise
from evalsuite.results import load_result, load_run
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.pairwise import PairwiseJudgeTask

ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.S)


def judge(pair_judge, rule, prompts=None) -> JudgeSpec:
    return JudgeSpec(name=rule.__name__, base_url=pair_judge(rule, prompts), model="rule")


def run_pairwise(runs, judges, store, out, **params):
    """One judge-pairwise run per judge through the runner, then the combined record and its judgments."""
    run_judges(PairwiseJudgeTask, {"runs": [str(r) for r in runs], **params}, judges, store, out)
    return combine_pairwise(out, [j.name for j in judges]), read_jsonl(Path(out) / "judgments.jsonl")


def prefers_longer(a, b):
    return "[[A]]" if len(a) > len(b) else "[[B]]" if len(b) > len(a) else "[[C]]"


def always_a(a, b):
    return "[[A]]"


def mumbles(a, b):
    return "hard to say"


@pytest.fixture()
def runs(tmp_path):
    def write(name, answers):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "samples.jsonl").write_text("".join(
            json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Q{i}", "response": a}) + "\n"
            for i, a in enumerate(answers)))
        return folder

    return (write("base", ["short", "tiny", "mini", "wee"]),
            write("cand", ["a much longer answer", "also quite a bit longer", "longer still here", "x"]),
            write("third", ["medium len", "medium length", "medium size", "medium"]))


def test_consistent_judge_and_position_biased_judge(runs, tmp_path, pair_judge):
    seen: list[str] = []
    longer, biased = judge(pair_judge, prefers_longer, seen), judge(pair_judge, always_a)
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, records = run_pairwise(runs[:2], [longer, biased], store, tmp_path / "pw", n_boot=200)
    by_judge = {p.judge: p for p in result.pairs}
    # prefers_longer: the candidate is longer on 3 prompts, shorter on 1, whatever the order.
    assert (by_judge["prefers_longer"].wins, by_judge["prefers_longer"].ties, by_judge["prefers_longer"].losses) == (3, 0, 1)
    assert by_judge["prefers_longer"].win_rate == pytest.approx(0.75)
    assert by_judge["prefers_longer"].order_inconsistent_share == 0.0
    assert by_judge["prefers_longer"].longer_answer_win_share == 1.0
    # always_a: every pair flips with the order, so every pair is a tie.
    assert (by_judge["always_a"].ties, by_judge["always_a"].n) == (4, 4)
    assert by_judge["always_a"].win_rate == 0.5 and by_judge["always_a"].order_inconsistent_share == 1.0
    assert by_judge["all"].n == 8 and by_judge["all"].win_rate == pytest.approx((3 + 0.5 * 4) / 8)
    assert result.judgments == {"ok": 16, "unparseable": 0, "failed": 0, "from_store": 0}
    assert all("base" not in r.get("raw", "") for r in records)
    # Blind: the prompts hold the answers, never the runs' names; each pair is asked in both orders.
    assert len(seen) == 8 and not any("base" in p or "cand" in p for p in seen)
    shown = [dict(ANSWER.findall(p)) for p in seen]
    assert sorted((a["A"], a["B"]) for a in shown) == sorted((a["B"], a["A"]) for a in shown)  # each also swapped
    assert sorted((r["prompt_id"], r["order"]) for r in records if r["judge"] == "always_a") == [
        (str(i), order) for i in range(4) for order in (0, 1)]
    # Each judge's own run carries its win counts; the combined record adds intervals and biases.
    own = load_run(tmp_path / "pw" / "always_a").scores.pairs[0]
    assert (own.wins, own.ties, own.losses, own.n, own.win_rate) == (0, 4, 0, 4, 0.5)
    assert isinstance(load_result(tmp_path / "pw"), PairwiseResult)


def test_unparseable_verdicts_are_excluded_and_three_runs_get_bradley_terry(runs, tmp_path, pair_judge):
    longer, mumbler = judge(pair_judge, prefers_longer), judge(pair_judge, mumbles)
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, _ = run_pairwise(list(runs), [longer, mumbler], store, tmp_path / "pw", n_boot=50)
        again, _ = run_pairwise(list(runs), [longer, mumbler], store, tmp_path / "pw", n_boot=50)
    mumbled = [p for p in result.pairs if p.judge == "mumbles"]
    assert all(p.n == 0 and p.unparseable_or_failed == 4 and p.win_rate is None for p in mumbled)
    assert result.judgments["unparseable"] == 24
    strengths = result.bradley_terry["strengths"]
    assert set(strengths) == {"base", "cand", "third"}
    assert strengths["base"] < strengths["third"]  # base's answers are the shortest
    # A rerun takes every verdict, unparseable ones included, from the store and computes the same record.
    assert again.judgments == {"ok": 24, "unparseable": 24, "failed": 0, "from_store": 48}
    assert again.pairs == result.pairs and again.bradley_terry == result.bradley_terry
