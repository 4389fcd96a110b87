"""The generation task's scores: the diversity report of the responses that came back, paired by request key."""

import json

import pytest

from evalsuite.metrics.diversity.suite import SuiteConfig, diversity_report, report_dict
from evalsuite.metrics.resampling import Resampling
from evalsuite.registry import get_task
from evalsuite.scores import DiversityScores
from evalsuite.task import GenerationResult

PROMPTS = [{"id": "p1", "prompt": "Tell me about the sea."}, {"id": "p2", "prompt": "写一首关于春天的诗。"},
           {"id": "p3", "prompt": "List three colours."}]


def _result(*responses):
    return GenerationResult(responses=list(responses), new_tokens=[len(r.split()) for r in responses],
                            finish_reasons=["stop"] * len(responses), prompt_tokens=5)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_failed_prompts_are_left_out_and_results_pair_by_key(tmp_path, suffix):
    path = tmp_path / f"prompts{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(PROMPTS), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    task = get_task("generate")({"prompts": str(path), "id_field": "id", "n": 2, "chat_template": False, "n_boot": 20})
    requests = task.requests()
    assert [r.key for r in requests] == ["p1", "p2", "p3"]
    # p2 failed: the runner passes the other two, in its own order
    kept = [requests[2], requests[0]]
    results = [_result("red green blue", "red, green and blue"), _result("the sea is wide", "waves and salt")]
    scores, samples = task.aggregate(kept, results)
    assert [(s["prompt_id"], s["sample_index"], s["prompt"]) for s in samples] == [
        ("p3", 0, "List three colours."), ("p3", 1, "List three colours."),
        ("p1", 0, "Tell me about the sea."), ("p1", 1, "Tell me about the sea."),
    ]
    texts = [s["response"] for s in samples]
    config = SuiteConfig(resampling=Resampling(ci=True, n_boot=20))
    expected = report_dict(diversity_report(texts, ["p3", "p3", "p1", "p1"], config))
    assert isinstance(scores, DiversityScores) and scores.responses == 4 and scores.prompts == 2
    assert scores.model_dump(mode="json")["within"] == expected["within"]
    assert scores.across["distinct_2"].value == pytest.approx(expected["across"]["distinct_2"]["value"])
