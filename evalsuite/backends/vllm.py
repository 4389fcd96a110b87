"""The ``vllm`` backend: fast batched sampling and multiple-choice scoring with vLLM on a GPU machine (optional).

vLLM is not a dependency: where it is not installed (any CPU machine) the
backend says so and how to get it. Each prompt's samples carry their own seed
(derived from the run seed and the prompt key, as in the hf backend), so they
do not depend on batching. Multiple choice is scored from ``prompt_logprobs``
with lm-eval's tokenization and general path, the token-level code the
``openai`` backend uses (:mod:`evalsuite.backends.token_scoring`). That path is
tested on vLLM's documented output shape only: vLLM has not been run here.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Literal, Sequence

from pydantic import Field

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint, resolve_checkpoint, sample_seed, weights_fingerprint
from evalsuite.backends.mc_plan import prepare
from evalsuite.backends.token_scoring import continuation_loglikelihood, echo_result, scored_sequences
from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, MultipleChoiceResult


class VLLMConfig(StrictModel):
    model: str = Field(description="Local checkpoint directory or Hugging Face Hub id.")
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = None
    trust_remote_code: bool = Field(False, description="Run code shipped with the checkpoint. Only when you trust it.")
    chunk_prompts: int = Field(256, ge=1, description="Prompts handed to vLLM at once (results are stored after each chunk).")
    truncation: Literal["error", "left"] = Field(
        "error", description="A multiple-choice prompt longer than the context: an error, or drop tokens from the left.")


class VLLMBackend:
    """Batched sampling and multiple-choice log-likelihoods with vLLM (GPU machines)."""

    name = "vllm"
    Config = VLLMConfig
    capabilities = Capabilities(generate=True, loglikelihoods=True)

    def __init__(self, config: VLLMConfig):
        try:
            import vllm
        except ImportError:
            raise ConfigError(
                "the vllm backend needs vLLM, which runs on GPU machines: pip install vllm "
                "(on a CPU machine use --backend hf)"
            ) from None
        self.config = config
        folder, revision = resolve_checkpoint(config.model, config.revision)
        self.llm = vllm.LLM(
            model=str(folder), dtype=config.dtype, gpu_memory_utilization=config.gpu_memory_utilization,
            max_model_len=config.max_model_len, trust_remote_code=config.trust_remote_code,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.fingerprint = ModelFingerprint(
            model=config.model, revision=revision, weights_sha256=weights_fingerprint(folder), backend="vllm",
            dtype=config.dtype, device="cuda",
        )

    def _prompt(self, request: GenerationRequest) -> str:
        if request.messages is None:
            return request.prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelError(f"{self.config.model} has no chat template; use -T chat_template=false")
        return self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)

    def generate(self, requests: list[GenerationRequest]) -> Iterator[tuple[list[int], list[GenerationResult]]]:
        from vllm import SamplingParams

        for start in range(0, len(requests), self.config.chunk_prompts):
            chunk = requests[start: start + self.config.chunk_prompts]
            params = []
            for request in chunk:
                s = request.sampling
                params.append(SamplingParams(
                    n=s.n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k or -1,
                    repetition_penalty=s.repetition_penalty, max_tokens=s.max_new_tokens,
                    seed=sample_seed(s.seed, request.key),
                ))
            outputs = self.llm.generate([self._prompt(r) for r in chunk], params, use_tqdm=False)
            results = [
                GenerationResult(
                    responses=[c.text for c in out.outputs],
                    new_tokens=[len(c.token_ids) for c in out.outputs],
                    finish_reasons=["length" if c.finish_reason == "length" else "stop" for c in out.outputs],
                    prompt_tokens=len(out.prompt_token_ids or []),
                )
                for out in outputs
            ]
            yield list(range(start, start + len(chunk))), results

    def loglikelihoods(self, requests: list[MultipleChoiceRequest]) -> Iterator[tuple[list[int], list[MultipleChoiceResult]]]:
        """Score one group's requests from vLLM's ``prompt_logprobs``, ``chunk_prompts`` items at a time."""
        from vllm import SamplingParams

        # As lm-eval's vllm model: the prompt token's own log-probability comes with the top 1.
        params = SamplingParams(temperature=0, max_tokens=1, prompt_logprobs=1, detokenize=False)
        window = self.config.max_model_len or self.llm.llm_engine.model_config.max_model_len

        def run(sequences: list[list[int]]) -> list[Any]:
            return self.llm.generate([{"prompt_token_ids": ids} for ids in sequences], params, use_tqdm=False)

        for start in range(0, len(requests), self.config.chunk_prompts):
            chunk = requests[start: start + self.config.chunk_prompts]
            results = score_from_prompt_logprobs(chunk, lambda texts: self.tokenizer(texts)["input_ids"], run,
                                                 window=window, truncation=self.config.truncation)
            yield list(range(start, start + len(chunk))), results

    def close(self) -> None:
        """Nothing to release: vLLM frees the engine with the backend object."""


def prompt_token_logprobs(prompt_token_ids: Sequence[int], prompt_logprobs: Sequence[dict | None] | None,
                          where: str) -> list[float | None]:
    """vLLM's ``RequestOutput.prompt_logprobs`` as one log-probability per prompt token (``None`` first).

    vLLM's shape: ``None`` for the first token, then per position a dict
    token id -> ``Logprob(logprob, rank, decoded_token)`` that always holds the
    prompt's own token besides the top ones.
    """
    if prompt_logprobs is None:
        raise ModelError(f"{where}: vLLM returned no prompt_logprobs; it must be asked with SamplingParams(prompt_logprobs=1)")
    if len(prompt_logprobs) != len(prompt_token_ids):
        raise ModelError(f"{where}: vLLM returned {len(prompt_logprobs)} prompt_logprobs for {len(prompt_token_ids)} tokens")
    values: list[float | None] = []
    for position, (token, entry) in enumerate(zip(prompt_token_ids, prompt_logprobs)):
        if entry is None:
            values.append(None)
        elif token not in entry:
            raise ModelError(f"{where}: prompt_logprobs at position {position} lacks the prompt's token {token}")
        else:
            values.append(float(entry[token].logprob))
    return values


def score_from_prompt_logprobs(requests: list[MultipleChoiceRequest], encode: Callable[[list[str]], list[list[int]]],
                               run: Callable[[list[list[int]]], list[Any]], *, window: int,
                               truncation: str) -> list[MultipleChoiceResult]:
    """Each request's continuation log-likelihoods from ``run`` (token sequences in, vLLM ``RequestOutput``s out)."""
    items = prepare(requests, encode, single_token_fast_path=False, max_length=window - 1, truncation=truncation)
    jobs = [(i, seq, n) for i, item in enumerate(items) for seq, n in scored_sequences(item, window)]
    outputs = run([seq for _, seq, _ in jobs])
    lls: list[list[float]] = [[] for _ in items]
    for (i, seq, scored), out in zip(jobs, outputs, strict=True):
        where = f"item {requests[i].key} option {len(lls[i])}"
        lls[i].append(continuation_loglikelihood(prompt_token_logprobs(seq, out.prompt_logprobs, where), scored, where))
    return [echo_result(item, values) for item, values in zip(items, lls)]
