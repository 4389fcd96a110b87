"""An OpenAI-compatible HTTP server for a local checkpoint (FastAPI + uvicorn).

``evalsuite serve --model DIR`` lets judges, the ``openai`` backend and tests
talk to a local model over real HTTP. This is for evaluation runs on one
machine, not production, but it fails closed: bodies, ``max_tokens`` and ``n``
are bounded (:class:`ServeLimits`); generation runs one request at a time in
one worker thread (the model is not thread-safe) and at most
``max_waiting`` requests wait, more are answered 429 with ``Retry-After``;
``stream: true`` is refused with a 400 rather than ignored; an optional API key
is required as ``Authorization: Bearer``. Everything else runs on the event
loop, so ``/v1/models`` answers at once while the model is busy.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints'
# annotations, and the request models are built per app (they carry its limits).

import asyncio
import hmac
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, Field, TypeAdapter, WrapValidator, create_model

from evalsuite.backend import ItemFailure
from evalsuite.config import StrictModel
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig

MIB = 1024 * 1024


class ServeLimits(StrictModel):
    """What one server accepts; requests beyond these are refused with a 4xx, never half-served."""

    max_body_bytes: int = Field(MIB, ge=1024, description="Largest request body; larger ones get 413.")
    max_tokens: int = Field(4096, ge=1, description="Largest max_tokens a request may ask for (the model's context also binds).")
    max_n: int = Field(16, ge=1, description="Most choices (n) one request may ask for.")
    max_waiting: int = Field(8, ge=0, description="Requests that may wait while one generates; more get 429.")
    retry_after_s: int = Field(1, ge=1, description="The Retry-After a 429 carries.")


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class _Sampling(BaseModel):
    model: str | None = None
    n: int = Field(1, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(128, ge=1)
    seed: int | None = None
    stream: bool = Field(False, description="Streaming is not supported: true is answered with 400.")

    def sampling(self) -> SamplingConfig:
        # As with OpenAI: a given seed reproduces its samples; no seed draws a fresh one.
        seed = self.seed if self.seed is not None else random.randrange(2**31)
        return SamplingConfig(
            n=self.n, temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_tokens, seed=seed
        )


class _ChatFields(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)


_TEXT = TypeAdapter(Annotated[str, Field(min_length=1)])
_IDS = TypeAdapter(Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)])


def _prompt(value: Any, handler) -> "str | list[int]":
    # One type per shape, so a bad string is one error at ("prompt",), not one per member of the union.
    return _IDS.validate_python(value) if isinstance(value, list) else _TEXT.validate_python(value)


class _CompletionFields(_Sampling):
    prompt: Annotated[str | list[int], WrapValidator(_prompt)] = Field(
        description="Text, or token ids of the served model's tokenizer.")
    echo: bool = Field(False, description="Return the prompt (with max_tokens=0: only the prompt, for scoring).")
    logprobs: int | None = Field(None, ge=0, le=20, description="With echo and max_tokens=0: each prompt token's "
                                 "log-probability and this many most likely tokens at each position.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionLogprobs(BaseModel):
    """vLLM's shape for an echoed prompt: one entry per token, the first without a log-probability."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str
    logprobs: CompletionLogprobs | None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class ErrorBody(BaseModel):
    detail: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "a request the model cannot answer as asked (streaming, greedy with n > 1, a prompt too long)",
        401: "a missing or wrong API key",
        413: "a body over the size limit",
        429: "the server is busy: retry after Retry-After seconds",
        502: "the model failed on this request",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


def _bounded(base: type[_Sampling], name: str, limits: ServeLimits, fewest_tokens: int = 1) -> type[_Sampling]:
    """``base`` with this server's caps on ``n`` and ``max_tokens``, so the schema states them and 422 names them."""
    return create_model(
        name,
        __base__=base,
        n=(int, Field(1, ge=1, le=limits.max_n)),
        max_tokens=(int, Field(min(128, limits.max_tokens), ge=fewest_tokens, le=limits.max_tokens)),
    )


