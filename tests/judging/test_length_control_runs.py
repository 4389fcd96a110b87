"""Our own pairwise judge runs carry the length-controlled win rate per pair (judge behind a local HTTP server)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evalsuite.metrics.judging.length_control import MINIMAL, length_controlled_win_rate
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_pairwise import combine_pairwise
from evalsuite.results import load_result
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.pairwise import PairwiseJudgeTask

ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.S)
BASE = ["one two", "a b c", "short", "w x y z", "tiny one", "p q", "just this", "m n o", "brief", "k l m n o"]
CAND = ["one two three four", "a", "a longer answer here", "w x", "tiny one indeed yes", "p q r s t u",
        "just", "m n o p q", "brief and then some more", "k"]


def _server():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
            a, b = (dict(ANSWER.findall(prompt))[k] for k in "AB")
            # Prefers the longer answer; equal word counts are a tie.
            verdict = "[[A]]" if len(a.split()) > len(b.split()) else "[[B]]" if len(b.split()) > len(a.split()) else "[[C]]"
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": f"Because. {verdict}"}}]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, JudgeSpec(name="longer", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="rule")


def test_pairwise_run_stores_lc_win_rate(tmp_path):
    folders = []
    for name, answers in (("base", BASE), ("cand", CAND)):
        folder = tmp_path / name
        folder.mkdir()
        folder.joinpath("samples.jsonl").write_text("".join(
            json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Q{i}", "response": a}) + "\n"
            for i, a in enumerate(answers)))
        folders.append(folder)
    server, judge = _server()
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_judges(PairwiseJudgeTask, {"runs": [str(f) for f in folders], "n_boot": 40}, [judge], store, tmp_path / "pw")
    server.shutdown()
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
