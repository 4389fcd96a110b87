"""MT-Bench single-answer grading with the published prompts, through a judge behind a real HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evalsuite.store import ResultStore
from evalsuite.tasks.judge_panel import JudgeSpec
from evalsuite.tasks.mt_bench_judge import run_mt_bench

pytestmark = pytest.mark.integration


def test_ratings_reference_guided_categories_and_unparseable(data_dir, tmp_path):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            messages = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"]
            seen.append(messages)
            prompt = messages[-1]["content"]
            text = "Rating: [[8]]" if "GOOD" in prompt else "Rating: [[3]]" if "BAD" in prompt else "no idea"
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"choices": [{"message": {"content": text}}]}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    questions = [json.loads(l) for l in (data_dir / "judging" / "mt_bench_questions.jsonl").read_text().splitlines()]
    writing = next(q for q in questions if q["category"] == "writing")
    math = next(q for q in questions if q["category"] == "math")
    run = tmp_path / "model-x"
    run.mkdir()
    rows = [(writing, 0, "GOOD answer"), (writing, 1, "BAD answer"), (math, 0, "BAD math"), (math, 1, "mumble")]
    (run / "samples.jsonl").write_text("".join(
        json.dumps({"prompt_id": str(q["question_id"]), "sample_index": i, "prompt": q["turns"][0], "response": a}) + "\n"
        for q, i, a in rows))
    judge = JudgeSpec(name="j", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="m", concurrency=1)
    with ResultStore(tmp_path / "s.sqlite") as store:
        result, records = run_mt_bench([run], [judge], store, data_dir / "judging")
    server.shutdown()
    # load_items keeps sample 0 of each prompt by default: "GOOD answer" (writing) and "BAD math" (math).
    scores = result.scores["model-x"]["j"]
    assert (scores.mean, scores.n, scores.by_category) == (5.5, 2, {"math": 3.0, "writing": 8.0})
    assert [r["template"] for r in records] == ["single-v1", "single-math-v1"]
    assert all(m[0] == {"role": "system", "content": "You are a helpful assistant."} for m in seen)
    assert "[The Start of Reference Answer]" in seen[1][-1]["content"] and "[The Start of Reference Answer]" not in seen[0][-1]["content"]