class BodyLimit:
    """ASGI middleware: answers 413 to a body over ``max_bytes``, declared or streamed, before the app reads it."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def receive_again():
            return replay.pop() if replay else await receive()

        await self.app(scope, receive_again, send)

    async def _refuse(self, scope, receive, send):
        from starlette.responses import JSONResponse

        detail = (f"request body is larger than this server's limit of {self.max_bytes} bytes; "
                  "send a shorter request or restart `evalsuite serve` with a larger --max-body-bytes")
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


class GenerationQueue:
    """One generation at a time on one worker thread; at most ``limits.max_waiting`` more wait their turn.

    Admission is counted on the event loop (one thread), so the count needs no lock.
    """

    def __init__(self, backend, limits: ServeLimits):
        self.backend = backend
        self.limits = limits
        self.admitted = 0  # running + waiting
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalsuite-serve")

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """``request``'s result from ``backend.generate``; 429 when too many wait, 400/502 when the model fails."""
        return await self.submit(self._one, request)

    async def submit(self, work: Callable, *args):
        """``work(*args)`` on the model's thread, admitted as :meth:`generate` admits a generation."""
        from fastapi import HTTPException

        from evalsuite.errors import EvalsuiteError

        if self.admitted > self.limits.max_waiting:
            raise HTTPException(
                status_code=429,
                detail=f"the server is busy (one request generating, {self.limits.max_waiting} waiting); "
                       f"retry after {self.limits.retry_after_s}s",
                headers={"Retry-After": str(self.limits.retry_after_s)},
            )
        self.admitted += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.worker, work, *args)
        except EvalsuiteError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        finally:
            self.admitted -= 1
        if isinstance(result, ItemFailure):
            raise HTTPException(status_code=502, detail=result.error)
        return result

    def _one(self, request: GenerationRequest) -> "GenerationResult | ItemFailure":
        (result,) = [r for _, batch in self.backend.generate([request]) for r in batch]
        return result


def _key_check(api_key: str):
    """A dependency that lets a request through only with ``Authorization: Bearer <api_key>``."""
    from fastapi import Depends, HTTPException
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    bearer = HTTPBearer(auto_error=False, description="the key given to `evalsuite serve --api-key/--api-key-env`")
    expected = api_key.encode()

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected):  # constant time: no timing hint about the key
            raise HTTPException(
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
                detail="missing or wrong API key: send the server's key as 'Authorization: Bearer <key>'",
            )

    return check


async def _validation_error(request, exc):
    """422 naming each bad field. FastAPI's own handler echoes every bad input: a megabyte of it comes back
    whole, and a lone surrogate there cannot be encoded at all (a 500)."""
    from starlette.responses import JSONResponse

    return JSONResponse({"detail": [{k: e[k] for k in ("type", "loc", "msg")} for e in exc.errors()]}, status_code=422)


