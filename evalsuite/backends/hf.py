"""The ``hf`` backend: a transformers causal LM from a local directory or a Hub id.

Log-likelihoods equal lm-evaluation-harness's (same tokenization rule, same
sums), computed with less work:

* When every continuation is one token that extends the context's tokens (the
  usual ``" A"`` .. ``" D"`` case, checked item by item, not assumed), one forward
  pass scores all options, and the vocabulary projection and log-softmax are
  computed only at the scored position, not at every position.
* The prompt prefix shared by all questions of a group (description and few-shot
  exemplars) is run once; its key/value cache is reused by every question whose
  tokens start with the prefix's tokens.
* Batches are sorted by length, so padding is small, and right-padded, so no
  attention mask is needed: causal attention never looks at the padding.

Anything else (a tokenizer that merges the letter into the prompt, multi-token
continuations) takes lm-eval's general path, and is reported as such.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field

from evalsuite.backends import final_layer
from evalsuite.backends.fused_llama import FusedLlama
from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, ModelError
from evalsuite.provenance import sha256_file
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, MultipleChoiceResult

log = logging.getLogger(__name__)


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


class ModelFingerprint(StrictModel):
    """What identifies the numbers a model produces: stored results are keyed by it."""

    model: str
    revision: str | None
    weights_sha256: str
    backend: str = "hf"
    dtype: str
    device: str

    def store_key(self) -> dict:
        # The device is left out on purpose: the same weights and dtype give the same
        # numbers (to float tolerance) on any device, so a rerun elsewhere can resume.
        return {"model_weights": self.weights_sha256, "backend": self.backend, "dtype": self.dtype}


@dataclass
class _Prepared:
    index: int
    context: list[int]
    # Fast path: one token id per option; general path: the continuation tokens per option.
    option_tokens: list[int] | None
    continuations: list[list[int]] | None
    uses_prefix: bool = False
    truncated: int = 0
    lls: list[float] = field(default_factory=list)


def _timed_fingerprint(folder: Path) -> tuple[str, float]:
    started = time.perf_counter()
    return weights_fingerprint(folder), time.perf_counter() - started


def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's safetensors files; an error when there are none."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelError(
            f"{folder} has no .safetensors weights; evalsuite loads weights only as safetensors "
            "(convert a .bin checkpoint with `transformers` save_pretrained(safe_serialization=True))"
        )
    return files


def weights_fingerprint(folder: Path) -> str:
    """sha256 over the names and contents of the checkpoint's weight files."""
    digest = hashlib.sha256()
    for path in weight_files(folder):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def _resolve_checkpoint(model: str, revision: str | None) -> tuple[Path, str | None]:
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"--model {model}: expected a checkpoint directory, got a file")
        return path, revision
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelError(f"--model {model}: no such directory (and it does not look like a Hub id such as org/name)")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            model,
            revision=revision,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.py", "*.tiktoken", "*.jinja"],
        )
    except Exception as exc:  # the hub client raises many types; all mean "could not get it"
        raise ModelError(
            f"--model {model}: not a local directory, and the Hub download failed ({type(exc).__name__}: {exc}). "
            "Pass a local checkpoint directory, or check the id and your network/HF_TOKEN."
        ) from None
    folder = Path(folder)
    return folder, folder.name  # a snapshot folder is named by its commit hash


