"""An OpenAI-compatible HTTP server for a local checkpoint (FastAPI + uvicorn).

``evalsuite serve --model DIR`` lets judges, the ``openai`` backend and tests
talk to a local model over real HTTP. One model, one request at a time (a lock
around generation): this is for evaluation runs on one machine, not production.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field

from evalsuite.backend import ItemFailure
from evalsuite.task import GenerationRequest, SamplingConfig


class ChatMessage(BaseModel):
    role: str
    content: str


class _Sampling(BaseModel):
    model: str | None = None
    n: int = Field(1, ge=1, le=64)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(128, ge=1)
    seed: int | None = None

    def sampling(self) -> SamplingConfig:
        # As with OpenAI: a given seed reproduces its samples; no seed draws a fresh one.
        seed = self.seed if self.seed is not None else random.randrange(2**31)
        return SamplingConfig(
            n=self.n, temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_tokens, seed=seed
        )


class ChatRequest(_Sampling):
    messages: list[ChatMessage]


class CompletionRequest(_Sampling):
    prompt: str


def create_app(backend, served_name: str):
    """A FastAPI app answering ``/v1/models``, ``/v1/chat/completions`` and ``/v1/completions`` with ``backend.generate``."""
    from fastapi import FastAPI, HTTPException

    from evalsuite.errors import EvalsuiteError

    app = FastAPI(title="evalsuite serve")
    lock = threading.Lock()

    def run(request: GenerationRequest):
        if request.sampling.temperature == 0 and request.sampling.n != 1:
            raise HTTPException(status_code=400, detail="temperature=0 (greedy) gives one choice: set n=1")
        try:
            with lock:
                (result,) = [r for _, batch in backend.generate([request]) for r in batch]
        except EvalsuiteError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        if isinstance(result, ItemFailure):
            raise HTTPException(status_code=502, detail=result.error)
        return result

    def envelope(kind: str, result, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": f"{kind}-{uuid.uuid4().hex}",
            "object": "chat.completion" if kind == "chat" else "text_completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": sum(result.new_tokens),
                "total_tokens": result.prompt_tokens + sum(result.new_tokens),
            },
        }

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_name, "object": "model", "owned_by": "evalsuite"}]}

    @app.post("/v1/chat/completions")
    def chat(body: ChatRequest) -> dict[str, Any]:
        request = GenerationRequest(
            key="serve", group="serve",
            messages=[m.model_dump() for m in body.messages], sampling=body.sampling(),
        )
        result = run(request)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
            for i, (text, reason) in enumerate(zip(result.responses, result.finish_reasons))
        ]
        return envelope("chat", result, choices)

    @app.post("/v1/completions")
    def complete(body: CompletionRequest) -> dict[str, Any]:
        request = GenerationRequest(key="serve", group="serve", prompt=body.prompt, sampling=body.sampling())
        result = run(request)
        choices = [
            {"index": i, "text": text, "finish_reason": reason}
            for i, (text, reason) in enumerate(zip(result.responses, result.finish_reasons))
        ]
        return envelope("completion", result, choices)

    return app
