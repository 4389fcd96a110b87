"""Multi-turn MT-Bench: second turns after the model's own first answers, FastChat's multi-turn judge prompts,
per-turn and average scores (parsed and probability-weighted), and FastChat single-judgment files."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import types

import pytest

from evalsuite.data import DataRoots
from evalsuite.errors import DataError
from evalsuite.jsonl import read_jsonl
from evalsuite.reports.judge_runs import combine_mt_bench
from evalsuite.reports.mt_bench_single import import_single
from evalsuite.metrics.resampling import Resampling
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.mt_bench import MTBenchJudgeTask, MTBenchProbabilityTask

pytestmark = pytest.mark.integration


def test_second_turn_follows_the_models_own_first_answer(conversations):
    folder, chosen, seen = conversations
    first = {(s["prompt_id"], s["sample_index"]): s["response"] for s in read_jsonl(folder / "generate" / "samples.jsonl")}
    assert len(seen) == 6 and len(first) == 6
    for request in seen:
        pid, sample = request.key.split("/")
        question = next(q for q in chosen if str(q["question_id"]) == pid)
        assert request.messages == [{"role": "user", "content": question["turns"][0]},
                                    {"role": "assistant", "content": first[(pid, int(sample))]},
                                    {"role": "user", "content": question["turns"][1]}]
        assert (request.sampling.n, request.sampling.temperature, request.sampling.max_new_tokens) == (1, 0.7, 16)
    second = read_jsonl(folder / "turn2" / "samples.jsonl")
    assert {(s["turn1_response"], s["turn"]) for s in second} == {(a, 2) for a in first.values()}


@pytest.fixture()
def fastchat_judge(monkeypatch):
    """FastChat's ``run_judge_single``, with its API call replaced by one that records the conversation."""
    for name in ("openai", "anthropic"):  # imported by fastchat.llm_judge.common, not needed to build prompts
        if name not in sys.modules:
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    common = pytest.importorskip("fastchat.llm_judge.common")
    asked = []
    monkeypatch.setattr(common, "chat_completion_openai",
                        lambda model, conv, temperature, max_tokens: asked.append(conv) or "Rating: [[5]]")
    return common, asked


def test_judge_prompts_are_fastchats_for_both_turns(conversations, data_dir, fastchat_judge):
    common, asked = fastchat_judge
    folder, chosen, _ = conversations
    task = MTBenchJudgeTask({"runs": [str(folder / "turn2")], "samples_per_prompt": 2}, DataRoots.from_root(data_dir))
    prompts = common.load_judge_prompts(str(data_dir / "judging" / "mt_bench_judge_prompts.jsonl"))
    references = {r["question_id"]: r for r in read_jsonl(data_dir / "judging" / "mt_bench_reference_answers.jsonl")}
    requests = {r.key: r for r in task.requests()}
    assert len(requests) == 12  # 3 questions x 2 samples x 2 turns
    conversation = {s["prompt_id"] + "/" + str(s["sample_index"]): s for s in read_jsonl(folder / "turn2" / "samples.jsonl")}
    for key, sample in conversation.items():
        question = next(q for q in chosen if str(q["question_id"]) == sample["prompt_id"])
        answer = {"choices": [{"turns": [sample["turn1_response"], sample["response"]]}]}
        reference = question["category"] in common.NEED_REF_CATS
        for turn, suffix in ((1, ""), (2, "@turn2")):
            name = ("single-math-v1" if reference else "single-v1") + ("-multi-turn" if turn == 2 else "")
            judge = common.Judge("gpt-4", prompts[name], ref_based=reference, multi_turn=turn == 2)
            _, user_prompt, _ = common.run_judge_single(question, answer, judge,
                                                        references[question["question_id"]] if reference else None,
                                                        multi_turn=turn == 2)
            ours = requests[f"turn2/{key}{suffix}"].messages
            assert ours == [{"role": "system", "content": asked[-1].system_message},
                            {"role": "user", "content": user_prompt}]


