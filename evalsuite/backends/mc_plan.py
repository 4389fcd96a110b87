"""What multiple-choice scoring computes, decided before any forward pass (no torch here).

* :func:`prepare` tokenizes requests exactly as lm-evaluation-harness does and
  decides, item by item, whether the single-token path applies.
* :func:`shared_prefix_length` finds how much of a group's shared prompt prefix
  every item really starts with (tokens, not characters).
* :func:`plan_batches` splits length-sorted items into forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from evalsuite.errors import ConfigError, ModelError
from evalsuite.task import MultipleChoiceRequest

# A forward pass has a fixed cost (Python, dispatch and thread wake-ups for
# ~25 ops per layer): measured ~10 ms on the 20M benchmark model, the time
# of ~50 of its tokens, and fewer of a larger model's. Batching trades it
# against padding.
BATCH_OVERHEAD_TOKENS = 32


@dataclass
class PreparedItem:
    """One request, tokenized; ``lls`` is filled in by the forward passes."""

    index: int
    context: list[int]
    # Single-token path: one token id per option; general path: the continuation tokens per option.
    option_tokens: list[int] | None
    continuations: list[list[int]] | None
    uses_prefix: bool = False
    truncated: int = 0
    lls: list[float] = field(default_factory=list)


def prepare(
    requests: list[MultipleChoiceRequest],
    encode: Callable[[list[str]], list[list[int]]],
    *,
    single_token_fast_path: bool,
    max_length: int,
    truncation: str,
) -> list[PreparedItem]:
    """Tokenize each request's context and continuations with lm-eval's rule.

    An item takes the single-token path when every continuation is one token
    that extends the context's tokens (checked, never assumed). A prompt longer
    than ``max_length`` is an error, or with ``truncation="left"`` is cut from
    the left as lm-eval does and the cut is recorded on the item.
    """
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
    context_ids = encode(contexts)
    whole_ids = encode(wholes)
    prepared = []
    offset = 0
    for i, request in enumerate(requests):
        ctx = context_ids[i]
        options = whole_ids[offset: offset + len(request.continuations)]
        offset += len(request.continuations)
        # lm-eval's split: continuation = whole[len(context):], whatever the whole's prefix is.
        conts = [whole[len(ctx):] for whole in options]
        single = single_token_fast_path and all(len(whole) == len(ctx) + 1 and whole[: len(ctx)] == ctx for whole in options)
        item = PreparedItem(
            index=i,
            context=ctx,
            option_tokens=[c[0] for c in conts] if single else None,
            continuations=None if single else conts,
        )
        _check_length(item, request.key, max_length, truncation)
        prepared.append(item)
    return prepared


def _check_length(item: PreparedItem, key: str, max_length: int, truncation: str) -> None:
    longest = len(item.context) + (0 if item.option_tokens else max(len(c) for c in item.continuations) - 1)
    if longest <= max_length:
        return
    if truncation == "error":
        raise ModelError(
            f"item {key}: prompt is {longest} tokens, longer than the model's context of {max_length}. "
            "Use fewer shots (-T shots=N), a model with a longer context, or --truncation left "
            "(drops tokens from the left, as lm-eval does silently; evalsuite records it per item)."
        )
    # Left truncation as lm-eval does it: keep the last max_length+1 tokens of context+continuation.
    if item.option_tokens is not None:
        item.continuations = [[token] for token in item.option_tokens]
        item.option_tokens = None
    item.truncated = longest - max_length


def shared_prefix_length(prefix_ids: list[int], items: list[PreparedItem], slack: int = 8) -> int:
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


def plan_batches(
    lengths: list[int],
    *,
    batch_size: int,
    max_batch_tokens: int,
    max_batch_context: int,
    cached: int = 0,
    overhead: int = BATCH_OVERHEAD_TOKENS,
) -> list[tuple[int, int]]:
    """Split items of the given lengths (longest first) into ``[start, end)`` batches.

    A batch is a run of the sorted items and costs rows x longest + ``overhead``;
    a dynamic programme over the run boundaries finds the cheapest split with at
    most ``batch_size`` rows, ``max_batch_tokens`` new tokens and
    ``max_batch_context`` attended tokens (``cached`` prefix tokens per row
    included). A single item over the budgets still gets a batch of its own.
    Greedy filling left 3.9% of the tokens as padding on 0-shot MMLU (8
    subjects, 20M model); this leaves 1.9% in 20% more passes.
    """
    if any(a < b for a, b in zip(lengths, lengths[1:])):
        raise ConfigError("plan_batches needs lengths sorted longest first")
    n = len(lengths)
    best = [0.0] + [float("inf")] * n
    start = [0] * (n + 1)
    for end in range(1, n + 1):
        for first in range(end - 1, max(end - batch_size, 0) - 1, -1):
            rows, longest = end - first, lengths[first]
            if rows > 1 and (rows * longest > max_batch_tokens or rows * (longest + cached) > max_batch_context):
                break
            cost = best[first] + rows * longest + overhead
            if cost < best[end]:
                best[end], start[end] = cost, first
    bounds = []
    end = n
    while end > 0:
        bounds.append((start[end], end))
        end = start[end]
    return bounds[::-1]
