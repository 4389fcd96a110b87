"""MT-Bench single-answer grading with the published prompts, through a judge behind a real HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evalsuite.data import DataRoots
from evalsuite.errors import DataError
from evalsuite.jsonl import read_jsonl
from evalsuite.reports.judge_runs import MTBenchResult, combine_mt_bench
from evalsuite.results import load_result, load_run
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.mt_bench import MTBenchJudgeTask

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
        run_judges(MTBenchJudgeTask, {"runs": [str(run)]}, [judge], store, tmp_path / "mt", data=DataRoots.from_root(data_dir))
    server.shutdown()
    result = combine_mt_bench(tmp_path / "mt", ["j"])
    records = read_jsonl(tmp_path / "mt" / "judgments.jsonl")
    assert isinstance(load_result(tmp_path / "mt"), MTBenchResult)
    assert load_run(tmp_path / "mt" / "j").task.name == "judge-mt-bench"
    assert result.judgments == {"ok": 2, "unparseable": 0, "failed": 0, "from_store": 0}
    # load_items keeps sample 0 of each prompt by default: "GOOD answer" (writing) and "BAD math" (math).
    scores = result.scores["model-x"]["j"]
    assert (scores.mean, scores.n, scores.by_category) == (5.5, 2, {"math": 3.0, "writing": 8.0})
    assert [r["template"] for r in records] == ["single-v1", "single-math-v1"]
    assert all(m[0] == {"role": "system", "content": "You are a helpful assistant."} for m in seen)
    assert "[The Start of Reference Answer]" in seen[1][-1]["content"] and "[The Start of Reference Answer]" not in seen[0][-1]["content"]


def test_the_task_reads_the_judging_files_from_its_data_roots(tmp_path):
    run = tmp_path / "model-x"
    run.mkdir()
    (run / "samples.jsonl").write_text(json.dumps({"prompt_id": "81", "sample_index": 0, "prompt": "q", "response": "a"}) + "\n")
    with pytest.raises(DataError, match="needs the data folder's judging/"):
        MTBenchJudgeTask({"runs": [str(run)]}, DataRoots())
    (tmp_path / "data" / "judging").mkdir(parents=True)
    with pytest.raises(DataError, match="mt_bench_judge_prompts.jsonl not found"):
        MTBenchJudgeTask({"runs": [str(run)]}, DataRoots.from_root(tmp_path / "data"))
