"""Multiple-choice log-likelihoods through /v1/completions (echo + logprobs), served by `evalsuite serve`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from evalsuite.backend import ItemFailure
from evalsuite.backends import load_backend
from evalsuite.errors import ConfigError
from evalsuite.task import MultipleChoiceRequest

CASES = {"mmlu": ["anatomy", "high_school_geography"], "ceval": ["accountant", "high_school_chinese"]}


@pytest.fixture(scope="module")
def served(tiny_model, start_serve):
    with start_serve(tiny_model, "--max-waiting", "64") as url:
        yield url


def _samples(folder: Path) -> dict[tuple[str, int], dict]:
    lines = (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return {(s["subject"], s["index"]): s for s in map(json.loads, lines)}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("shots", [0, 5])
def test_served_completions_score_like_the_hf_backend(served, tiny_model, data_dir, tmp_path, shots):
    from evalsuite.data import DataRoots
    from evalsuite.registry import get_task
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    hf = load_backend("hf", {"model": str(tiny_model)})
    remote = load_backend("openai", {"model": "tiny", "base_url": served, "api_key_env": "",
                                     "tokenizer": str(tiny_model), "concurrency": 4})
    compared = 0
    with ResultStore(tmp_path / "store.sqlite") as store:
        for benchmark, subjects in CASES.items():
            task = get_task(benchmark)({"subjects": subjects, "shots": shots, "limit": 3}, data=DataRoots.from_root(data_dir))
            evaluate(task, hf, store, out_dir=tmp_path / "hf" / benchmark)
            record = evaluate(task, remote, store, out_dir=tmp_path / "openai" / benchmark)
            assert record.failed == [] and record.computation["general_items"] == 3 * len(subjects)
            mine, reference = _samples(tmp_path / "openai" / benchmark), _samples(tmp_path / "hf" / benchmark)
            assert mine.keys() == reference.keys() and len(mine) == 3 * len(subjects)
            for key, sample in mine.items():
                assert sample["prediction"] == reference[key]["prediction"], key
                assert sample["loglikelihoods"] == pytest.approx(reference[key]["loglikelihoods"], abs=1e-4), key
                compared += 1
    assert compared == 3 * sum(len(s) for s in CASES.values())


def test_serve_echoes_prompt_logprobs_in_vllms_shape(served, tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer("The sea is calm. Answer: B")["input_ids"]
    body = httpx.post(f"{served}/completions", json={"model": "tiny", "prompt": ids, "echo": True, "logprobs": 2,
                                                     "max_tokens": 0}).json()
    logprobs = body["choices"][0]["logprobs"]
    tokens = [tokenizer.decode([t]) for t in ids]
    assert logprobs["tokens"] == tokens and body["usage"]["prompt_tokens"] == len(ids)
    assert logprobs["text_offset"] == [sum(len(t) for t in tokens[:i]) for i in range(len(ids))]
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    with torch.inference_mode():
        reference = model(torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
    expected = reference.gather(1, torch.tensor(ids[1:])[:, None])[:, 0].tolist()
    assert logprobs["token_logprobs"][1:] == pytest.approx(expected, abs=1e-4)
    for position, top in enumerate(logprobs["top_logprobs"][1:]):
        # The prompt's own token besides the top 2 (keys are decoded text, so two ids may share one).
        assert top[tokens[position + 1]] == logprobs["token_logprobs"][position + 1] and 1 <= len(top) <= 3
        best = reference[position].topk(2).values.tolist()
        assert all(v <= best[0] + 1e-4 and (v >= best[1] - 1e-4 or k == tokens[position + 1]) for k, v in top.items())


def test_serve_refuses_what_it_cannot_score(served, tiny_model):
    post = lambda **body: httpx.post(f"{served}/completions", json={"model": "tiny", **body})  # noqa: E731
    too_long = post(prompt=[5] * 5000, echo=True, logprobs=1, max_tokens=0)
    assert too_long.status_code == 400 and "longer than the model's context" in too_long.json()["detail"]
    outside = post(prompt=[1, 10**6], echo=True, logprobs=1, max_tokens=0)
    assert outside.status_code == 400 and "outside the vocabulary of 4000 tokens" in outside.json()["detail"]
    generated = post(prompt=[1, 2], echo=True, logprobs=1, max_tokens=3)
    assert generated.status_code == 400 and "echo=true, max_tokens=0" in generated.json()["detail"]


@pytest.mark.integration
def test_loglikelihoods_need_a_tokenizer_and_say_what_to_set(data_dir, tmp_path):
    from evalsuite.data import DataRoots
    from evalsuite.registry import get_task
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    backend = load_backend("openai", {"model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1", "api_key_env": ""})
    assert not backend.capabilities.loglikelihoods and backend.capabilities.generate
    assert "set -B tokenizer=" in backend.tokenizer_problem
    task = get_task("mmlu")({"subjects": ["anatomy"], "limit": 1}, data=DataRoots.from_root(data_dir))
    with pytest.raises(ConfigError, match="needs 'loglikelihoods'.*set -B tokenizer="):
        with ResultStore(tmp_path / "s.sqlite") as store:
            evaluate(task, backend, store, out_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="-B tokenizer: could not load tokenizer"):
        load_backend("openai", {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "",
                                "tokenizer": str(tmp_path)})


class _Echo(BaseHTTPRequestHandler):
    """An endpoint whose log-probability of token t is -t/1000, echoing ``extra`` more entries than the prompt."""

    extra = 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ids = body["prompt"]
        values = [None] + [-t / 1000 for t in ids[1:]] + [-9.0] * _Echo.extra
        payload = json.dumps({"choices": [{"text": "", "finish_reason": "length", "logprobs": {
            "tokens": ["x"] * len(values), "token_logprobs": values, "top_logprobs": [None] * len(values),
            "text_offset": list(range(len(values)))}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.parametrize("echo_max_tokens", [0, 1])
def test_continuation_tokens_are_the_whole_less_the_context(echo_server, tiny_model, echo_max_tokens):
    from transformers import AutoTokenizer

    _Echo.extra = echo_max_tokens  # a server asked for max_tokens=1 echoes one generated token more
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    request = MultipleChoiceRequest(key="q/0", group="q", prefix="", text="Question: the sea?\nAnswer:",
                                    continuations=[" A", " the blue sea"])
    backend = load_backend("openai", {"model": "tiny", "base_url": echo_server, "api_key_env": "",
                                      "tokenizer": str(tiny_model), "echo_max_tokens": echo_max_tokens})
    [(indices, [result])] = list(backend.loglikelihoods([request]))
    context = tokenizer(request.context)["input_ids"]
    expected = [-sum(tokenizer(request.context + c)["input_ids"][len(context):]) / 1000 for c in request.continuations]
    assert indices == [0] and result.loglikelihoods == pytest.approx(expected) and result.path == "general"


def test_a_response_without_the_echoed_prompt_fails_only_that_item(echo_server, tiny_model):
    _Echo.extra = 2  # more entries than prompt + max_tokens: the server did not echo this prompt
    request = MultipleChoiceRequest(key="q/0", group="q", prefix="", text="Answer:", continuations=[" A", " B"])
    backend = load_backend("openai", {"model": "tiny", "base_url": echo_server, "api_key_env": "",
                                      "tokenizer": str(tiny_model)})
    [(indices, [result])] = list(backend.loglikelihoods([request]))
    assert isinstance(result, ItemFailure) and "the endpoint must accept token-id prompts" in result.error
