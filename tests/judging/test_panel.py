"""Rubric panels with judges behind real HTTP servers: blindness, order, aggregation, failures."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from evalsuite.store import ResultStore
from evalsuite.tasks.judge_panel import JudgeSpec, load_items, run_panel
from evalsuite.tasks.judging.rubric import load_rubric

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")
DIMS = ["task_completion", "naturalness", "tone_style_fit", "informativeness"]


def rule_score(answer: str, offset: int) -> int:
    """A deterministic 'judge': longer answers score higher, clipped to 1..5."""
    return int(min(5, max(1, len(answer.split()) // 2 + offset)))


def make_judge(mode: str, offset: int = 0):
    prompts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][0]["content"]
            prompts.append(prompt)
            if mode == "fail":
                self.send_response(500)
                self.end_headers()
                return
            answer = re.search(r"\[The Start of Assistant's Answer\]\n(.*)\n\[The End of Assistant's Answer\]", prompt, re.S)[1]
            if mode == "garbage":
                text = "I think it is fine."
            else:
                text = "Reasonable.\n" + "\n".join(f"[[{d}: {rule_score(answer, offset)}]]" for d in DIMS)
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1", prompts


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


def test_panel_scores_agreement_and_blindness(runs, tmp_path):
    s1, url1, prompts1 = make_judge("ok", 0)
    s2, url2, _ = make_judge("ok", 1)
    items = load_items(runs)
    with ResultStore(tmp_path / "s.sqlite") as store:
        judges = [_judge(url1, "j1", concurrency=1), _judge(url2, "j2")]
        result, records = run_panel(items, judges, load_rubric("default"), store, seed=7, n_boot=200)
        again, _ = run_panel(items, [_judge(url1, "j1"), _judge(url2, "j2")], load_rubric("default"), store, seed=7, n_boot=200)
    s1.shutdown(); s2.shutdown()
    assert result.judgments == {"ok": 24, "unparseable": 0, "failed": 0, "from_store": 0}
    assert again.judgments["from_store"] == 24 and len(prompts1) == 12  # the second run asked nothing
    assert not any("ckpt-" in p for p in prompts1)  # the judge never sees which checkpoint answered
    order = list(range(12))
    random.Random(7).shuffle(order)
    expected_order = [items[i].answer for i in order]
    seen_order = [re.search(r"Answer\]\n(.*)\n\[The End", p, re.S)[1] for p in prompts1]
    assert seen_order == expected_order
    for label, run in (("ckpt-short", runs[0]), ("ckpt-long", runs[1])):
        answers = [json.loads(l)["response"] for l in (run / "samples.jsonl").read_text().splitlines()]
        expected = np.mean([(rule_score(a, 0) + rule_score(a, 1)) / 2 for a in answers])
        stats = result.scores[label]["naturalness"]
        assert stats.mean == pytest.approx(expected) and stats.n_items == 6
        assert stats.ci[0] <= expected <= stats.ci[1]
    assert result.scores["ckpt-long"]["task_completion"].mean > result.scores["ckpt-short"]["task_completion"].mean
    agreement = result.agreement["naturalness"]
    assert agreement.n_items_all_judges == 12 and agreement.krippendorff_alpha_ordinal is not None


def test_unparseable_and_failed_judgments_are_counted_not_guessed(runs, tmp_path):
    good, url_good, _ = make_judge("ok")
    bad, url_bad, _ = make_judge("garbage")
    down, url_down, _ = make_judge("fail")
    items = load_items(runs)
    judges = [_judge(url_good, "good"), _judge(url_bad, "garbage"), _judge(url_down, "down")]
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, records = run_panel(items, judges, load_rubric("default"), store, n_boot=100)
        good.shutdown(); bad.shutdown(); down.shutdown()
        retry_key_rows = store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert result.judgments == {"ok": 12, "unparseable": 12, "failed": 12, "from_store": 0}
    assert retry_key_rows == 24  # failed requests are not stored: a rerun asks again
    garbage = [r for r in records if r["judge"] == "garbage"]
    assert all(r["status"] == "unparseable" and r["raw"] == "I think it is fine." and r["scores"] is None for r in garbage)
    assert all("failed after 2 attempts" in r["error"] for r in records if r["judge"] == "down")
    # Scores come from the one judge that answered.
    assert result.scores["ckpt-short"]["naturalness"].n_items == 6


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
