"""Rubric panels with judges behind real HTTP servers: blindness, order, aggregation, failures, resumption."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from evalsuite.errors import ConfigError
from evalsuite.jsonl import read_jsonl
from evalsuite.reports.judge_runs import PanelResult, combine_panel
from evalsuite.results import load_result, load_run
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.items import load_items
from evalsuite.tasks.judging.judges import JudgeSpec, load_judge_specs, run_judges
from evalsuite.tasks.judging.panel import RubricJudgeTask
from evalsuite.tasks.judging.rubric import load_rubric

DIMS = ["task_completion", "naturalness", "tone_style_fit", "informativeness"]


def rule_score(answer: str, offset: int) -> int:
    """A deterministic 'judge': longer answers score higher, clipped to 1..5."""
    return int(min(5, max(1, len(answer.split()) // 2 + offset)))


def make_judge(chat_judge, mode: str, offset: int = 0, down: set[str] | None = None) -> tuple[str, list[str]]:
    """A judge endpoint and the prompts it was sent; with ``down``, a request about an answer in ``down`` fails
    (HTTP 500) while it is there."""
    prompts: list[str] = []

    def reply(prompt: str) -> str | None:
        answer = re.search(r"\[The Start of Assistant's Answer\]\n(.*)\n\[The End of Assistant's Answer\]", prompt, re.S)[1]
        if mode == "fail" or answer in (down or ()):
            return None
        if mode == "garbage":
            return "I think it is fine."
        return "Reasonable.\n" + "\n".join(f"[[{d}: {rule_score(answer, offset)}]]" for d in DIMS)

    return chat_judge(reply, prompts), prompts


@pytest.fixture()
def runs(tmp_path):
    def write(name, answers):
        folder = tmp_path / name
        folder.mkdir()
        lines = [json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Question {i}?", "response": a})
                 for i, a in enumerate(answers)]
        (folder / "samples.jsonl").write_text("\n".join(lines) + "\n")
        return folder

    short = write("ckpt-short", ["ok", "yes", "no", "fine", "sure", "hm"])
    long = write("ckpt-long", ["a b c d e f g h", "one two three four five six", "x y z w v u t s r q",
                               "some words here and there", "p q r s t u v w", "alpha beta gamma delta epsilon"])
    return [short, long]


def _judge(url, name, **kw):
    return JudgeSpec(name=name, base_url=url, model="rule", backoff=0.01, max_retries=1, **kw)


def run_panel(runs, judges, store, out, **params):
    """One judge-rubric run per judge through the runner, then the panel record and its judgments."""
    run_judges(RubricJudgeTask, {"runs": [str(r) for r in runs], **params}, judges, store, out)
    return combine_panel(out, [j.name for j in judges]), read_jsonl(Path(out) / "judgments.jsonl")


def test_panel_scores_agreement_and_blindness(runs, tmp_path, chat_judge):
    url1, prompts1 = make_judge(chat_judge, "ok", 0)
    url2, _ = make_judge(chat_judge, "ok", 1)
    items = load_items(runs)
    with ResultStore(tmp_path / "s.sqlite") as store:
        judges = [_judge(url1, "j1", concurrency=1), _judge(url2, "j2")]
        result, records = run_panel(runs, judges, store, tmp_path / "panel", seed=7, n_boot=200)
        again, _ = run_panel(runs, [_judge(url1, "j1"), _judge(url2, "j2")], store, tmp_path / "again", seed=7, n_boot=200)
    assert result.judgments == {"ok": 24, "unparseable": 0, "failed": 0, "from_store": 0}
    assert again.judgments["from_store"] == 24 and len(prompts1) == 12  # the second run asked nothing
    assert not any("ckpt-" in p for p in prompts1)  # the judge never sees which checkpoint answered
    order = list(range(12))
    random.Random(7).shuffle(order)
    expected_order = [items[i].answer for i in order]
    seen_order = [re.search(r"Answer\]\n(.*)\n\[The End", p, re.S)[1] for p in prompts1]
    assert seen_order == expected_order
    # Each judge's run is the runner's typed record, with the order seed recorded.
    j1 = load_run(tmp_path / "panel" / "j1")
    assert j1.task.name == "judge-rubric" and j1.task.params_resolved["seed"] == 7 and j1.failed == []
    assert [s["item"] for s in read_jsonl(tmp_path / "panel" / "j1" / "samples.jsonl")] == [items[i].ref for i in order]
    assert isinstance(load_result(tmp_path / "panel"), PanelResult) and result.provenance.packages
    for label, run in (("ckpt-short", runs[0]), ("ckpt-long", runs[1])):
        answers = [json.loads(l)["response"] for l in (run / "samples.jsonl").read_text().splitlines()]
        expected = np.mean([(rule_score(a, 0) + rule_score(a, 1)) / 2 for a in answers])
        stats = result.scores[label]["naturalness"]
        assert stats.mean == pytest.approx(expected) and stats.n_items == 6
        assert stats.ci[0] <= expected <= stats.ci[1]
        one_judge = j1.scores.means[label]["naturalness"]
        assert one_judge.mean == pytest.approx(np.mean([rule_score(a, 0) for a in answers])) and one_judge.n == 6
    assert result.scores["ckpt-long"]["task_completion"].mean > result.scores["ckpt-short"]["task_completion"].mean
    agreement = result.agreement["naturalness"]
    assert agreement.n_items_all_judges == 12 and agreement.krippendorff_alpha_ordinal is not None
    assert {r["judge"] for r in records} == {"j1", "j2"} and len(records) == 24


def test_unparseable_and_failed_judgments_are_counted_not_guessed(runs, tmp_path, chat_judge):
    url_good, _ = make_judge(chat_judge, "ok")
    url_bad, _ = make_judge(chat_judge, "garbage")
    url_down, _ = make_judge(chat_judge, "fail")
    judges = [_judge(url_good, "good"), _judge(url_bad, "garbage"), _judge(url_down, "down")]
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, records = run_panel(runs, judges, store, tmp_path / "panel", n_boot=100)
        retry_key_rows = store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert result.judgments == {"ok": 12, "unparseable": 12, "failed": 12, "from_store": 0}
    assert retry_key_rows == 24  # failed requests are not stored: a rerun asks again
    garbage = [r for r in records if r["judge"] == "garbage"]
    assert all(r["status"] == "unparseable" and r["raw"] == "I think it is fine." and r["scores"] is None for r in garbage)
    failed = [r for r in records if r["judge"] == "down"]
    assert len(failed) == 12 and all(r["status"] == "failed" and "failed after 2 attempts" in r["error"] for r in failed)
    assert {r["label"] for r in failed} == {"ckpt-short", "ckpt-long"} and {r["sample_index"] for r in failed} == {0}
    assert len(load_run(tmp_path / "panel" / "down").failed) == 12
    # Scores come from the one judge that answered.
    assert result.scores["ckpt-short"]["naturalness"].n_items == 6


def test_failed_requests_are_recorded_then_only_they_are_retried(runs, tmp_path, chat_judge):
    down = {"ok", "yes", "one two three four five six"}  # three answers the server cannot judge the first time
    url, prompts = make_judge(chat_judge, "ok", down=down)
    judge = _judge(url, "flaky")
    with ResultStore(tmp_path / "s.sqlite") as store:
        first, _ = run_panel(runs, [judge], store, tmp_path / "panel", n_boot=50)
        first_run = load_run(tmp_path / "panel" / "flaky")
        asked_first = len(prompts)
        down.clear()
        second, records = run_panel(runs, [judge], store, tmp_path / "panel", n_boot=50)
    assert first.judgments == {"ok": 9, "unparseable": 0, "failed": 3, "from_store": 0}
    assert sorted(f.key for f in first_run.failed) == ["ckpt-long/1/0", "ckpt-short/0/0", "ckpt-short/1/0"]
    assert asked_first == 9 + 3 * 2  # each failed request was tried twice (max_retries=1)
    retried = [re.search(r"Answer\]\n(.*)\n\[The End", p, re.S)[1] for p in prompts[asked_first:]]
    assert sorted(retried) == sorted(["ok", "yes", "one two three four five six"])  # the rerun asked only those
    assert second.judgments == {"ok": 12, "unparseable": 0, "failed": 0, "from_store": 9}
    assert load_run(tmp_path / "panel" / "flaky").failed == [] and len(records) == 12


def test_judge_specs_from_options_and_file(tmp_path):
    specs = load_judge_specs(["http://127.0.0.1:1/v1,m", "http://127.0.0.1:2/v1,m2,named,5"])
    assert [(s.name, s.model, s.seed) for s in specs] == [("judge1", "m", 0), ("named", "m2", 5)]
    assert specs[1].backend_options() == {"model": "m2", "base_url": "http://127.0.0.1:2/v1", "timeout": 60.0,
                                          "max_retries": 3, "backoff": 1.0, "concurrency": 2}
    assert specs[1].task_params() == {"judge_temperature": 0.0, "judge_max_tokens": 512, "judge_seed": 5}
    path = tmp_path / "judges.yaml"
    path.write_text("judges:\n  - {name: a, base_url: 'http://127.0.0.1:1/v1', model: m, temperature: 0.5}\n")
    assert load_judge_specs([], path)[0].temperature == 0.5
    with pytest.raises(ConfigError, match="judge names must be unique"):
        load_judge_specs(["http://x/v1,m,a"], path)
    with pytest.raises(ConfigError, match="expects URL,MODEL"):
        load_judge_specs(["http://x/v1"])


def test_panel_requests_are_chat_prompts_with_the_judge_sampling(runs):
    task = RubricJudgeTask({"runs": [str(r) for r in runs], "judge_temperature": 0.3, "judge_max_tokens": 64,
                            "judge_seed": 4})
    request = task.requests()[0]
    assert request.messages[0]["role"] == "user" and "[The Start of Assistant's Answer]" in request.messages[0]["content"]
    s = request.sampling
    assert (s.n, s.temperature, s.max_new_tokens, s.seed) == (1, 0.3, 64, 4)
    assert task.resolved_params()["rubric_sha256"] == load_rubric("default").fingerprint()


def test_rubric_file_and_chinese_default(tmp_path):
    zh = load_rubric("default-zh")
    assert "[[naturalness: N]]" in zh.prompt("问题", "回答") and "评审" in zh.prompt("问题", "回答")
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: mine\nscale_max: 10\ndimensions:\n  - name: helpful\n    description: Is it helpful\n"
        "instructions: 'Rate {scale_min}-{scale_max}.'\nanswer_format: '{format_lines}'\n"
    )
    rubric = load_rubric(str(path))
    assert rubric.prompt("q", "a").startswith("Rate 1-10.") and rubric.prompt("q", "a").endswith("[[helpful: N]]")
