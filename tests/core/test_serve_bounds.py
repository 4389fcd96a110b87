"""`evalsuite serve` fails closed: bounded bodies, caps, validation, a bounded queue, an API key, a fuzzed schema.

The app is driven in-process (Starlette's test client) or, where threads and
the event loop matter, through uvicorn bound to 127.0.0.1. The backend is a
fake that echoes, so the tests take seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evalsuite.backend import Capabilities
from evalsuite.serve import ServeLimits, create_app
from evalsuite.task import GenerationResult

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


class Echo:
    """Answers each request ``n`` times with its prompt (or last message) reversed; ``hold`` blocks until released."""

    capabilities = Capabilities(generate=True)

    def __init__(self, hold: bool = False):
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.started = threading.Event()
        self.busy = 0  # generations running at once, to check they never overlap
        self.most_busy = 0

    def generate(self, requests):
        self.started.set()
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        self.release.wait(20)
        self.busy -= 1
        for i, request in enumerate(requests):
            text = (request.prompt if request.prompt is not None else request.messages[-1]["content"])[::-1]
            n = request.sampling.n
            yield [i], [GenerationResult(responses=[text] * n, new_tokens=[len(text)] * n,
                                         finish_reasons=["stop"] * n, prompt_tokens=len(text))]


def client(**limits) -> TestClient:
    return TestClient(create_app(Echo(), "fake", limits=ServeLimits(**limits)))


def test_a_body_over_the_limit_is_413_declared_or_streamed():
    app = client(max_body_bytes=2048)
    big = {"model": "fake", "prompt": "x" * 4096}
    declared = app.post("/v1/completions", json=big)
    assert declared.status_code == 413 and "limit of 2048 bytes" in declared.json()["detail"]
    chunks = (b'{"prompt": "' + b"x" * 1000, b"x" * 1000, b"x" * 1000 + b'"}')  # chunked: no Content-Length
    streamed = app.post("/v1/completions", content=iter(chunks), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert app.post("/v1/completions", json={"prompt": "x" * 1000}).status_code == 200


@pytest.mark.parametrize("field, value, cap", [("n", 17, 16), ("max_tokens", 5000, 4096)])
def test_n_and_max_tokens_over_their_caps_are_refused(field, value, cap):
    response = client().post("/v1/chat/completions", json={**CHAT, field: value})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field] and f"less than or equal to {cap}" in error["msg"]


def test_caps_are_configurable():
    assert client(max_n=2).post("/v1/completions", json={"prompt": "a", "n": 3}).status_code == 422
    assert client(max_tokens=8).post("/v1/completions", json={"prompt": "a", "max_tokens": 9}).status_code == 422


@pytest.mark.parametrize("messages, where", [
    ([], ["body", "messages"]),
    ([{"role": "wizard", "content": "hi"}], ["body", "messages", 0, "role"]),
])
def test_malformed_messages_are_422_naming_the_field(messages, where):
    response = client().post("/v1/chat/completions", json={**CHAT, "messages": messages})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [where]


def test_a_lone_surrogate_is_422_not_a_crash():
    response = client().post("/v1/completions", content=b'{"prompt": "a\\ud800b"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"type": "string_unicode", "loc": ["body", "prompt"],
                                          "msg": "Input should be a valid string, unable to parse raw data as a unicode string"}]


def test_stream_true_is_refused_with_400_not_ignored():
    for path, body in (("/v1/chat/completions", CHAT), ("/v1/completions", {"prompt": "a"})):
        response = client().post(path, json={**body, "stream": True})
        assert response.status_code == 400 and "streaming (stream=true) is not supported" in response.json()["detail"]


def test_api_key_is_required_when_set():
    app = TestClient(create_app(Echo(), "fake", api_key="s3cret"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
        for response in (app.get("/v1/models", headers=headers), app.post("/v1/completions", json={"prompt": "a"}, headers=headers)):
            assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
            assert "Authorization: Bearer <key>" in response.json()["detail"]
    good = {"Authorization": "Bearer s3cret"}
    assert app.get("/v1/models", headers=good).status_code == 200
    assert app.post("/v1/completions", json={"prompt": "a"}, headers=good).json()["choices"][0]["text"] == "a"


def test_serve_refuses_an_unset_api_key_variable(monkeypatch, capsys):
    from evalsuite.cli import main

    monkeypatch.delenv("EVALSUITE_TEST_NO_SUCH_KEY", raising=False)
    assert main(["serve", "--model", "unused", "--api-key-env", "EVALSUITE_TEST_NO_SUCH_KEY"]) == 2
    assert "--api-key-env EVALSUITE_TEST_NO_SUCH_KEY: that environment variable is not set" in capsys.readouterr().err


class Served:
    """An app under uvicorn in a thread on a free 127.0.0.1 port, and one client for it (safe across threads)."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=httpx.Limits(max_connections=100))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Served":
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=20)


def _wait_for(condition, seconds: float = 10) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


def test_a_full_queue_answers_429_with_retry_after():
    backend = Echo(hold=True)
    app = create_app(backend, "fake", limits=ServeLimits(max_waiting=1))
    with Served(app) as served, ThreadPoolExecutor(2) as pool:
        post = lambda: served.client.post("/v1/completions", json={"prompt": "ab"})  # noqa: E731
        admitted = [pool.submit(post) for _ in range(2)]  # one generating, one waiting
        _wait_for(lambda: app.state.generation.admitted == 2)
        refused = post()
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert "the server is busy (one request generating, 1 waiting)" in refused.json()["detail"]
        backend.release.set()
        assert [f.result().json()["choices"][0]["text"] for f in admitted] == ["ba", "ba"]
    assert backend.most_busy == 1


def test_models_answers_at_once_while_many_requests_wait_for_the_model():
    """More waiting requests than the worker-thread pool has threads (40) must not starve ``/v1/models``."""
    backend = Echo(hold=True)
    app = create_app(backend, "fake", limits=ServeLimits(max_waiting=60))
    with Served(app) as served, ThreadPoolExecutor(50) as pool:
        waiting = [pool.submit(served.client.post, "/v1/completions", json={"prompt": "x"}) for _ in range(50)]
        _wait_for(lambda: backend.started.is_set() and app.state.generation.admitted == 50)
        start = time.monotonic()
        models = served.client.get("/v1/models", timeout=5)
        assert models.status_code == 200 and time.monotonic() - start < 1.0
        assert models.json()["data"][0]["id"] == "fake"
        backend.release.set()
        assert all(f.result().status_code == 200 for f in waiting)
    assert backend.most_busy == 1


fuzzed = schemathesis.openapi.from_asgi("/openapi.json", create_app(Echo(), "fake", limits=ServeLimits(max_n=4)))


@fuzzed.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_never_get_a_5xx_and_responses_match_the_schema(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
