"""Local judges for the judging tests: OpenAI-style chat endpoints on 127.0.0.1 with a scripted reply."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.data import DataRoots
from evalsuite.jsonl import read_jsonl
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore
from evalsuite.task import GenerationResult, MultipleChoiceResult
from evalsuite.tasks.generation import GenerationTask
from evalsuite.tasks.judging.second_turn import SecondTurnTask

# The two answers of a pairwise judge prompt (FastChat's layout).
PAIR_ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.S)


@pytest.fixture()
def answer_runs(tmp_path):
    """``make({name: answers}) -> [folder, ...]``: a generation run folder (``samples.jsonl``, one answer per
    prompt, prompt ids 0, 1, ...) under ``tmp_path`` for each name, in order."""

    def make(runs: dict[str, list[str]]) -> list[Path]:
        folders = []
        for name, answers in runs.items():
            folder = tmp_path / name
            folder.mkdir()
            folder.joinpath("samples.jsonl").write_text("".join(
                json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Q{i}", "response": a}) + "\n"
                for i, a in enumerate(answers)))
            folders.append(folder)
        return folders

    return make


@pytest.fixture()
def chat_judge():
    """``start(reply, prompts=None) -> base_url``: an OpenAI-style chat endpoint on 127.0.0.1 answering each prompt
    with ``reply(prompt)``, or HTTP 500 when that is None (and appending the prompt to ``prompts``). Servers stop
    when the test ends."""
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Callable[[str], str | None], prompts: list[str] | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
                if prompts is not None:
                    prompts.append(prompt)
                text = reply(prompt)
                if text is None:
                    self.send_response(500)
                    self.end_headers()
                    return
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def pair_judge(chat_judge):
    """``start(rule, prompts=None) -> base_url``: a judge that answers ``"Explanation. " + rule(answer_a, answer_b)``
    to every pairwise prompt (and appends the prompt to ``prompts``)."""

    def start(rule: Callable[[str, str], str], prompts: list[str] | None = None) -> str:
        def reply(prompt: str) -> str:
            answers = dict(PAIR_ANSWER.findall(prompt))
            return f"Explanation. {rule(answers['A'], answers['B'])}"

        return chat_judge(reply, prompts)

    return start


class Stub:
    """A model and judge in one: answers name the question they answer; ratings and log-likelihoods are fixed by turn."""

    name = "stub"

    def __init__(self):
        self.seen = []
        self.fingerprint = ModelFingerprint(model="stub", revision=None, weights_sha256="1" * 64, backend="stub",
                                            dtype="none", device="cpu")
        self.capabilities = Capabilities(generate=True, loglikelihoods=True)

    @staticmethod
    def turn(text: str) -> int:
        return 2 if "### User:" in text else 1

    def generate(self, requests):
        for i, r in enumerate(requests):
            self.seen.append(r)
            last = r.messages[-1]["content"]
            if "[Instruction]" in last or "### User:" in last:  # a judge prompt
                texts = ["Rating: [[8]]" if self.turn(last) == 1 else "Fine. [[4]]"]
            else:
                texts = [f"answer {k} to <{last[:20]}>" for k in range(r.sampling.n)]
            yield [i], [GenerationResult(responses=texts, new_tokens=[3] * len(texts), finish_reasons=["stop"] * len(texts),
                                         prompt_tokens=1)]

    def loglikelihoods(self, requests):
        for i, r in enumerate(requests):
            assert r.text == "Rating: [[" and r.continuations == [f"{s}]]" for s in range(1, 11)]
            target = 7 if self.turn(r.prefix) == 1 else 3
            yield [i], [MultipleChoiceResult(loglikelihoods=[-2.0 - abs(s - target) for s in range(1, 11)], path="stub",
                                             prompt_tokens=1)]

    def close(self):
        pass


@pytest.fixture()
def stub_model():
    """A fresh :class:`Stub`: the model and the judge of the multi-turn MT-Bench tests."""
    return Stub()


@pytest.fixture()
def conversations(data_dir, tmp_path):
    """First turns of a writing, a math and a coding question (2 samples each), then their second turns."""
    questions = {str(q["question_id"]): q for q in read_jsonl(data_dir / "judging" / "mt_bench_questions.jsonl")}
    chosen = [next(q for q in questions.values() if q["category"] == c) for c in ("writing", "math", "coding")]
    prompts = tmp_path / "questions.jsonl"
    prompts.write_text("".join(json.dumps(q) + "\n" for q in chosen))
    stub, data = Stub(), DataRoots.from_root(data_dir)
    with ResultStore(tmp_path / "s.sqlite") as store:
        first = GenerationTask({"prompts": str(prompts), "text_field": "turns", "id_field": "question_id", "n": 2,
                                "temperature": 0.7, "max_new_tokens": 16, "n_boot": 10}, data)
        evaluate(first, stub, store, out_dir=tmp_path / "model" / "generate")
        stub.seen.clear()
        evaluate(SecondTurnTask({"first_turn": str(tmp_path / "model" / "generate"), "n_boot": 10}, data), stub, store,
                 out_dir=tmp_path / "model" / "turn2")
    return tmp_path / "model", chosen, stub.seen