class HFBackend:
    name = "hf"

    def __init__(self, config: HFConfig):
        self.config = config
        folder, revision = _resolve_checkpoint(config.model, config.revision)
        weight_files(folder)  # no safetensors: say so before loading anything
        # Hash the weights on another core while torch and transformers import
        # (seconds of single-threaded Python); hashlib releases the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:
            hashing = pool.submit(_timed_fingerprint, folder)
            self._load(folder)
            weights_sha, self.hash_seconds = hashing.result()
        self.fingerprint = ModelFingerprint(
            model=config.model,
            revision=revision,
            weights_sha256=weights_sha,
            dtype=str(self.dtype).removeprefix("torch.") + ("" if config.autocast == "off" else f"+autocast-{config.autocast}"),
            device=self._device_name,
        )
        self.stats = {"single_token_items": 0, "general_items": 0, "prefix_shared_items": 0, "truncated_items": 0}
        # None: not yet checked against the full forward; then True or False for the run
        self._final_layer_agrees: bool | None = None
        self._final_layer = config.final_layer_at_scored_position and final_layer.supported(self.model)
        self._fused_applicable = self._final_layer and FusedLlama.applicable(self.model, self.device)
        self._fused: FusedLlama | None = None  # built on first use (it copies the q/k/v and gate/up weights)
        self._fused_prefix: tuple = (None, None)  # (prefix cache, its keys in the fused layout)

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
        # Nearly every transformers causal LM takes logits_to_keep; older remote-code models may not.
        self._supports_logits_to_keep = "logits_to_keep" in inspect.signature(self.model.forward).parameters
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

    # -- tokenization ---------------------------------------------------------

    def _encode(self, texts: list[str]) -> list[list[int]]:
        kwargs = {} if self.config.add_bos_token is None else {"add_special_tokens": self.config.add_bos_token}
        return self.tokenizer(texts, **kwargs)["input_ids"]

    def _prepare(self, requests: list[MultipleChoiceRequest]) -> list[_Prepared]:
        contexts, wholes = [], []
        for request in requests:
            context = request.context
            if not context:
                raise ConfigError(f"request {request.key}: empty context")
            # lm-eval moves trailing whitespace of the context into the continuation.
            stripped = context.rstrip()
            moved = context[len(stripped):]
            contexts.append(stripped)
            wholes.extend(stripped + moved + cont for cont in request.continuations)
        context_ids = self._encode(contexts)
        whole_ids = self._encode(wholes)
        prepared = []
        offset = 0
        for i, request in enumerate(requests):
            ctx = context_ids[i]
            options = whole_ids[offset: offset + len(request.continuations)]
            offset += len(request.continuations)
            # lm-eval's split: continuation = whole[len(context):], whatever the whole's prefix is.
            conts = [whole[len(ctx):] for whole in options]
            single = self.config.single_token_fast_path and all(
                len(whole) == len(ctx) + 1 and whole[: len(ctx)] == ctx for whole in options
            )
            item = _Prepared(
                index=i,
                context=ctx,
                option_tokens=[c[0] for c in conts] if single else None,
                continuations=None if single else conts,
            )
            self._check_length(item, request)
            prepared.append(item)
        return prepared

    def _check_length(self, item: _Prepared, request: MultipleChoiceRequest) -> None:
        longest = len(item.context) + (0 if item.option_tokens else max(len(c) for c in item.continuations) - 1)
        if longest <= self.max_length:
            return
        if self.config.truncation == "error":
            raise ModelError(
                f"item {request.key}: prompt is {longest} tokens, longer than the model's context of {self.max_length}. "
                "Use fewer shots (-T shots=N), a model with a longer context, or --truncation left "
                "(drops tokens from the left, as lm-eval does silently; evalsuite records it per item)."
            )
        # Left truncation as lm-eval does it: keep the last max_length+1 tokens of context+continuation.
        if item.option_tokens is not None:
            item.continuations = [[token] for token in item.option_tokens]
            item.option_tokens = None
        item.truncated = longest - self.max_length

    # -- forward passes ---------------------------------------------------------

    def score(self, requests: list[MultipleChoiceRequest]) -> Iterator[tuple[list[int], list[MultipleChoiceResult]]]:
        """Score requests of one group (same ``prefix``); yield (indices, results) batch by batch."""
        yield from self._score(requests, exact=self.config.autocast == "off")

    @property
    def reduced_precision(self) -> bool:
        return self.config.autocast != "off"

    def score_exact(self, requests: list[MultipleChoiceRequest]) -> list[MultipleChoiceResult]:
        """Score one group's requests without autocast (used to measure reduced-precision agreement)."""
        results: list[MultipleChoiceResult | None] = [None] * len(requests)
        for indices, batch in self._score(requests, exact=True):
            for i, result in zip(indices, batch):
                results[i] = result
        return results

    def _score(self, requests: list[MultipleChoiceRequest], exact: bool) -> Iterator[tuple[list[int], list[MultipleChoiceResult]]]:
        prepared = self._prepare(requests)
        fast = [p for p in prepared if p.option_tokens is not None]
        general = [p for p in prepared if p.option_tokens is None]
        prefix_cache, prefix_len = None, 0
        if fast and self.config.prefix_sharing and requests[0].prefix:
            prefix_ids = self._encode([requests[0].prefix])[0]
            prefix_len = self._shared_prefix_length(prefix_ids, fast)
            if prefix_len:
                prefix_cache = self._run_prefix(prefix_ids[:prefix_len], exact)
                if prefix_cache is None:
                    prefix_len = 0
                    for p in fast:
                        p.uses_prefix = False
        shared = [p for p in fast if p.uses_prefix]
        unshared = [p for p in fast if not p.uses_prefix]
        for batch in self._batches(shared, lambda p: len(p.context) - prefix_len, prefix_len):
            self._score_single_token(batch, prefix_cache, prefix_len, exact)
            yield self._emit(batch)
        for batch in self._batches(unshared, lambda p: len(p.context), 0):
            self._score_single_token(batch, None, 0, exact)
            yield self._emit(batch)
        for item in general:
            self._score_general(item, exact)
            yield self._emit([item])

    def _precision(self, exact: bool):
        """Inference mode, under autocast unless ``exact``.

        Precision is set per call, never across a ``yield``: autocast is global
        state and must not leak into the caller between batches.
        """
        import contextlib

        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if not exact and self.config.autocast != "off":
            stack.enter_context(torch.autocast(device_type=self.device.type, dtype=getattr(torch, self.config.autocast)))
        return stack

    def _forward(self, exact: bool, **kwargs):
        """One model call (see ``_precision``)."""
        keep = kwargs.pop("logits_to_keep") if not self._supports_logits_to_keep else None
        with self._precision(exact):
            out = self.model(**kwargs)
        if keep:
            out.logits = out.logits[:, -keep:]
        return out

    @staticmethod
    def _shared_prefix_length(prefix_ids: list[int], items: list[_Prepared], slack: int = 8) -> int:
        """Tokens of the prefix that every sharing item's context starts with; marks those items.

        The prefix string's last tokens may merge differently with the text that
        follows it (``"\\n\\n"`` + ``"A"`` is ``"\\n", "\\nA"`` for some BPEs), so the
        shared part is the common token prefix, checked item by item, never assumed.
        Items whose common prefix ends more than ``slack`` tokens early are not shared.
        """
        if not prefix_ids:
            return 0
        common = []
        for p in items:
            n = 0
            limit = min(len(prefix_ids), len(p.context) - 1)  # at least one token must follow
            while n < limit and p.context[n] == prefix_ids[n]:
                n += 1
            common.append(n)
        floor = len(prefix_ids) - slack
        sharing = [(p, n) for p, n in zip(items, common) if n >= max(floor, 1)]
        if not sharing:
            return 0
        length = min(n for _, n in sharing)
        for p, _ in sharing:
            p.uses_prefix = True
        return length

    def _emit(self, batch: list[_Prepared]) -> tuple[list[int], list[MultipleChoiceResult]]:
        results = []
        for p in batch:
            path = "single-token" if p.option_tokens is not None else "general"
            self.stats["single_token_items" if path == "single-token" else "general_items"] += 1
            self.stats["prefix_shared_items"] += p.uses_prefix
            self.stats["truncated_items"] += bool(p.truncated)
            results.append(
                MultipleChoiceResult(
                    loglikelihoods=p.lls, path=path, prompt_tokens=len(p.context), truncated_tokens=p.truncated
                )
            )
        return [p.index for p in batch], results

    # A forward pass has a fixed cost (Python, dispatch and thread wake-ups for
    # ~25 ops per layer): measured ~10 ms on the 20M benchmark model, the time
    # of ~50 of its tokens, and fewer of a larger model's. Batching trades it
    # against padding.
    BATCH_OVERHEAD_TOKENS = 32

    def _batches(self, items: list[_Prepared], length, cached: int) -> Iterator[list[_Prepared]]:
        """Length-sorted batches chosen to minimise padded tokens plus per-pass overhead.

        Items are sorted by length, so a batch is a run of them and its cost is
        rows x longest + overhead; a dynamic programme over the run boundaries
        finds the cheapest split within the batch-size, token and context
        budgets. Greedy filling left 3.9% of the tokens as padding on 0-shot
        MMLU (8 subjects, 20M model); this leaves 1.9% in 20% more passes.
        """
        items = sorted(items, key=lambda p: -length(p))
        n = len(items)
        lengths = [length(p) for p in items]
        best = [0.0] + [float("inf")] * n
        start = [0] * (n + 1)
        for end in range(1, n + 1):
            for first in range(end - 1, max(end - self.config.batch_size, 0) - 1, -1):
                rows, longest = end - first, lengths[first]
                if rows > 1 and (
                    rows * longest > self.config.max_batch_tokens or rows * (longest + cached) > self.config.max_batch_context
                ):
                    break
                cost = best[first] + rows * longest + self.BATCH_OVERHEAD_TOKENS
                if cost < best[end]:
                    best[end], start[end] = cost, first
        bounds = []
        end = n
        while end > 0:
            bounds.append((start[end], end))
            end = start[end]
        for first, end in reversed(bounds):
            yield items[first:end]

    def _run_prefix(self, prefix_ids: list[int], exact: bool):
        import torch
        from transformers import DynamicCache

        ids = torch.tensor([prefix_ids], device=self.device)
        out = self._forward(exact, input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        # Only the plain growing cache can be shared safely by views; other cache
        # types (sliding windows, recurrent state) fall back to full contexts.
        if not isinstance(cache, DynamicCache) or not all(
            type(layer).__name__ == "DynamicLayer" and getattr(layer, "keys", None) is not None for layer in cache.layers
        ):
            return None
        return cache

    @staticmethod
    def _expand_cache(cache, rows: int):
        expanded = copy.copy(cache)
        expanded.layers = []
        for layer in cache.layers:
            new_layer = copy.copy(layer)
            # Views, not copies: DynamicLayer.update concatenates into new tensors,
            # so the shared prefix tensors are never written.
            new_layer.keys = layer.keys.expand(rows, -1, -1, -1)
            new_layer.values = layer.values.expand(rows, -1, -1, -1)
            expanded.layers.append(new_layer)
        return expanded

    def _score_single_token(self, batch: list[_Prepared], prefix_cache, prefix_len: int, exact: bool) -> None:
        import torch

        suffixes = [p.context[prefix_len:] for p in batch]
        lengths = [len(s) for s in suffixes]
        longest = max(lengths)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(batch), longest), pad, dtype=torch.long)
        for row, suffix in enumerate(suffixes):
            ids[row, : len(suffix)] = torch.tensor(suffix)
        ids = ids.to(self.device)
        last = torch.tensor(lengths) - 1
        logits = None
        if self._final_layer and self._final_layer_agrees is not False and final_layer.fits(self.model, prefix_len + longest):
            logits = self._shortcut_logits(ids, last, prefix_cache, exact)
            if self._final_layer_agrees is None:
                # Checked once per run, on a few rows and without autocast: the
                # shortcut is the same arithmetic as the full forward or it is wrong.
                n = min(len(batch), 4)
                fast = logits[:n] if exact else self._shortcut_logits(ids[:n], last[:n], prefix_cache, True)
                full = self._full_forward_logits(ids[:n], last[:n], prefix_cache, True)
                self._final_layer_agrees = self._same_scores(fast, full, batch[:n])
                if not self._final_layer_agrees:
                    logits = None
        if logits is None:
            logits = self._full_forward_logits(ids, last, prefix_cache, exact)
        logprobs = logits.float().log_softmax(dim=-1)
        options = torch.tensor([p.option_tokens for p in batch], device=logprobs.device)
        chosen = logprobs.gather(1, options).cpu().tolist()
        for p, lls in zip(batch, chosen):
            p.lls = lls

    def _shortcut_logits(self, ids, last, prefix_cache, exact: bool):
        """Logits at each row's last position with the last layer computed only there.

        On a CPU in float32 (no autocast) the fused forward of ``fused_llama``
        does it; otherwise the model's own layers and ``final_layer``.
        """
        if self._fused is None and exact and self._fused_applicable:
            self._fused = FusedLlama(self.model)
        with self._precision(exact):
            if self._fused is not None and exact and self._fused.fits(ids.shape[1] + self._prefix_length(prefix_cache)):
                if prefix_cache is not None and self._fused_prefix[0] is not prefix_cache:
                    self._fused_prefix = (prefix_cache, self._fused.prefix_keys(prefix_cache))
                return self._fused.logits(ids, last, self._fused_prefix[1] if prefix_cache is not None else None)
            cache = self._expand_cache(prefix_cache, len(ids)) if prefix_cache is not None else None
            return final_layer.last_position_logits(self.model, ids, last, cache)

    @staticmethod
    def _prefix_length(prefix_cache) -> int:
        return 0 if prefix_cache is None else prefix_cache.layers[0].keys.shape[2]

    def _full_forward_logits(self, ids, last, prefix_cache, exact: bool):
        """Logits ``[rows, vocab]`` at each row's last position, from the model's own forward."""
        import torch

        keep = int(last.max() - last.min()) + 1
        kwargs = {}
        if prefix_cache is not None:
            kwargs["past_key_values"] = self._expand_cache(prefix_cache, len(ids))
        out = self._forward(exact, input_ids=ids, use_cache=prefix_cache is not None, logits_to_keep=keep, **kwargs)
        # out.logits: [rows, keep, vocab]; position j is sequence position longest - keep + j
        rows = torch.arange(len(ids))
        return out.logits[rows, (last - (ids.shape[1] - keep)).to(out.logits.device)]

    @staticmethod
    def _same_scores(fast, full, batch: list[_Prepared]) -> bool:
        """The final-layer shortcut's option log-likelihoods agree with the full forward's.

        In float32 to 1e-4 (relative to the value's size) with the same choice;
        with 16-bit weights (a GPU's default) two orders of the same arithmetic
        differ by more, so there the bound is 5e-2: a structural difference
        (an architecture variant this code does not know) moves scores by far more.
        """
        import torch

        options = torch.tensor([p.option_tokens for p in batch], device=full.device)
        a = fast.float().log_softmax(dim=-1).gather(1, options)
        b = full.float().log_softmax(dim=-1).gather(1, options)
        half = full.dtype in (torch.float16, torch.bfloat16)
        tolerance = (5e-2 if half else 1e-4) * torch.clamp(b.abs(), min=1.0)
        agree = bool(((a - b).abs() <= tolerance).all() and (half or torch.equal(a.argmax(1), b.argmax(1))))
        if not agree:
            log.warning("final-layer shortcut disagrees with the full forward on this model; using the full forward")
        return agree

    def _score_general(self, item: _Prepared, exact: bool) -> None:
        """lm-eval's path: each option scored on (context + continuation)[-(max_length+1):][:-1]."""
        import torch

        lls = []
        for cont in item.continuations:
            if not cont:  # the tokenizer swallowed the continuation into the context
                lls.append(0.0)
                continue
            sequence = (item.context + cont)[-(self.max_length + 1):]
            inputs = torch.tensor([sequence[:-1]], device=self.device)
            out = self._forward(exact, input_ids=inputs, logits_to_keep=len(cont))
            logprobs = out.logits[0].float().log_softmax(dim=-1)
            targets = torch.tensor(cont, device=logprobs.device)
            lls.append(float(logprobs.gather(1, targets[:, None]).sum()))
        item.lls = lls

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
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._encode([request.prompt])[0]

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        return self._generate_batch([request])[0]

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
        seed = int(hashlib.sha256(f"{s.seed}:{requests[0].key}".encode()).hexdigest()[:8], 16)
        torch.manual_seed(seed)
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


# The names evalsuite.backends.load_backend looks for.
Config = HFConfig
Backend = HFBackend
