"""Pairwise A/B judging with judges behind real HTTP servers: both orders, ties, biases, Bradley-Terry."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evalsuite.store import ResultStore
from evalsuite.tasks.judge_panel import JudgeSpec
from evalsuite.tasks.judge_pairwise import run_pairwise

ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.S)


def judge_server(rule):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
            answers = dict(ANSWER.findall(prompt))
            text = f"Explanation. {rule(answers['A'], answers['B'])}"
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, JudgeSpec(name=rule.__name__, base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="rule")


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


def test_consistent_judge_and_position_biased_judge(runs, tmp_path):
    s1, longer = judge_server(prefers_longer)
    s2, biased = judge_server(always_a)
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, records = run_pairwise(runs[:2], [longer, biased], store, n_boot=200)
    s1.shutdown(); s2.shutdown()
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


def test_unparseable_verdicts_are_excluded_and_three_runs_get_bradley_terry(runs, tmp_path):
    s1, longer = judge_server(prefers_longer)
    s2, mumbler = judge_server(mumbles)
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, _ = run_pairwise(list(runs), [longer, mumbler], store, n_boot=50)
    s1.shutdown(); s2.shutdown()
    mumbled = [p for p in result.pairs if p.judge == "mumbles"]
    assert all(p.n == 0 and p.unparseable_or_failed == 4 and p.win_rate is None for p in mumbled)
    assert result.judgments["unparseable"] == 24
    strengths = result.bradley_terry["strengths"]
    assert set(strengths) == {"base", "cand", "third"}
    assert strengths["base"] < strengths["third"]  # base's answers are the shortest
