"""The ``openai`` backend: any OpenAI-compatible HTTP endpoint (including ``evalsuite serve``).

Requests are retried with exponential backoff on 429, 5xx and connection
errors (honouring ``Retry-After`` up to ``max_retry_after``) and run at most
``concurrency`` at a time. Every request has bounds a hostile or broken server
cannot stretch: ``timeout`` per attempt and ``deadline`` for all attempts and
waits together, both wall-clock (the body is streamed, so a server dripping a
byte a second is cut off), and ``max_response_bytes`` (a larger body is never
read whole). A request that still fails, or whose response is not an OpenAI
completion, is an :class:`~evalsuite.backend.ItemFailure` for that item, so the
run goes on and a rerun retries it. After a 401, 403 or 404 no further request
is sent: the rest fail with the same reason.

The API key is read from the environment variable ``api_key_env`` and sent only
over https or to a loopback address (:func:`evalsuite.redact.safe_for_secrets`);
it and any credentials in ``base_url`` are never logged, stored or shown.
"""

from __future__ import annotations

import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, Field, ValidationError, field_serializer

from evalsuite.backend import Capabilities, ItemFailure
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.backends.mc_plan import prepare
from evalsuite.backends.token_scoring import continuation_loglikelihood, echo_result, scored_sequences
from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.provenance import sha256_text
from evalsuite.redact import redact_url, safe_for_secrets, scrub, url_secrets
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, MultipleChoiceResult, SamplingConfig

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}
FATAL = {401, 403, 404}  # every further request would fail the same way


class OpenAIConfig(StrictModel):
    model: str = Field(description="Model name at the endpoint.")
    base_url: str = Field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        description="Endpoint root, e.g. http://127.0.0.1:8000/v1 for `evalsuite serve` (recorded with credentials as ***).",
    )
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="Environment variable holding the API key (never logged); empty: send no key.")
    insecure_plaintext_key: bool = Field(
        False, description="Send the key even over plain http to a non-loopback host, where anyone on the path can read it.")
    timeout: float = Field(60.0, gt=0, description="Seconds one attempt may take, reading the whole body included.")
    deadline: float = Field(300.0, gt=0, description="Seconds one request may take in all: attempts and retry waits.")
    max_retries: int = Field(5, ge=0, description="Retries after the first attempt on 429/5xx/timeouts.")
    backoff: float = Field(1.0, ge=0, description="First retry delay in seconds; doubles each retry, with jitter.")
    max_retry_after: float = Field(60.0, ge=0, description="Longest wait a server's Retry-After header can ask for.")
    max_response_bytes: int = Field(8 * 2**20, ge=1, description="Largest response body read; a larger one fails the item.")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    revision: str | None = Field(None, description="Recorded in the fingerprint (endpoints cannot be hashed).")
    tokenizer: str | None = Field(
        None, description="The served model's tokenizer (directory or Hub id), for multiple-choice log-likelihoods "
        "through /completions; default: the model name when it is a directory or an owner/name Hub id.")
    max_length: int | None = Field(None, ge=2, description="The served model's context; default: the endpoint decides.")
    truncation: Literal["error", "left"] = Field(
        "error", description="A prompt longer than max_length: an error, or drop tokens from the left (per item).")
    echo_max_tokens: int = Field(0, ge=0, le=1, description="max_tokens of a scoring request; 1 where a server refuses 0.")

    @field_serializer("base_url")
    def _without_credentials(self, url: str) -> str:
        return redact_url(url)


class EndpointError(ModelError):
    """The endpoint failed after all retries; the message never contains the API key."""


class FatalEndpointError(EndpointError):
    """The endpoint refused this client (401, 403, 404): no further request is sent."""


class _Message(BaseModel):
    content: str | None = None


class _Logprobs(BaseModel):
    token_logprobs: list[float | None]


class _Choice(BaseModel):
    message: _Message | None = None
    logprobs: _Logprobs | None = None
    text: str | None = None
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Completion(BaseModel):
    """The part of an OpenAI completion the backend reads; anything else is ignored."""

    choices: list[_Choice]
    usage: _Usage | None = None


