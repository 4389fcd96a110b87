"""The openai backend against hostile or broken endpoints (all on 127.0.0.1), and where its secrets may go."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from evalsuite.backend import ItemFailure
from evalsuite.backends import load_backend
from evalsuite.backends.openai import EndpointError
from evalsuite.errors import ConfigError
from evalsuite.task import GenerationRequest, SamplingConfig

MIB = 2**20
COMPLETION = {"choices": [{"text": "fine", "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 2, "completion_tokens": 1}}


def _reply(handler, status: int, body: bytes, headers: dict | None = None) -> None:
    handler.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _ok(handler) -> None:
    _reply(handler, 200, json.dumps(COMPLETION).encode())


def _echo(handler) -> None:
    """A 500 quoting the credentials the server was sent."""
    _reply(handler, 500, f"rejected {handler.headers.get('Authorization')}".encode())


def _drip(handler) -> None:
    """200 OK, then a 600-byte body at one byte per 0.1 s (a minute in all)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "600")
    handler.end_headers()
    try:
        for _ in range(600):
            handler.wfile.write(b" ")
            time.sleep(0.1)
    except OSError:
        pass


def _flood(declare: bool):
    """30 MiB of body, its length declared or not; how much the client took is recorded in ``Server.written``."""

    def action(handler) -> None:
        handler.send_response(200)
        if declare:
            handler.send_header("Content-Length", str(30 * MIB))
        handler.end_headers()
        written = 0
        try:
            while written < 30 * MIB:
                handler.wfile.write(b"x" * (256 * 1024))
                written += 256 * 1024
        except OSError:
            pass
        finally:
            Server.written.append(written)
            Server.done.set()

    return action


class Server(BaseHTTPRequestHandler):
    """Answers each POST with the next action of ``script`` (a completion once the script is used up)."""

    script: list = []
    seen: list = []
    written: list = []
    done = threading.Event()

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        Server.seen.append(self.headers.get("Authorization"))
        (Server.script.pop(0) if Server.script else _ok)(self)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Server.script, Server.seen, Server.written, Server.done = [], [], [], threading.Event()
    yield httpd.server_address[1]
    httpd.shutdown()


def _backend(port: int, **options):
    return load_backend("openai", {"model": "m", "base_url": f"http://127.0.0.1:{port}/v1", "backoff": 0.01, **options})