def create_app(backend, served_name: str, limits: ServeLimits | None = None, api_key: str | None = None):
    """A FastAPI app answering ``/v1/models``, ``/v1/chat/completions`` and ``/v1/completions`` with ``backend.generate``.

    ``limits`` bounds what a request may ask (defaults: :class:`ServeLimits`);
    with ``api_key`` every endpoint requires it as a bearer token.
    """
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.exceptions import RequestValidationError

    limits = limits or ServeLimits()
    app = FastAPI(title="evalsuite serve", dependencies=[Depends(_key_check(api_key))] if api_key else [])
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    queue = app.state.generation = GenerationQueue(backend, limits)
    ChatRequest = _bounded(_ChatFields, "ChatRequest", limits)  # noqa: N806 - a class
    CompletionRequest = _bounded(_CompletionFields, "CompletionRequest", limits, fewest_tokens=0)  # noqa: N806 - a class

    async def run(request: GenerationRequest, stream: bool) -> GenerationResult:
        if stream:
            raise HTTPException(status_code=400, detail="streaming (stream=true) is not supported by evalsuite serve; "
                                                        "omit stream or set it to false")
        if request.sampling.temperature == 0 and request.sampling.n != 1:
            raise HTTPException(status_code=400, detail="temperature=0 (greedy) gives one choice: set n=1")
        return await queue.generate(request)

    def envelope(kind: str, choices: list[dict[str, Any]], prompt_tokens: int, new_tokens: int = 0) -> dict[str, Any]:
        return {
            "id": f"{kind}-{uuid.uuid4().hex}",
            "object": "chat.completion" if kind == "chat" else "text_completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": new_tokens,
                      "total_tokens": prompt_tokens + new_tokens},
        }

    @app.get("/v1/models", response_model=ModelList, responses=_errors(401))
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_name, "object": "model", "owned_by": "evalsuite"}]}

    @app.post("/v1/chat/completions", response_model=ChatCompletion, responses=_errors(400, 401, 413, 429, 502))
    async def chat(body: ChatRequest) -> dict[str, Any]:
        request = GenerationRequest(
            key="serve", group="serve",
            messages=[m.model_dump() for m in body.messages], sampling=body.sampling(),
        )
        result = await run(request, body.stream)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
            for i, (text, reason) in enumerate(zip(result.responses, result.finish_reasons))
        ]
        return envelope("chat", choices, result.prompt_tokens, sum(result.new_tokens))

    @app.post("/v1/completions", response_model=Completion, responses=_errors(400, 401, 413, 429, 502))
    async def complete(body: CompletionRequest) -> dict[str, Any]:
        if body.echo or body.logprobs is not None or body.max_tokens == 0 or not isinstance(body.prompt, str):
            if body.stream or body.n != 1 or not (body.echo and body.max_tokens == 0):
                raise HTTPException(status_code=400, detail=(
                    "evalsuite serve answers logprobs, max_tokens=0 and token-id prompts only for scoring a prompt: "
                    "echo=true, max_tokens=0, n=1, no stream"))
            if not backend.capabilities.prompt_logprobs:
                raise HTTPException(status_code=400, detail="this backend cannot score prompts (no prompt_logprobs)")
            choice, prompt_tokens = await queue.submit(echoed_prompt, backend, body.prompt, body.logprobs)
            return envelope("completion", [choice], prompt_tokens)
        request = GenerationRequest(key="serve", group="serve", prompt=body.prompt, sampling=body.sampling())
        result = await run(request, body.stream)
        choices = [
            {"index": i, "text": text, "finish_reason": reason}
            for i, (text, reason) in enumerate(zip(result.responses, result.finish_reasons))
        ]
        return envelope("completion", choices, result.prompt_tokens, sum(result.new_tokens))

    return app


def echoed_prompt(backend, prompt: "str | list[int]", top: int | None) -> tuple[dict[str, Any], int]:
    """One completion choice echoing ``prompt`` with no new tokens (with ``top`` set, its per-token
    log-probabilities in vLLM's shape), and the prompt's length in tokens."""
    from evalsuite.errors import ConfigError

    tokenizer = backend.tokenizer
    if isinstance(prompt, str):
        ids = backend.prompt_ids(GenerationRequest(key="serve", group="serve", prompt=prompt, sampling=SamplingConfig()))
    elif max(prompt) >= len(tokenizer):
        raise ConfigError(f"prompt token id {max(prompt)} is outside the vocabulary of {len(tokenizer)} tokens; "
                          "encode the prompt with the served model's tokenizer")
    else:
        ids = prompt
    tokens = [tokenizer.decode([token]) for token in ids]
    choice: dict[str, Any] = {"index": 0, "text": tokenizer.decode(ids), "finish_reason": "length"}
    if top is None:
        return choice, len(ids)
    chosen, best = backend.prompt_logprobs(ids, top)
    offsets = [0]
    for token in tokens[:-1]:
        offsets.append(offsets[-1] + len(token))
    tops = [None if pairs is None else {**{tokenizer.decode([t]): v for t, v in pairs}, token: lp}
            for token, lp, pairs in zip(tokens, chosen, best)]
    choice["logprobs"] = {"tokens": tokens, "token_logprobs": chosen, "top_logprobs": tops, "text_offset": offsets}
    return choice, len(ids)
