"""``-T mode=generate``: multiple choice answered by greedy generation, as lm-eval 0.4.13's ``mmlu_generative``.

The filter and metric are checked against lm-eval's own filter and metric code on a
table of responses; the whole path against ``lm_eval.simple_evaluate`` on the tiny
model: same prompts, same filtered answers, same scores.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError
from evalsuite.provenance import sha256_text
from evalsuite.registry import get_task
from evalsuite.task import GenerationRequest, GenerationResult
from evalsuite.tasks.mc_variants import cut_at_stop, filter_response, generated_sample

_spec = importlib.util.spec_from_file_location(
    "local_tasks", Path(__file__).resolve().parents[1] / "lm_eval_tasks" / "local_tasks.py"
)
local_tasks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(local_tasks)

RESPONSES = [" B", "B", " b.", " (C)", "  D is right", " A\nB", "", "   ", " E", "Answer: C", " C</s> more", "\tA \t", "A)"]


def _lm_eval_filtered(response: str) -> str:
    from lm_eval.filters.extraction import RegexFilter, WhitespaceFilter
    from lm_eval.filters.selection import TakeFirstFilter

    resps = [[response.split("</s>")[0].split("\n")[0]]]
    for f in (RegexFilter(regex_pattern=r"^(.*?)(?=\n|$)"), WhitespaceFilter(), RegexFilter(regex_pattern=r"^(.*?)\s*$")):
        resps = f.apply(resps, [{}])
    return list(TakeFirstFilter().apply(resps, [{}]))[0]


@pytest.mark.parametrize("response", RESPONSES)
def test_filter_and_exact_match_equal_lm_evals(response):
    from lm_eval.api.metrics import exact_match_hf_evaluate

    sample = generated_sample(response, "ABCD", "C")
    assert sample["filtered"] == _lm_eval_filtered(response) == filter_response(cut_at_stop(response))
    reference = exact_match_hf_evaluate([sample["filtered"]], ["C"], ignore_case=True, ignore_punctuation=True)
    assert sample["correct"] == bool(reference["exact_match"])
    # An answer that is no option letter is counted as unparsed, never mapped to a guess.
    assert (sample["prediction"] is None) == (sample["filtered"].lower().strip(".()") not in ("a", "b", "c", "d"))


def test_template_matches_installed_lm_eval():
    mine = local_tasks.read_yaml(local_tasks.TEMPLATES / "mmlu_generative_local.yaml")
    theirs = local_tasks.read_yaml(local_tasks.lm_eval_tasks_dir() / "mmlu" / "generative" / "_default_template_yaml")
    for key in ("doc_to_text", "doc_to_target", "generation_kwargs", "filter_list", "metric_list", "output_type", "fewshot_config"):
        assert mine[key] == theirs[key], f"mmlu_generative_local.yaml: {key} differs from lm-eval's"


@pytest.fixture()
def mmlu_dir(tmp_path) -> Path:
    """Three anatomy questions (answers B, D, A) and two exemplars, in the official header-less layout."""
    root = tmp_path / "benchmarks"
    files = {
        "test": [f"Question {i}?,w,x,y,z,{answer}" for i, answer in enumerate("BDA")],
        "dev": [f"Exemplar {i}?,p,q,r,s,{answer}" for i, answer in enumerate("AC")],
    }
    for split, lines in files.items():
        (root / "mmlu" / split).mkdir(parents=True)
        (root / "mmlu" / split / f"anatomy_{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_generate_requests_ask_the_loglikelihood_prompt_greedily(mmlu_dir):
    roots = DataRoots(benchmarks=mmlu_dir)
    plain = get_task("mmlu")({"subjects": "anatomy", "shots": 2}, data=roots)
    task = get_task("mmlu")({"subjects": "anatomy", "shots": 2, "mode": "generate"}, data=roots)
    assert task.output_type == "generation" and task.result_type is GenerationResult
    requests = task.requests()
    assert all(isinstance(r, GenerationRequest) for r in requests)
    assert [r.prompt for r in requests] == [r.context for r in plain.requests()]
    assert {(r.sampling.n, r.sampling.temperature, r.sampling.max_new_tokens) for r in requests} == {(1, 0.0, 256)}
    # The variant is in the resolved parameters; a default run's parameters are what they were before variants existed.
    assert task.resolved_params()["mode"] == "generate"
    assert set(plain.resolved_params()) == {"shots", "subjects", "prompt", "limit"}


def test_generate_scores_count_unparsed_answers(mmlu_dir):
    task = get_task("mmlu")({"subjects": "anatomy", "mode": "generate"}, data=DataRoots(benchmarks=mmlu_dir))
    requests = task.requests()
    answers = [" B\nfoo", " I think D", " A."]  # targets: B, D, A
    results = [GenerationResult(responses=[a], new_tokens=[3], finish_reasons=["stop"], prompt_tokens=9) for a in answers]
    scores, samples = task.aggregate(requests, results)
    assert [s["prediction"] for s in samples] == ["B", None, "A"]
    assert [s["correct"] for s in samples] == [True, False, True]
    assert scores.kind == "accuracy_generated" and scores.metric == "exact_match"
    assert scores.unparsed == 1 and scores.overall.acc == pytest.approx(2 / 3)
    assert samples[0]["prompt_sha256"] == sha256_text(requests[0].prompt)


def test_fewshot_as_multiturn_needs_chat_template(mmlu_dir):
    with pytest.raises(ConfigError, match="needs -T chat_template=true"):
        get_task("mmlu")({"mode": "generate", "fewshot_as_multiturn": True}, data=DataRoots(benchmarks=mmlu_dir))


LIMIT = 2
SUBJECTS = ["anatomy", "high_school_geography"]


@pytest.mark.integration
@pytest.mark.slow
def test_same_prompts_answers_and_scores_as_lm_eval_mmlu_generative(tiny_model, data_dir, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from evalsuite.backends import load_backend
    from evalsuite.results import load_result
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    tasks = local_tasks.write_tasks({"mmlu": SUBJECTS}, data_dir / "benchmarks", tmp_path, variant="_generative")
    lm = HFLM(pretrained=str(tiny_model), batch_size=1, device="cpu", dtype="float32")
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    reference = simple_evaluate(model=lm, tasks=sorted(tasks), num_fewshot=0, limit=LIMIT, task_manager=manager, log_samples=True)

    backend = load_backend("hf", {"model": str(tiny_model)})
    task = get_task("mmlu")({"subjects": SUBJECTS, "limit": LIMIT, "mode": "generate"}, data=DataRoots.from_root(data_dir))
    with ResultStore(tmp_path / "store.sqlite") as store:
        record = evaluate(task, backend, store, out_dir=tmp_path / "ours")
    ours = {(s["subject"], s["index"]): s for s in map(json.loads, (tmp_path / "ours" / "samples.jsonl").read_text().splitlines())}

    compared = 0
    for name, (_, subject) in tasks.items():
        theirs = reference["samples"][name]
        assert len(theirs) == LIMIT
        for sample in theirs:
            mine, where = ours[(subject, sample["doc_id"])], f"{subject} item {sample['doc_id']}"
            context = sample["arguments"][0][0]
            assert mine["prompt_sha256"] == sha256_text(context), f"{where}: prompt text differs"
            assert mine["filtered"] == sample["filtered_resps"][0], where
            assert mine["correct"] == bool(sample["exact_match"]), where
            compared += 1
        score = reference["results"][name]["exact_match,get_response"]
        assert record.scores.subjects[subject].acc == pytest.approx(score), subject
    assert compared == LIMIT * len(SUBJECTS)
    assert any(sample["filtered"] for sample in ours.values()), "every answer empty: the comparison would prove nothing"
    stored = load_result(tmp_path / "ours" / "results.json")
    assert stored.scores.kind == "accuracy_generated"
    assert stored.scores.unparsed == sum(not sample["parsed"] for sample in ours.values())