def _retry_after(headers: Any) -> float:
    """The ``Retry-After`` header in seconds (0 when absent or an HTTP date)."""
    value = headers.get("retry-after", "")
    return float(value) if value.replace(".", "", 1).isdigit() else 0.0


class OpenAIBackend:
    """Sampling from an OpenAI-compatible endpoint; log-likelihoods through /completions where a tokenizer is known."""

    name = "openai"
    Config = OpenAIConfig

    def __init__(self, config: OpenAIConfig):
        import httpx

        self.config = config
        self.url = redact_url(config.base_url.rstrip("/"))  # what messages and records show
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        self._secrets = url_secrets(config.base_url) + ([key] if key else [])
        if self._secrets and not (config.insecure_plaintext_key or safe_for_secrets(config.base_url)):
            what = f"the API key in ${config.api_key_env}" if key else "the credentials in base_url"
            raise ConfigError(
                f"refusing to send {what} to {self.url}: plain http to a host that is not loopback, so anyone on "
                "the network path could read it. Use an https:// URL or a loopback address (e.g. an SSH tunnel to "
                "127.0.0.1); if the endpoint needs no key, set api_key_env to empty (-B api_key_env=); to accept "
                "the risk, pass insecure_plaintext_key=true"
            )
        self._fatal: str | None = None  # set by a 401/403/404: later requests are not sent
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            self.client = httpx.Client(base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"base_url {self.url}: {self._redact(str(exc))}; expected e.g. https://host/v1") from None
        # An endpoint's weights cannot be hashed: the fingerprint names the endpoint (without credentials) and model.
        identity = f"openai|{self.url}|{config.model}|{config.revision or ''}"
        self.fingerprint = ModelFingerprint(
            model=config.model, revision=config.revision, weights_sha256=sha256_text(identity),
            backend="openai", dtype="remote", device=self.url,
        )
        self.tokenizer, self.tokenizer_problem = self._load_tokenizer()
        self.capabilities = Capabilities(
            generate=True, loglikelihoods=self.tokenizer is not None,
            notes={} if self.tokenizer is not None else {"loglikelihoods": self.tokenizer_problem},
        )

    def _load_tokenizer(self):
        """The served model's tokenizer and ``None``, or ``None`` and why there is none.

        A configured ``tokenizer`` must load; the model name is tried only when it
        is a directory or has a Hub id's owner/name shape (``gpt-4o`` is neither).
        """
        name = self.config.tokenizer or self.config.model
        if not self.config.tokenizer and not (Path(name).is_dir() or name.count("/") == 1):
            return None, (f"no tokenizer for model {name!r}: set -B tokenizer=<directory or Hub id of the served "
                          "model's tokenizer> to score multiple choice through /completions")
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(name), None
        except (OSError, ValueError, ImportError) as exc:
            problem = f"could not load tokenizer {name!r} ({type(exc).__name__}: {str(exc)[:200]})"
            if self.config.tokenizer:
                raise ConfigError(f"-B tokenizer: {problem}; give the served model's tokenizer directory or Hub id") from None
            return None, f"{problem}; set -B tokenizer=<directory or Hub id of the served model's tokenizer>"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with retries within ``deadline``; raise :class:`EndpointError` when every attempt failed."""
        import httpx

        where = f"{self.url}{path} for model {self.config.model}"
        if self._fatal:
            raise FatalEndpointError(f"not sent, an earlier request failed: {self._fatal}")
        end = time.monotonic() + self.config.deadline
        delay, last, attempts = self.config.backoff, "no attempt made", 0
        while attempts <= self.config.max_retries and time.monotonic() < end:
            attempts += 1
            limit = min(self.config.timeout, end - time.monotonic())
            try:
                status, headers, body = self._send(path, payload, limit, where)
            except httpx.TimeoutException:
                last = f"timed out after {limit:.3g}s"
            except httpx.RequestError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if status < 400:
                    return self._json(body, where)
                last = f"HTTP {status}: {self._redact(body.decode('utf-8', 'replace'))[:200]}"
                if status in FATAL:
                    hint = "" if "Authorization" in self.client.headers or status != 401 else " (no API key was sent)"
                    self._fatal = f"{where}: {last}{hint}"
                    raise FatalEndpointError(self._fatal)
                if status not in RETRYABLE:
                    raise EndpointError(f"{where}: {last}")
                delay = max(delay, min(_retry_after(headers), self.config.max_retry_after))
            remaining = end - time.monotonic()
            if attempts <= self.config.max_retries and remaining > 0:
                time.sleep(min(delay * (1 + 0.25 * random.random()), remaining))
                delay *= 2
        if attempts <= self.config.max_retries:
            raise EndpointError(f"{where}: deadline of {self.config.deadline:g}s reached after {attempts} attempts; "
                                f"last error: {last}")
        raise EndpointError(f"{where}: failed after {attempts} attempts; last error: {last}")

    def _send(self, path: str, payload: dict[str, Any], limit: float, where: str) -> tuple[int, Any, bytes]:
        """One attempt: status, headers and body, streamed and cut at ``limit`` seconds or the size cap."""
        import httpx

        cut, cap = time.monotonic() + limit, self.config.max_response_bytes
        with self.client.stream("POST", path, json=payload, timeout=limit) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise EndpointError(f"{where}: the response declares {int(declared)} bytes, more than "
                                    f"max_response_bytes={cap}; not read")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise EndpointError(f"{where}: the response is longer than max_response_bytes={cap}; not read further")
                if time.monotonic() > cut:
                    raise httpx.ReadTimeout("the body did not arrive in time")
            return response.status_code, response.headers, bytes(body)

    def _json(self, body: bytes, where: str) -> dict[str, Any]:
        try:
            value = json.loads(body)
        except ValueError:
            raise EndpointError(f"{where}: response is not JSON") from None
        if not isinstance(value, dict):
            raise EndpointError(f"{where}: response is JSON but not an object ({type(value).__name__})")
        return value

    def chat(self, messages: list[dict[str, str]], sampling: SamplingConfig, n: int | None = None) -> dict[str, Any]:
        payload = {
            "model": self.config.model,
            "messages": messages,
            "n": n or sampling.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "seed": sampling.seed,
        }
        return self.post("/chat/completions", payload)

    def _complete(self, request: GenerationRequest) -> GenerationResult:
        """One request's ``n`` responses; :class:`EndpointError` when the endpoint fails after its retries."""
        s = request.sampling
        if request.messages is not None:
            body = self.chat(request.messages, s)
        else:
            body = self.post("/completions", {
                "model": self.config.model, "prompt": request.prompt, "n": s.n, "temperature": s.temperature,
                "top_p": s.top_p, "max_tokens": s.max_new_tokens, "seed": s.seed,
            })
        chat = request.messages is not None
        try:
            completion = _Completion.model_validate(body)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'response'}: {e['msg']}" for e in exc.errors()[:3])
            raise EndpointError(f"{self.url}: the response for prompt {request.key} is not an OpenAI completion "
                                f"({problems}); is base_url an OpenAI-compatible endpoint?") from None
        texts = []
        for i, choice in enumerate(completion.choices):
            if (choice.message is None) if chat else (choice.text is None):
                raise EndpointError(f"{self.url}: choice {i} of the response for prompt {request.key} has no "
                                    f"{'message' if chat else 'text'}")
            texts.append((choice.message.content or "") if chat else choice.text)
        if len(texts) != s.n:
            raise EndpointError(f"{self.url}: asked for n={s.n} choices, got {len(texts)} (prompt {request.key})")
        reasons = ["length" if c.finish_reason == "length" else "stop" for c in completion.choices]
        usage = completion.usage or _Usage()
        per_choice = (usage.completion_tokens or 0) // len(texts)
        return GenerationResult(
            responses=texts, new_tokens=[per_choice] * len(texts), finish_reasons=reasons,
            prompt_tokens=usage.prompt_tokens or 0,
        )

    def _redact(self, text: str) -> str:
        """``text`` without the API key or base_url's credentials (a server may echo what it was sent)."""
        return scrub(text, self._secrets)

    def _attempt(self, request: GenerationRequest) -> GenerationResult | ItemFailure:
        try:
            return self._complete(request)
        except EndpointError as exc:
            return ItemFailure(error=self._redact(str(exc)))

    def generate(self, requests: list[GenerationRequest]) -> Iterator[tuple[list[int], list[GenerationResult | ItemFailure]]]:
        """Run requests ``concurrency`` at a time; yield each as it completes (the runner stores it).

        A request that fails after its retries yields an :class:`ItemFailure`
        (its message never holds the API key); the other requests go on, unless
        the failure was fatal (401, 403, 404): then none is sent any more.
        """
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = {pool.submit(self._attempt, request): i for i, request in enumerate(requests)}
            for future in as_completed(futures):
                yield [futures[future]], [future.result()]

    def loglikelihoods(
        self, requests: list[MultipleChoiceRequest]
    ) -> Iterator[tuple[list[int], list[MultipleChoiceResult | ItemFailure]]]:
        """Score one group's requests through /completions, ``concurrency`` options at a time; yield each item when
        its options are in.

        Each option's tokens (lm-eval's rule, as the hf backend) are sent as the
        prompt with ``echo`` and ``logprobs``; its log-likelihood is the sum of the
        echoed continuation tokens' log-probabilities. An item with a failed option
        is an :class:`ItemFailure`.
        """
        if self.tokenizer is None:  # checked here, not when the first result is asked for
            raise ConfigError(f"the openai backend cannot score multiple-choice log-likelihoods: {self.tokenizer_problem}")
        return self._score(requests)

    def _score(self, requests: list[MultipleChoiceRequest]) -> Iterator[tuple[list[int], list[MultipleChoiceResult | ItemFailure]]]:
        window = self.config.max_length or 2**62
        items = prepare(requests, lambda texts: self.tokenizer(texts)["input_ids"], single_token_fast_path=False,
                        max_length=window - 1, truncation=self.config.truncation)
        jobs = [(i, k, seq, n) for i, item in enumerate(items) for k, (seq, n) in enumerate(scored_sequences(item, window))]
        lls: list[list[float | None]] = [[None] * len(item.continuations) for item in items]
        pending = [len(item.continuations) for item in items]
        failures: dict[int, str] = {}
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = {pool.submit(self._score_option, seq, n, requests[i].key): (i, k) for i, k, seq, n in jobs}
            for future in as_completed(futures):
                i, k = futures[future]
                pending[i] -= 1
                try:
                    lls[i][k] = future.result()
                except EndpointError as exc:
                    failures.setdefault(i, self._redact(str(exc)))
                if not pending[i]:
                    yield [i], [ItemFailure(error=failures[i]) if i in failures else echo_result(items[i], lls[i])]

    def _score_option(self, sequence: list[int], scored: int, key: str) -> float:
        """One option's log-likelihood from the echoed prompt; :class:`EndpointError` when the endpoint fails."""
        if not scored:
            return 0.0
        body = self.post("/completions", {
            "model": self.config.model, "prompt": sequence, "echo": True, "logprobs": 1,
            "max_tokens": self.config.echo_max_tokens, "temperature": 0,
        })
        where = f"{self.url}: the response for item {key}"
        try:
            choice = _Completion.model_validate(body).choices[0]
        except (ValidationError, IndexError):
            raise EndpointError(f"{where} is not an OpenAI completion with a choice; is base_url an "
                                "OpenAI-compatible endpoint?") from None
        if choice.logprobs is None:
            raise EndpointError(f"{where} has no logprobs; the endpoint must support echo with logprobs on /completions")
        echoed = choice.logprobs.token_logprobs
        if not len(sequence) <= len(echoed) <= len(sequence) + self.config.echo_max_tokens:
            raise EndpointError(f"{where} echoes {len(echoed)} token log-probabilities for a prompt of {len(sequence)} "
                                "tokens; the endpoint must accept token-id prompts and echo them")
        try:
            return continuation_loglikelihood(echoed[: len(sequence)], scored, where)
        except ModelError as exc:
            raise EndpointError(str(exc)) from None
