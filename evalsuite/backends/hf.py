"""The ``hf`` backend: a transformers causal LM from a local directory or a Hub id.

This module loads the model and samples text; multiple-choice log-likelihoods
(lm-evaluation-harness's numbers, computed with less work) are
:mod:`evalsuite.backends.mc_scoring`'s.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint, resolve_checkpoint, sample_seed, weight_files, weights_fingerprint
from evalsuite.backends.mc_scoring import MultipleChoiceScorer
from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, MultipleChoiceResult


class HFConfig(StrictModel):
    model: str = Field(description="Local checkpoint directory or Hugging Face Hub id.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: float32 on CPU (exact), the checkpoint's dtype on GPU."
    )
    device: str = Field("auto", description="auto: cuda when available, else cpu.")
    trust_remote_code: bool = Field(False, description="Run code shipped with the checkpoint. Only when you trust it.")
    batch_size: int = Field(
        64, ge=1, description="Most sequences in one forward pass; max_batch_tokens usually binds first."
    )
    max_batch_tokens: int = Field(
        1024, ge=64, description="Most new tokens (rows x longest row, padding included) in one forward pass."
    )
    max_batch_context: int = Field(
        65536, ge=256, description="Most tokens attended to (rows x (cached prefix + longest row)) in one pass; bounds memory."
    )
    max_length: int | None = Field(None, ge=8, description="Context window; default from the model config.")
    truncation: Literal["error", "left"] = Field(
        "error", description="A prompt longer than the context: an error, or drop tokens from the left (reported per item)."
    )
    add_bos_token: bool | None = Field(None, description="Force BOS on/off; default: the tokenizer's own behaviour (as lm-eval).")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default: torch's choice.")
    prefix_sharing: bool = Field(True, description="Reuse the shared prompt prefix's key/value cache.")
    single_token_fast_path: bool = Field(True, description="Score single-token continuations with one pass per question.")
    final_layer_at_scored_position: bool = Field(
        True,
        description="Llama-family models: run the last layer's query, MLP and vocabulary projection only at the scored "
        "position (checked against the full forward on the first batch).",
    )
    autocast: Literal["off", "bfloat16", "float16"] = Field(
        "off",
        description="Opt-in reduced-precision compute (bf16 on CPUs with AMX, bf16/fp16 on GPUs): faster, not exact. "
        "A seeded sample of items is also computed exactly and the agreement is reported in results.json.",
    )
    agreement_sample: int = Field(64, ge=0, description="Items recomputed exactly to measure agreement when autocast is on.")
    generation_batch_prompts: int = Field(
        1, ge=1, description="Prompts per generation batch (left-padded). 1 keeps each prompt's samples independent of batching."
    )


class HFBackend:
    """A local or Hub checkpoint loaded with transformers: log-likelihoods and sampling."""

    name = "hf"
    Config = HFConfig

    def __init__(self, config: HFConfig):
        self.config = config
        folder, revision = resolve_checkpoint(config.model, config.revision)
        weight_files(folder)  # no safetensors: say so before loading anything
        # Hash the weights on another core while torch and transformers import
        # (seconds of single-threaded Python); hashlib releases the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:
            hashing = pool.submit(weights_fingerprint, folder)
            self._load(folder)
            weights_sha = hashing.result()
        reduced = config.autocast != "off"
        self._finish(ModelFingerprint(
            model=config.model,
            revision=revision,
            weights_sha256=weights_sha,
            dtype=str(self.dtype).removeprefix("torch.") + (f"+autocast-{config.autocast}" if reduced else ""),
            device=self._device_name,
        ))

    @classmethod
    def from_live(cls, model, tokenizer, config: HFConfig, fingerprint: ModelFingerprint) -> "HFBackend":
        """A backend over a model already in memory (one being trained): nothing is loaded, and the model's mode,
        device and dtype are left as they are. ``fingerprint`` must identify the live weights (the caller hashes
        them, or names the run and step), since stored results are keyed by it."""
        if config.autocast != "off":
            raise ConfigError("a live model is scored exactly: autocast must be 'off'")
        backend = cls.__new__(cls)
        backend.config, backend.model, backend.tokenizer = config, model, tokenizer
        first = next(model.parameters())
        backend.device, backend._device_name, backend.dtype = first.device, first.device.type, first.dtype
        backend.max_length = config.max_length or backend._model_max_length()
        backend._finish(fingerprint)
        return backend

    def _finish(self, fingerprint: ModelFingerprint) -> None:
        reduced = self.config.autocast != "off"
        self.fingerprint = fingerprint
        self.capabilities = Capabilities(
            loglikelihoods=True, generate=True, prompt_logprobs=True, exact_recompute=True, reduced_precision=reduced,
            agreement_sample=self.config.agreement_sample if reduced else 0,
        )
        self.scorer = MultipleChoiceScorer(self.model, self.tokenizer, self.config, self.device, self.max_length, self._encode)

    def _load(self, folder: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=config.trust_remote_code)
            dtype = self._choose_dtype(folder, device)
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype, use_safetensors=True, trust_remote_code=config.trust_remote_code
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"could not load {config.model}: {exc}") from None
        self.model.to(device).eval()
        self.device = torch.device(device)
        self._device_name = device
        self.dtype = dtype
        self.max_length = config.max_length or self._model_max_length()

    def _choose_dtype(self, folder: Path, device: str):
        import torch

        if self.config.dtype != "auto":
            return getattr(torch, self.config.dtype)
        if device == "cpu":
            return torch.float32
        from transformers import AutoConfig

        config_dtype = getattr(AutoConfig.from_pretrained(folder, trust_remote_code=self.config.trust_remote_code), "dtype", None)
        return config_dtype if isinstance(config_dtype, torch.dtype) else torch.float32

    def _model_max_length(self) -> int:
        # The same chain lm-eval uses, so both see the same window.
        cfg = self.model.config
        for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
            value = getattr(cfg, attr, None) or getattr(getattr(cfg, "text_config", None), attr, None)
            if value:
                return int(value)
        tokenizer_max = getattr(self.tokenizer, "model_max_length", None)
        if tokenizer_max and tokenizer_max < 1_000_000_000:
            return int(tokenizer_max)
        return 2048

    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids as lm-eval's ``tok_encode``: the tokenizer's own special tokens, except that a text
        already starting with the prefix token (BOS, else EOS; e.g. a rendered chat template) gets none."""
        if self.config.add_bos_token is not None:
            return self.tokenizer(texts, add_special_tokens=self.config.add_bos_token)["input_ids"]
        prefix_id = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        prefix = self.tokenizer.decode(prefix_id) if prefix_id is not None else ""
        marked = [bool(prefix) and text.startswith(prefix) for text in texts]
        if not any(marked):
            return self.tokenizer(texts)["input_ids"]
        plain = iter(self.tokenizer([t for t, m in zip(texts, marked) if not m])["input_ids"] if not all(marked) else [])
        bare = iter(self.tokenizer([t for t, m in zip(texts, marked) if m], add_special_tokens=False)["input_ids"])
        return [next(bare) if m else next(plain) for m in marked]

    def close(self) -> None:
        """Nothing to release: the weights are freed with the backend object."""

    # -- multiple choice ----------------------------------------------------------

    def loglikelihoods(self, requests: list[MultipleChoiceRequest]) -> Iterator[tuple[list[int], list[MultipleChoiceResult]]]:
        """Score requests of one group (same ``prefix``) in the configured precision; yield (indices, results) batch by batch."""
        yield from self.scorer.score(requests, exact=self.config.autocast == "off")

    def loglikelihoods_exact(self, requests: list[MultipleChoiceRequest]) -> list[MultipleChoiceResult]:
        """Score one group's requests without autocast (to measure a reduced-precision run's agreement)."""
        results: list[MultipleChoiceResult | None] = [None] * len(requests)
        for indices, batch in self.scorer.score(requests, exact=True):
            for i, result in zip(indices, batch):
                results[i] = result
        return results

    def prompt_logprobs(self, token_ids: list[int], top: int = 0) -> tuple[list[float | None], list[list[tuple[int, float]] | None]]:
        """Per-token log-probabilities of a prompt (``None`` first) and the ``top`` likeliest tokens at each position."""
        return self.scorer.prompt_logprobs(token_ids, top)

    # -- generation -------------------------------------------------------------

    def generate(self, requests: list[GenerationRequest]) -> Iterator[tuple[list[int], list[GenerationResult]]]:
        """Sample each request's ``n`` responses; yield (indices, results) batch by batch.

        By default a batch is one prompt's ``n`` samples, seeded from (seed, prompt
        key), so samples do not depend on what else is in the run or on resumption.
        ``generation_batch_prompts > 1`` batches several prompts (left padding,
        each sequence stopping at its own end-of-sequence): faster, but then
        samples depend on the batch composition, which the results record says.
        """
        per_batch = self.config.generation_batch_prompts
        order = sorted(range(len(requests)), key=lambda i: len(self.prompt_ids(requests[i]))) if per_batch > 1 else list(range(len(requests)))
        for start in range(0, len(order), per_batch):
            indices = order[start: start + per_batch]
            yield indices, self._generate_batch([requests[i] for i in indices])

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        if request.messages is not None:
            if not getattr(self.tokenizer, "chat_template", None):
                raise ModelError(
                    f"{self.config.model} has no chat template, so chat prompts cannot be formatted; "
                    "use a chat checkpoint, or -T chat_template=false to send the raw prompt text"
                )
            text = self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
            return self._encode([text])[0]
        return self._encode([request.prompt])[0]

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        import torch
        from transformers import GenerationConfig

        s = requests[0].sampling
        if any(r.sampling != s for r in requests):
            raise ConfigError("one generation batch must share its sampling settings")
        prompts = [self.prompt_ids(r) for r in requests]
        for request, ids in zip(requests, prompts):
            if len(ids) + s.max_new_tokens > self.max_length:
                raise ModelError(
                    f"prompt {request.key}: {len(ids)} prompt tokens + max_new_tokens {s.max_new_tokens} exceed the "
                    f"model's context of {self.max_length}; lower max_new_tokens or shorten the prompt"
                )
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        sample = s.temperature > 0
        # An explicit config, so nothing is inherited from the checkpoint's generation_config.json.
        config = GenerationConfig(
            max_new_tokens=s.max_new_tokens,
            do_sample=sample,
            temperature=s.temperature if sample else None,
            top_p=s.top_p if sample else None,
            top_k=s.top_k if sample else None,
            repetition_penalty=s.repetition_penalty,
            pad_token_id=pad,
            eos_token_id=eos,
        )
        torch.manual_seed(sample_seed(s.seed, requests[0].key))
        width = max(len(ids) for ids in prompts)
        rows = [ids for ids in prompts for _ in range(s.n)]
        # Left padding: every row's last prompt token sits at the same position, where generation starts.
        inputs = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], device=self.device)
        with torch.inference_mode():
            output = self.model.generate(input_ids=inputs, attention_mask=mask, generation_config=config)
        new = output[:, width:].tolist()
        results = []
        for k, ids in enumerate(prompts):
            responses, lengths, reasons = [], [], []
            for row in new[k * s.n: (k + 1) * s.n]:
                stop = row.index(eos) if eos is not None and eos in row else None
                tokens = row if stop is None else row[:stop]
                responses.append(self.tokenizer.decode(tokens, skip_special_tokens=True))
                lengths.append(len(tokens))
                reasons.append("length" if stop is None else "stop")
            results.append(GenerationResult(responses=responses, new_tokens=lengths, finish_reasons=reasons, prompt_tokens=len(ids)))
        return results
