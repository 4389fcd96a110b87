"""The ``vllm`` backend: fast batched sampling with vLLM on a GPU machine (optional).

vLLM is not a dependency: where it is not installed (any CPU machine) the
backend says so and how to get it. Each prompt's samples carry their own seed
(derived from the run seed and the prompt key, as in the hf backend), so they
do not depend on batching.
"""

from __future__ import annotations

from typing import Iterator, Literal

from pydantic import Field

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint, resolve_checkpoint, sample_seed, weights_fingerprint
from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest


class VLLMConfig(StrictModel):
    model: str = Field(description="Local checkpoint directory or Hugging Face Hub id.")
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = None
    trust_remote_code: bool = Field(False, description="Run code shipped with the checkpoint. Only when you trust it.")
    chunk_prompts: int = Field(256, ge=1, description="Prompts handed to vLLM at once (results are stored after each chunk).")


class VLLMBackend:
    """Batched sampling with vLLM (GPU machines); no log-likelihoods."""

    name = "vllm"
    Config = VLLMConfig
    capabilities = Capabilities(generate=True)

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

    def loglikelihoods(self, requests: list[MultipleChoiceRequest]):
        """Not available: always a :class:`ConfigError` saying which backend to use."""
        raise ConfigError("the vllm backend samples text; score MMLU and C-Eval with the hf backend")

    def close(self) -> None:
        """Nothing to release: vLLM frees the engine with the backend object."""
