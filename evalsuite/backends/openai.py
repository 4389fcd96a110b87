"""The ``openai`` backend: any OpenAI-compatible HTTP endpoint (including ``evalsuite serve``).

Requests time out, are retried with exponential backoff on 429, 5xx and
connection errors (honouring ``Retry-After``), and run at most ``concurrency``
at a time. The API key is read from the environment and never logged or stored.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Iterator

from pydantic import Field

from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.provenance import sha256_text
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig

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
    name = "openai"

    def __init__(self, config: OpenAIConfig):
        import httpx

        from evalsuite.backends.hf import ModelFingerprint

        self.config = config
        key = os.environ.get(config.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout)
        # An endpoint's weights cannot be hashed: the fingerprint names the endpoint and model.
        identity = f"openai|{config.base_url.rstrip('/')}|{config.model}|{config.revision or ''}"
        self.fingerprint = ModelFingerprint(
            model=config.model, revision=config.revision, weights_sha256=sha256_text(identity),
            backend="openai", dtype="remote", device=config.base_url,
        )

    def close(self) -> None:
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
                last = f"HTTP {response.status_code}: {response.text[:200]}"
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

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        s = request.sampling
        if request.messages is not None:
            body = self.chat(request.messages, s)
            texts = [choice["message"]["content"] or "" for choice in body["choices"]]
        else:
            body = self.post("/completions", {
                "model": self.config.model, "prompt": request.prompt, "n": s.n, "temperature": s.temperature,
                "top_p": s.top_p, "max_tokens": s.max_new_tokens, "seed": s.seed,
            })
            texts = [choice["text"] for choice in body["choices"]]
        if len(texts) != s.n:
            raise EndpointError(f"{self.config.base_url}: asked for n={s.n} choices, got {len(texts)} (prompt {request.key})")
        usage = body.get("usage") or {}
        per_choice = usage.get("completion_tokens", 0) // max(len(texts), 1)
        return GenerationResult(
            responses=texts,
            new_tokens=[per_choice] * len(texts),
            finish_reasons=["length" if c.get("finish_reason") == "length" else "stop" for c in body["choices"]],
            prompt_tokens=usage.get("prompt_tokens", 0),
        )

    def generate(self, requests: list[GenerationRequest]) -> Iterator[tuple[list[int], list[GenerationResult]]]:
        """Run requests ``concurrency`` at a time; yield each as it completes (the runner stores it)."""
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = {pool.submit(self._generate_one, request): i for i, request in enumerate(requests)}
            for future in as_completed(futures):
                yield [futures[future]], [future.result()]

    def score(self, requests):
        raise ConfigError(
            "the openai backend cannot score multiple-choice log-likelihoods (chat endpoints return no prompt "
            "log-probabilities); use the hf backend for MMLU and C-Eval"
        )


Config = OpenAIConfig
Backend = OpenAIBackend
