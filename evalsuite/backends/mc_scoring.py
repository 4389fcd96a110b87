"""Multiple-choice log-likelihoods for the ``hf`` backend: lm-eval's numbers with less work.

Log-likelihoods equal lm-evaluation-harness's (same tokenization rule, same
sums; see :mod:`evalsuite.backends.mc_plan`), computed with less work:

* When every continuation is one token that extends the context's tokens (the
  usual ``" A"`` .. ``" D"`` case, checked item by item, not assumed), one forward
  pass scores all options, and the vocabulary projection and log-softmax are
  computed only at the scored position, not at every position.
* The prompt prefix shared by all questions of a group (description and few-shot
  exemplars) is run once; its key/value cache is reused by every question whose
  tokens start with the prefix's tokens.
* Batches are sorted by length, so padding is small, and right-padded, so no
  attention mask is needed: causal attention never looks at the padding.
* Llama-family models compute their last layer only at the scored position
  (``final_layer``; on a CPU in float32 the fused forward of ``fused_llama``),
  checked against the full forward on the run's first batch.

Anything else (a tokenizer that merges the letter into the prompt, multi-token
continuations) takes lm-eval's general path, and is reported as such.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
from typing import TYPE_CHECKING, Callable, Iterator

from evalsuite.backends import final_layer
from evalsuite.backends.fused_llama import FusedLlama
from evalsuite.backends.mc_plan import PreparedItem, plan_batches, prepare, shared_prefix_length
from evalsuite.backends.token_scoring import scored_sequences
from evalsuite.errors import ModelError
from evalsuite.task import MultipleChoiceRequest, MultipleChoiceResult

if TYPE_CHECKING:
    from evalsuite.backends.hf import HFConfig

log = logging.getLogger(__name__)

Batch = tuple[list[int], list[MultipleChoiceResult]]


def expand_cache(cache, rows: int):
    """A view of a one-row key/value cache as ``rows`` rows (no copy)."""
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


def _prefix_length(prefix_cache) -> int:
    return 0 if prefix_cache is None else prefix_cache.layers[0].keys.shape[2]


class MultipleChoiceScorer:
    """Scores one group's requests at a time with a loaded causal LM.

    ``shortcut`` says whether the last-layer shortcut is in use;
    ``shortcut_agrees`` is ``None`` until the first batch has checked it against
    the full forward, then ``True`` or ``False`` for the rest of the run;
    ``fused`` is the fused CPU forward once it has been built.
    """

    def __init__(self, model, tokenizer, config: "HFConfig", device, max_length: int,
                 encode: Callable[[list[str]], list[list[int]]]):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.device, self.max_length, self.encode = device, max_length, encode
        # Nearly every transformers causal LM takes logits_to_keep; older remote-code models may not.
        self._supports_logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.shortcut = config.final_layer_at_scored_position and final_layer.supported(model)
        self.shortcut_agrees: bool | None = None
        self._fused_applicable = self.shortcut and FusedLlama.applicable(model, device)
        self.fused: FusedLlama | None = None  # built on first use (it copies the q/k/v and gate/up weights)
        self._fused_prefix: tuple = (None, None)  # (prefix cache, its keys in the fused layout)

    def score(self, requests: list[MultipleChoiceRequest], exact: bool) -> Iterator[Batch]:
        """Score requests of one group (same ``prefix``); yield (indices, results) batch by batch.

        ``exact=False`` computes under the configured autocast; ``exact=True`` never does.
        """
        prepared = prepare(
            requests, self.encode, single_token_fast_path=self.config.single_token_fast_path,
            max_length=self.max_length, truncation=self.config.truncation,
        )
        fast = [p for p in prepared if p.option_tokens is not None]
        general = [p for p in prepared if p.option_tokens is None]
        prefix_cache, prefix_len = None, 0
        if fast and self.config.prefix_sharing and requests[0].prefix:
            prefix_ids = self.encode([requests[0].prefix])[0]
            prefix_len = shared_prefix_length(prefix_ids, fast)
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
            yield _emit(batch)
        for batch in self._batches(unshared, lambda p: len(p.context), 0):
            self._score_single_token(batch, None, 0, exact)
            yield _emit(batch)
        for item in general:
            self._score_general(item, exact)
            yield _emit([item])

    def _batches(self, items: list[PreparedItem], length, cached: int) -> Iterator[list[PreparedItem]]:
        """Length-sorted batches chosen by :func:`plan_batches` within the configured budgets."""
        items = sorted(items, key=lambda p: -length(p))
        bounds = plan_batches(
            [length(p) for p in items], batch_size=self.config.batch_size, max_batch_tokens=self.config.max_batch_tokens,
            max_batch_context=self.config.max_batch_context, cached=cached,
        )
        for first, end in bounds:
            yield items[first:end]

    def _precision(self, exact: bool):
        """Inference mode, under autocast unless ``exact``.

        Precision is set per call, never across a ``yield``: autocast is global
        state and must not leak into the caller between batches.
        """
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

    def _score_single_token(self, batch: list[PreparedItem], prefix_cache, prefix_len: int, exact: bool) -> None:
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
        if self.shortcut and self.shortcut_agrees is not False and final_layer.fits(self.model, prefix_len + longest):
            logits = self._shortcut_logits(ids, last, prefix_cache, exact)
            if self.shortcut_agrees is None:
                # Checked once per run, on a few rows and without autocast: the
                # shortcut is the same arithmetic as the full forward or it is wrong.
                n = min(len(batch), 4)
                fast = logits[:n] if exact else self._shortcut_logits(ids[:n], last[:n], prefix_cache, True)
                full = self._full_forward_logits(ids[:n], last[:n], prefix_cache, True)
                self.shortcut_agrees = _same_scores(fast, full, batch[:n])
                if not self.shortcut_agrees:
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
        if self.fused is None and exact and self._fused_applicable:
            self.fused = FusedLlama(self.model)
        with self._precision(exact):
            if self.fused is not None and exact and self.fused.fits(ids.shape[1] + _prefix_length(prefix_cache)):
                if prefix_cache is not None and self._fused_prefix[0] is not prefix_cache:
                    self._fused_prefix = (prefix_cache, self.fused.prefix_keys(prefix_cache))
                return self.fused.logits(ids, last, self._fused_prefix[1] if prefix_cache is not None else None)
            cache = expand_cache(prefix_cache, len(ids)) if prefix_cache is not None else None
            return final_layer.last_position_logits(self.model, ids, last, cache)

    def _full_forward_logits(self, ids, last, prefix_cache, exact: bool):
        """Logits ``[rows, vocab]`` at each row's last position, from the model's own forward."""
        import torch

        keep = int(last.max() - last.min()) + 1
        kwargs = {}
        if prefix_cache is not None:
            kwargs["past_key_values"] = expand_cache(prefix_cache, len(ids))
        out = self._forward(exact, input_ids=ids, use_cache=prefix_cache is not None, logits_to_keep=keep, **kwargs)
        # out.logits: [rows, keep, vocab]; position j is sequence position longest - keep + j
        rows = torch.arange(len(ids))
        return out.logits[rows, (last - (ids.shape[1] - keep)).to(out.logits.device)]

    def _score_general(self, item: PreparedItem, exact: bool) -> None:
        """lm-eval's path: each option scored on (context + continuation)[-(max_length+1):][:-1]."""
        import torch

        lls = []
        for sequence, scored in scored_sequences(item, self.max_length + 1):
            if not scored:  # the tokenizer swallowed the continuation into the context
                lls.append(0.0)
                continue
            inputs = torch.tensor([sequence[:-1]], device=self.device)
            out = self._forward(exact, input_ids=inputs, logits_to_keep=scored)
            logprobs = out.logits[0].float().log_softmax(dim=-1)
            targets = torch.tensor(sequence[-scored:], device=logprobs.device)
            lls.append(float(logprobs.gather(1, targets[:, None]).sum()))
        item.lls = lls

    def prompt_logprobs(self, token_ids: list[int], top: int = 0) -> tuple[list[float | None], list[list[tuple[int, float]] | None]]:
        """Per position of ``token_ids``: log P(token | the tokens before it), ``None`` first, and the ``top``
        most likely tokens there as (token id, log-probability) pairs (what an echoing completions endpoint returns).

        Computed with the model's full forward in the configured precision; the
        prompt must fit the context (:class:`ModelError` otherwise).
        """
        import torch

        if len(token_ids) > self.max_length:
            raise ModelError(f"the prompt is {len(token_ids)} tokens, longer than the model's context of "
                             f"{self.max_length}; send a shorter prompt")
        if len(token_ids) < 2:
            return [None] * len(token_ids), [None] * len(token_ids)
        inputs = torch.tensor([token_ids[:-1]], device=self.device)
        out = self._forward(self.config.autocast == "off", input_ids=inputs, logits_to_keep=len(token_ids) - 1)
        logprobs = out.logits[0].float().log_softmax(dim=-1)
        targets = torch.tensor(token_ids[1:], device=logprobs.device)
        chosen = logprobs.gather(1, targets[:, None])[:, 0].cpu().tolist()
        best: list[list[tuple[int, float]] | None] = [None]
        if top:
            values, indices = logprobs.topk(top, dim=-1)
            best += [list(zip(i, v)) for i, v in zip(indices.cpu().tolist(), values.cpu().tolist())]
        else:
            best += [[] for _ in chosen]
        return [None, *chosen], best


def _same_scores(fast, full, batch: list[PreparedItem]) -> bool:
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


def _emit(batch: list[PreparedItem]) -> Batch:
    results = [
        MultipleChoiceResult(
            loglikelihoods=p.lls,
            path="single-token" if p.option_tokens is not None else "general",
            prompt_tokens=len(p.context),
            truncated_tokens=p.truncated,
        )
        for p in batch
    ]
    return [p.index for p in batch], results