def _within(seconds: float, call):
    """``call()``'s result or exception, asserting it came back within ``seconds`` (a hang fails, not blocks)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except Exception as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _requests(count: int, chat: bool = False) -> list[GenerationRequest]:
    sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=4)
    return [GenerationRequest(key=f"k{i}", group=f"k{i}", sampling=sampling,
                              **({"messages": [{"role": "user", "content": "hi"}]} if chat else {"prompt": "hi"}))
            for i in range(count)]


def _results(backend, requests) -> list:
    results = [None] * len(requests)
    for indices, batch in backend.generate(requests):
        for i, result in zip(indices, batch):
            results[i] = result
    return results


def test_retry_after_is_capped(server):
    Server.script = [lambda h: _reply(h, 429, b"slow down", {"Retry-After": "86400"}), _ok]
    backend = _backend(server, max_retry_after=0.3)
    started = time.monotonic()
    body = _within(5, lambda: backend.post("/completions", {"prompt": "x"}))
    assert body["choices"][0]["text"] == "fine" and len(Server.seen) == 2
    assert 0.3 <= time.monotonic() - started < 4  # waited the cap, not a day


def test_a_slow_drip_body_is_cut_at_the_deadline(server):
    Server.script = [_drip] * 20
    backend = _backend(server, timeout=0.5, deadline=1.5, max_retries=10)
    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"deadline of 1.5s reached after \d attempts; last error: timed out"):
        _within(5, lambda: backend.post("/completions", {"prompt": "x"}))
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("declare", [True, False], ids=["declared", "undeclared"])
def test_a_30_mib_body_is_refused_without_reading_it_whole(server, declare):
    Server.script = [_flood(declare)]
    [result] = _within(20, lambda: _results(_backend(server, max_retries=0), _requests(1)))
    assert isinstance(result, ItemFailure) and f"max_response_bytes={8 * MIB}" in result.error
    assert Server.done.wait(10)
    assert Server.written[0] < 30 * MIB  # the server could not push the rest: the client stopped reading


@pytest.mark.parametrize(("body", "problem"), [
    ({"choices": [{"text": "no message"}]}, "choice 0 of the response for prompt k0 has no message"),
    ({"choices": [{"message": None}]}, "has no message"),
    ({"choices": [{"message": {"content": 5}}]}, "choices.0.message.content: Input should be a valid string"),
    ({"choices": [{"message": {"content": "a"}}], "usage": []}, "usage: Input should be a valid dictionary"),
    ({"choices": [{"message": {"content": "a"}}], "usage": {"completion_tokens": "many"}}, "usage.completion_tokens"),
    ({"error": {"message": "overloaded"}}, "choices: Field required"),
    ({"choices": [{"message": {"content": "a"}}] * 2}, "asked for n=1 choices, got 2"),
    ([1, 2], "response is JSON but not an object (list)"),
    ("<html>busy</html>", "response is not JSON"),
], ids=["no-message", "null-message", "int-content", "list-usage", "text-tokens", "no-choices", "wrong-n",
        "list", "html"])
def test_a_malformed_response_is_a_failed_item(server, body, problem):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    Server.script = [lambda h: _reply(h, 200, raw)]
    [result] = _results(_backend(server, max_retries=0), _requests(1, chat=True))
    assert isinstance(result, ItemFailure) and problem in result.error


def test_after_a_401_no_further_request_is_sent(server):
    Server.script = [lambda h: _reply(h, 401, b"bad key")]
    backend = _backend(server, concurrency=1)
    results = _results(backend, _requests(5))
    assert len(Server.seen) == 1  # not retried, and the queued four never went out
    assert all(isinstance(r, ItemFailure) and "HTTP 401: bad key (no API key was sent)" in r.error for r in results)
    assert sum("not sent, an earlier request failed" in r.error for r in results) == 4
    again = _results(backend, _requests(2))  # the runner's next group: still nothing sent
    assert len(Server.seen) == 1 and all(isinstance(r, ItemFailure) for r in again)


def test_where_a_key_may_be_sent_is_decided_from_the_url_alone():
    from evalsuite.redact import safe_for_secrets

    allowed = ["https://api.openai.com/v1", "HTTPS://judge.example.invalid/v1", "http://127.0.0.1:8000/v1",
               "http://127.8.9.10/v1", "http://localhost:8000/v1", "http://LOCALHOST./v1", "http://[::1]:8000/v1",
               "http://[::ffff:127.0.0.1]/v1"]
    refused = ["http://example.invalid/v1", "http://10.0.0.5:8000/v1", "http://0.0.0.0:8000/v1",
               "http://127.0.0.1.example.invalid/v1", "http://localhost.example.invalid/v1", "http://[::2]/v1",
               "http://2130706433/v1", "ftp://127.0.0.1/v1", "127.0.0.1:8000/v1", "http://[::1/v1", ""]
    assert [u for u in allowed if not safe_for_secrets(u)] == []
    assert [u for u in refused if safe_for_secrets(u)] == []


def test_a_key_is_refused_for_plain_http_to_a_non_loopback_host_before_anything_is_sent(monkeypatch):
    def no_client(*args, **kwargs):
        raise AssertionError("an HTTP client was created")

    monkeypatch.setattr(httpx, "Client", no_client)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-value")
    with pytest.raises(ConfigError, match=r"refusing to send the API key in \$OPENAI_API_KEY to http://example.invalid/v1"
                                          r".*Use an https:// URL") as error:
        load_backend("openai", {"model": "m", "base_url": "http://example.invalid/v1"})
    assert "sk-secret" not in str(error.value)
    from evalsuite.tasks.judging.judges import load_judge_specs

    [judge] = load_judge_specs(["http://example.invalid/v1,m,j,0,JUDGE_KEY"])
    with pytest.raises(ConfigError, match=r"the API key in \$JUDGE_KEY"):
        load_backend("openai", judge.backend_options())
    with pytest.raises(ConfigError, match=r"the credentials in base_url to http://\*\*\*@example.invalid/v1") as error:
        load_backend("openai", {"model": "m", "base_url": "http://user:hunter2@example.invalid/v1", "api_key_env": ""})
    assert "hunter2" not in str(error.value)
    monkeypatch.undo()  # a real client again: a bad port is a configuration error that keeps the password out
    with pytest.raises(ConfigError, match=r"base_url http://\*\*\*@127.0.0.1:x/v1: Invalid port") as error:
        load_backend("openai", {"model": "m", "base_url": "http://user:hunter2@127.0.0.1:x/v1"})
    assert "hunter2" not in str(error.value)


def test_the_key_named_goes_to_https_and_no_key_or_an_explicit_risk_is_allowed_over_http(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-value")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    from evalsuite.tasks.judging.judges import load_judge_specs

    [judge] = load_judge_specs(["https://judge.example.invalid/v1,m,j,0,JUDGE_KEY"])
    backend = load_backend("openai", judge.backend_options())  # constructing sends nothing
    assert backend.client.headers["Authorization"] == "Bearer sk-judge-value"
    keyless = load_backend("openai", {"model": "m", "base_url": "http://example.invalid/v1", "api_key_env": None})
    assert "Authorization" not in keyless.client.headers
    risky = load_backend("openai", {"model": "m", "base_url": "http://example.invalid/v1",
                                    "insecure_plaintext_key": True})
    assert risky.client.headers["Authorization"] == "Bearer sk-secret-value"


def test_credentials_in_the_url_are_redacted_and_the_fingerprint_still_tells_endpoints_apart():
    from evalsuite.provenance import sha256_text
    from evalsuite.redact import redact_url

    assert redact_url("https://user:pa%40ss@host:8443/v1?api-version=2024&api_key=sk-1&sig=x") == \
        "https://***@host:8443/v1?api-version=2024&api_key=***&sig=***"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"

    def fingerprint(url):
        return load_backend("openai", {"model": "m", "base_url": url, "api_key_env": None}).fingerprint

    first, second = fingerprint("https://a:one@host-a/v1"), fingerprint("https://a:two@host-a/v1")
    assert first == second and first.device == "https://***@host-a/v1"
    assert fingerprint("https://a:one@host-b/v1").weights_sha256 != first.weights_sha256
    # A URL without credentials hashes as it always did, so stored results stay reusable.
    assert fingerprint("http://127.0.0.1:8000/v1/").weights_sha256 == sha256_text("openai|http://127.0.0.1:8000/v1|m|")


def test_url_credentials_never_reach_results_the_store_or_messages(server, tmp_path, capsys):
    from evalsuite.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "x"}\n{"prompt": "y"}\n', encoding="utf-8")
    url = f"http://user:hunter2@127.0.0.1:{server}/v1"
    Server.script = [_ok, _echo]
    code = main(["run", "--backend", "openai", "--model", "m", "--base-url", url, "-B", "max_retries=0",
                 "-B", "concurrency=1", "--task", "generate", "-T", f"prompts={prompts}", "-T", "n=1",
                 "-T", "temperature=0", "-T", "chat_template=false", "--out", str(tmp_path / "run"),
                 "--store", str(tmp_path / "s.sqlite"), "--no-progress"])
    basic = base64.b64encode(b"user:hunter2").decode()
    assert code == 5 and Server.seen == [f"Basic {basic}"] * 2  # the credentials were used, over loopback
    record = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert record["backend_config"]["base_url"] == f"http://***@127.0.0.1:{server}/v1"
    assert "rejected Basic ***" in record["failed"][0]["error"]
    output = capsys.readouterr()
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != prompts]
    assert {p.name for p in files} >= {"results.json", "samples.jsonl", "s.sqlite"}
    for text in [output.out, output.err] + [p.read_bytes().decode("latin-1") for p in files]:
        assert "hunter2" not in text and basic not in text
