"""Continuation log-likelihoods from per-token prompt log-probabilities (no torch here).

lm-eval's general path scores an option on ``(context + continuation)[-window:]``:
the log-likelihood is the sum of the log-probabilities of the sequence's last
``len(continuation)`` tokens, each given the tokens before it. The ``hf``
backend computes those with its own forward (``window`` = context + 1, as the
input is the sequence less its last token); the ``openai`` backend reads them
from an endpoint's echoed prompt (``/v1/completions`` with ``echo`` and
``logprobs``) and the ``vllm`` backend from ``prompt_logprobs``, where the whole
sequence is the prompt (``window`` = context). Tokenization and the prefix rule
are :func:`evalsuite.backends.mc_plan.prepare`'s, shared by all three.
"""

from __future__ import annotations

from typing import Sequence

from evalsuite.backends.mc_plan import PreparedItem
from evalsuite.errors import ModelError
from evalsuite.task import MultipleChoiceResult


def scored_sequences(item: PreparedItem, window: int) -> list[tuple[list[int], int]]:
    """Per option: the token sequence to score (the last ``window`` tokens of context + continuation)
    and how many of its last tokens are the continuation's (0: the tokenizer merged it into the context)."""
    return [((item.context + cont)[-window:], len(cont)) for cont in item.continuations]


def continuation_loglikelihood(token_logprobs: Sequence[float | None], scored: int, where: str) -> float:
    """The sum of the last ``scored`` entries of one sequence's per-token log-probabilities.

    ``token_logprobs[i]`` is log P(token i | tokens before it); the first is
    ``None`` (nothing precedes it). A missing value among the scored ones is a
    :class:`ModelError` naming ``where``.
    """
    if scored == 0:
        return 0.0
    tail = list(token_logprobs[-scored:])
    if len(tail) < scored or any(value is None for value in tail):
        raise ModelError(
            f"{where}: {scored} continuation tokens need log-probabilities, got {len(token_logprobs)} values "
            f"({sum(v is None for v in tail)} of the scored ones missing); the continuation must follow at least "
            "one context token"
        )
    return float(sum(tail))


def echo_result(item: PreparedItem, lls: list[float]) -> MultipleChoiceResult:
    """The result of an item scored option by option on lm-eval's general path."""
    return MultipleChoiceResult(loglikelihoods=lls, path="general", prompt_tokens=len(item.context),
                                truncated_tokens=item.truncated)
