"""`evalsuite serve` over real HTTP, and the openai backend's retries, timeouts and failures."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

import httpx
import pytest

from evalsuite.backends import load_backend
from evalsuite.backends.openai import EndpointError
from evalsuite.registry import get_task
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore
from evalsuite.config import StrictModel
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")


@pytest.fixture(scope="module")
def chat_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with a chat template, as the trainer's checkpoints have."""
    import shutil

    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("chat") / "model"
    shutil.copytree(tiny_model, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>"
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def served(chat_model, start_serve):
    with start_serve(chat_model) as url:
        yield url


def test_served_model_answers_the_openai_protocol(served):
    models = httpx.get(f"{served}/models").json()
    assert models["data"][0]["id"] == "tiny"
    body = httpx.post(f"{served}/completions", json={"model": "tiny", "prompt": "The sea", "n": 2, "max_tokens": 5, "seed": 3}).json()
    assert len(body["choices"]) == 2 and body["usage"]["prompt_tokens"] > 0
    again = httpx.post(f"{served}/completions", json={"model": "tiny", "prompt": "The sea", "n": 2, "max_tokens": 5, "seed": 3}).json()
    assert [c["text"] for c in again["choices"]] == [c["text"] for c in body["choices"]]  # seeded


def test_generation_run_through_the_openai_backend(served, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "Hello"}\n{"prompt": "你好"}\n', encoding="utf-8")
    task = get_task("generate")({"prompts": str(prompts), "n": 2, "max_new_tokens": 6, "chat_template": False, "n_boot": 10})
    backend = load_backend("openai", {"model": "tiny", "base_url": served, "concurrency": 2})
    with ResultStore(tmp_path / "s.sqlite") as store:
        record = evaluate(task, backend, store, out_dir=tmp_path / "run")
    assert record.model["backend"] == "openai" and record.computation["responses"] == 4
    lines = (tmp_path / "run" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(l)["prompt_id"] for l in lines] == ["0", "0", "1", "1"]


class _Flaky(BaseHTTPRequestHandler):
    """Answers what its script says: an HTTP status, "ok" (a completion), "hang", or "echo" (500 quoting the key)."""

    script: list = []
    seen: list = []

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _Flaky.seen.append(self.headers.get("Authorization"))
        action = _Flaky.script.pop(0) if _Flaky.script else 500
        if action == "hang":
            time.sleep(2)
            return
        if action == "ok":
            payload = json.dumps({"choices": [{"text": "fine", "finish_reason": "stop"}], "usage": {"completion_tokens": 1}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        if action == "echo":  # a server that echoes the credentials it was sent
            self.send_response(500)
            self.end_headers()
            self.wfile.write(f"rejected {self.headers.get('Authorization')}".encode())
            return
        self.send_response(action)
        if action == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(b"try later")

    def log_message(self, *args):
        pass


@pytest.fixture()
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Flaky.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _backend(url, **options):
    return load_backend("openai", {"model": "m", "base_url": url, "backoff": 0.01, **options})


def test_retries_429_and_500_then_succeeds(flaky, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    _Flaky.script = [429, 500, "ok"]
    body = _backend(flaky).post("/completions", {"prompt": "x"})
    assert body["choices"][0]["text"] == "fine"
    assert _Flaky.seen == ["Bearer sk-secret-value"] * 3


def test_gives_up_after_retries_without_leaking_the_key(flaky, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    _Flaky.script = [500, 500, 500]
    with pytest.raises(EndpointError) as error:
        _backend(flaky, max_retries=2).post("/completions", {"prompt": "x"})
    assert "failed after 3 attempts; last error: HTTP 500" in str(error.value)
    assert "sk-secret" not in str(error.value)
    assert len(_Flaky.seen) == 3


def test_timeouts_are_retried_then_reported(flaky):
    _Flaky.script = ["hang", "hang"]
    with pytest.raises(EndpointError, match="timed out after 0.5s"):
        _backend(flaky, timeout=0.5, max_retries=1).chat([{"role": "user", "content": "x"}], SamplingConfig(n=1))


def test_client_errors_are_not_retried(flaky):
    _Flaky.script = [400]
    with pytest.raises(EndpointError, match="HTTP 400"):
        _backend(flaky).post("/completions", {"prompt": "x"})
    assert len(_Flaky.seen) == 1


@register_score_kind
class _Count(Scores):
    kind: Literal["probe-count"] = "probe-count"
    responses: int


class _Words(Task):
    """Three raw prompts, one greedy sample each; the score counts the responses."""

    name = "probe-words"
    version = "1"
    Params = StrictModel
    output_type = "generation"
    result_type = GenerationResult

    def requests(self):
        sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=4)
        return [GenerationRequest(key=w, group=w, prompt=w, sampling=sampling) for w in ("a", "b", "c")]

    def aggregate(self, requests, results):
        return _Count(responses=len(results)), [{"key": r.key, "response": x.responses[0]} for r, x in zip(requests, results)]


def test_a_failed_request_is_recorded_not_stored_and_retried(flaky, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    backend = _backend(flaky, max_retries=0, concurrency=1)
    _Flaky.script = ["ok", "echo", "ok"]
    with ResultStore(tmp_path / "s.sqlite") as store:
        first = evaluate(_Words(), backend, store)
        assert [f.key for f in first.failed] == ["b"] and first.scores.responses == 2
        assert "failed after 1 attempts; last error: HTTP 500: rejected Bearer ***" in first.failed[0].error
        assert "sk-secret" not in first.failed[0].error
        _Flaky.script = ["ok"]
        again = evaluate(_Words(), backend, store)
    assert again.failed == [] and again.scores.responses == 3
    assert again.timings.items_from_store == 2 and again.timings.items_computed == 1


def test_run_exits_5_when_items_failed_and_0_once_a_rerun_finished_them(flaky, tmp_path, capsys):
    from evalsuite.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "x"}\n{"prompt": "y"}\n', encoding="utf-8")
    argv = ["run", "--backend", "openai", "--model", "m", "--base-url", flaky, "-B", "max_retries=0",
            "-B", "concurrency=1", "--task", "generate", "-T", f"prompts={prompts}", "-T", "n=1",
            "-T", "temperature=0", "-T", "chat_template=false", "--store", str(tmp_path / "s.sqlite"), "--no-progress"]
    _Flaky.script = ["ok", 500]
    assert main(argv) == 5
    assert "1 of 2 items failed and are not stored" in capsys.readouterr().err
    _Flaky.script = ["ok"]
    assert main(argv) == 0
    assert len(_Flaky.seen) == 3  # the rerun asked only for the failed item


def test_openai_backend_declares_generation_only(flaky):
    from evalsuite.errors import ConfigError

    backend = _backend(flaky)
    assert backend.capabilities.generate and not backend.capabilities.loglikelihoods
    with pytest.raises(ConfigError, match="cannot score multiple-choice log-likelihoods"):
        backend.loglikelihoods([])


def test_end_to_end_generate_then_panel_of_two_served_judges(served, tiny_model, tmp_path):
    """generate -> diversity metrics -> two judges (one served model, two seeds) over HTTP -> stored results.

    A random tiny model cannot write a parseable verdict: every judgment must be
    stored raw, counted as unparseable and excluded, never turned into a score.
    """
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "Name a fruit."}\n{"prompt": "说一个颜色。"}\n', encoding="utf-8")
    out = tmp_path / "gen"
    subprocess.run(
        [EVALSUITE, "run", "--model", str(tiny_model), "--task", "generate", "-T", f"prompts={prompts}", "-T", "n=2",
         "-T", "max_new_tokens=8", "-T", "chat_template=false", "-T", "n_boot=10", "--out", str(out),
         "--store", str(tmp_path / "s.sqlite"), "--no-progress"],
        check=True, capture_output=True,
    )
    assert "distinct_2" in json.loads((out / "results.json").read_text())["scores"]["within"]
    result = subprocess.run(
        [EVALSUITE, "judge", "panel", str(out), "--judge", f"{served},tiny,seed0,0", "--judge", f"{served},tiny,seed1,1",
         "--out", str(tmp_path / "panel"), "--store", str(tmp_path / "s.sqlite")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    panel = json.loads((tmp_path / "panel" / "results.json").read_text())
    assert panel["judgments"]["ok"] + panel["judgments"]["unparseable"] == 4 and panel["judgments"]["failed"] == 0
    records = [json.loads(l) for l in (tmp_path / "panel" / "judgments.jsonl").read_text().splitlines()]
    assert {r["judge"] for r in records} == {"seed0", "seed1"}
    assert all(r["raw"] is not None for r in records)
    assert all((r["status"] == "ok") == (r["scores"] is not None) for r in records)


def test_vllm_backend_says_how_to_get_vllm_when_missing(tiny_model):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        from evalsuite.errors import ConfigError

        with pytest.raises(ConfigError, match="needs vLLM, which runs on GPU machines: pip install vllm"):
            load_backend("vllm", {"model": str(tiny_model)})
    else:  # pragma: no cover - only on GPU machines with vLLM
        pytest.skip("vLLM is installed here; the GPU path is exercised by benchmarks, not unit tests")
