"""The ``openai`` backend: any OpenAI-compatible HTTP endpoint (including ``evalsuite serve``).

Requests time out, are retried with exponential backoff on 429, 5xx and
connection errors (honouring ``Retry-After``), and run at most ``concurrency``
at a time. A request that still fails is reported as an
:class:`~evalsuite.backend.ItemFailure` for that item, so the run goes on and a
rerun retries it. The API key is read from the environment and never logged or
stored.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Iterator

from pydantic import Field

from evalsuite.backend import Capabilities, ItemFailure
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.provenance import sha256_text
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, SamplingConfig

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


class OpenAIConfig(StrictModel):
    model: str = Field(description="Model name at the endpoint.")
    base_url: str = Field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        description="Endpoint root, e.g. http://127.0.0.1:8000/v1 for `evalsuite serve`.",
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never logged).")
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(5, ge=0, description="Retries after the first attempt on 429/5xx/timeouts.")
    backoff: float = Field(1.0, ge=0, description="First retry delay in seconds; doubles each retry, with jitter.")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    revision: str | None = Field(None, description="Recorded in the fingerprint (endpoints cannot be hashed).")


class EndpointError(ModelError):
    """The endpoint failed after all retries; the message never contains the API key."""


class OpenAIBackend:
    """Sampling from an OpenAI-compatible endpoint (no log-likelihoods: chat endpoints return none)."""

    name = "openai"
    Config = OpenAIConfig
    capabilities = Capabilities(generate=True)

    def __init__(self, config: OpenAIConfig):
        import httpx

        self.config = config
        key = os.environ.get(config.api_key_env)
        self._key = key or None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout)
        # An endpoint's weights cannot be hashed: the fingerprint names the endpoint and model.
        identity = f"openai|{config.base_url.rstrip('/')}|{config.model}|{config.revision or ''}"
        self.fingerprint = ModelFingerprint(
            model=config.model, revision=config.revision, weights_sha256=sha256_text(identity),
            backend="openai", dtype="remote", device=config.base_url,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; raise :class:`EndpointError` when every attempt failed."""
        import httpx

        delay = self.config.backoff
        last = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            try:
                response = self.client.post(path, json=payload)
            except httpx.TimeoutException:
                last = f"timed out after {self.config.timeout:g}s"
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise EndpointError(f"{self.config.base_url}{path}: response is not JSON") from None
                last = f"HTTP {response.status_code}: {self._redact(response.text)[:200]}"
                if response.status_code not in RETRYABLE:
                    raise EndpointError(f"{self.config.base_url}{path} for model {self.config.model}: {last}")
                retry_after = response.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(retry_after))
            if attempt < self.config.max_retries:
                time.sleep(delay * (1 + 0.25 * random.random()))
                delay *= 2
        raise EndpointError(
            f"{self.config.base_url}{path} for model {self.config.model}: failed after "
            f"{self.config.max_retries + 1} attempts; last error: {last}"
        )

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
        try:
            choices = body["choices"]
            texts = [(c["message"]["content"] or "") if request.messages is not None else c["text"] for c in choices]
            reasons = ["length" if c.get("finish_reason") == "length" else "stop" for c in choices]
        except (KeyError, TypeError, AttributeError) as exc:
            raise EndpointError(
                f"{self.config.base_url}: response for prompt {request.key} is not an OpenAI completion "
                f"({type(exc).__name__}: {exc}); is base_url an OpenAI-compatible endpoint?"
            ) from None
        if len(texts) != s.n:
            raise EndpointError(f"{self.config.base_url}: asked for n={s.n} choices, got {len(texts)} (prompt {request.key})")
        usage = body.get("usage") or {}
        per_choice = usage.get("completion_tokens", 0) // max(len(texts), 1)
        return GenerationResult(
            responses=texts, new_tokens=[per_choice] * len(texts), finish_reasons=reasons,
            prompt_tokens=usage.get("prompt_tokens", 0),
        )

    def _redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***`` (a server may echo what it was sent)."""
        return text.replace(self._key, "***") if self._key else text

    def _attempt(self, request: GenerationRequest) -> GenerationResult | ItemFailure:
        try:
            return self._complete(request)
        except EndpointError as exc:
            return ItemFailure(error=self._redact(str(exc)))

    def generate(self, requests: list[GenerationRequest]) -> Iterator[tuple[list[int], list[GenerationResult | ItemFailure]]]:
        """Run requests ``concurrency`` at a time; yield each as it completes (the runner stores it).

        A request that fails after its retries yields an :class:`ItemFailure`
        (its message never holds the API key); the other requests go on.
        """
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = {pool.submit(self._attempt, request): i for i, request in enumerate(requests)}
            for future in as_completed(futures):
                yield [futures[future]], [future.result()]

    def loglikelihoods(self, requests: list[MultipleChoiceRequest]):
        """Not available: always a :class:`ConfigError` saying which backend to use."""
        raise ConfigError(
            "the openai backend cannot score multiple-choice log-likelihoods (chat endpoints return no prompt "
            "log-probabilities); use the hf backend for MMLU and C-Eval"
        )