def test_per_turn_and_average_scores_parsed_and_probability_weighted(conversations, data_dir, tmp_path, stub_model):
    folder, _, _ = conversations
    data, stub, out = DataRoots.from_root(data_dir), stub_model, tmp_path / "mt"
    params = {"runs": [str(folder / "turn2")], "n_boot": 20, "samples_per_prompt": 2}
    with ResultStore(tmp_path / "judge.sqlite") as store:
        evaluate(MTBenchJudgeTask(params, data), stub, store, out_dir=out / "j")
        evaluate(MTBenchProbabilityTask(params, data), stub, store, out_dir=out / "j" / "probability")
    result = combine_mt_bench(out, ["j"])
    parsed = result.scores["turn2"]["j"]
    assert result.turns == 2
    assert (parsed.by_turn["1"].mean, parsed.by_turn["2"].mean, parsed.mean, parsed.n) == (8.0, 4.0, 6.0, 12)

    def by_hand(target):  # p(s) proportional to exp(-|s - target|) on 1..10
        w = [math.exp(-2.0 - abs(s - target)) for s in range(1, 11)]
        return sum(s * x for s, x in zip(range(1, 11), w)) / sum(w), sum(w)

    prob = result.probability_scores["turn2"]["j"]
    assert prob.by_turn["1"].mean == pytest.approx(by_hand(7)[0], abs=1e-12)
    assert prob.by_turn["2"].mean == pytest.approx(by_hand(3)[0], abs=1e-12)
    assert prob.mean == pytest.approx((by_hand(7)[0] + by_hand(3)[0]) / 2, abs=1e-12)
    assert result.probability_mass["j"].mean == pytest.approx((by_hand(7)[1] + by_hand(3)[1]) / 2, abs=1e-12)
    agreement = result.scoring_agreement
    assert (agreement.n_both, agreement.pearson, agreement.spearman) == (12, pytest.approx(1.0), pytest.approx(1.0))
    records = read_jsonl(out / "judgments.jsonl")
    second = next(r for r in records if r["item"].endswith("@turn2"))
    assert second["turn"] == 2 and second["rating"] == 4.0 and second["template"].endswith("-multi-turn")
    assert second["probability_rating"] == pytest.approx(by_hand(3)[0], abs=1e-12)


def _single_file(path, questions, seed=0):
    rng = random.Random(seed)
    rows = []
    for model in ("alpha", "beta", "gamma"):
        for q in questions:
            for turn in (1, 2):
                score = rng.choice([-1, 1, 2, 3, 5, 6, 7, 7.5, 8, 9, 10]) if rng.random() < 0.95 else -1
                rows.append({"question_id": q["question_id"], "model": model, "judge": ["gpt-4", "single-v1"],
                             "user_prompt": "...", "judgment": f"Rating: [[{score}]]", "score": score, "turn": turn,
                             "tstamp": 0.0})
    rows.append({**rows[0], "model": "delta", "score": -1})  # a model with no usable grading
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_single_judgment_import_equals_fastchat_show_result(data_dir, tmp_path, monkeypatch):
    show_result = pytest.importorskip("fastchat.llm_judge.show_result")
    questions = read_jsonl(data_dir / "judging" / "mt_bench_questions.jsonl")
    path = _single_file(tmp_path / "gpt-4_single.jsonl", questions)
    printed = []
    monkeypatch.setattr(show_result, "print", printed.append, raising=False)
    show_result.display_result_single(argparse.Namespace(input_file=str(path), bench_name="mt_bench",
                                                         judge_model="gpt-4", model_list=None))
    first, second, average = (p for p in printed if not isinstance(p, str))
    result, records = import_single(path, Resampling(ci=True, n_boot=50))
    assert result.records == len(records) and result.unparseable == sum(r["status"] == "unparseable" for r in records)
    assert sorted(m for m, s in result.models.items() if s.average.n) == sorted(average.index)
    for (model, turn), row in first.iterrows():
        assert result.models[model].turn_1.mean == pytest.approx(row["score"], abs=1e-12)
    for (model, turn), row in second.iterrows():
        assert result.models[model].turn_2.mean == pytest.approx(row["score"], abs=1e-12)
    for model, row in average.iterrows():
        assert result.models[model].average.mean == pytest.approx(row["score"], abs=1e-12)
        lo, hi = result.models[model].average.ci
        assert lo < row["score"] < hi
    assert result.models["delta"].average.mean is None and result.judges == [["gpt-4", "single-v1"]]


def test_single_judgment_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question_id": 81, "model": "m", "judge": ["gpt-4", "single-v1"], "turn": 1}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl: line 1: missing field 'score'"):
        import_single(bad)
    bad.write_text(json.dumps({"question_id": 81, "model": "m", "judge": ["g", "p"], "turn": 3, "score": 5}) + "\n")
    with pytest.raises(DataError, match=r"line 1: field 'turn': expected 1 or 2, got 3"):
        import_single(bad)
