"""The built-in GRPO rewards, registered in ``evalsuite.registry.REWARDS`` when this module is imported.

Register another with ``@REWARDS.register("name")``, or from an outside package through the entry-point
group ``evalsuite.rewards``.

A reward function receives the completions of one generation batch as text,
the group index of each completion (completions of the same prompt share a
group) and the reference answers, plus its options from the recipe; it returns
one float (or None for "not applicable") per completion. Group-level diversity
is turned into a per-completion signal (a completion's contribution to its
group), because GRPO normalises rewards within a group and a value shared by
the whole group would carry no signal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from evalsuite.errors import ConfigError
from evalsuite.registry import REWARDS
from evalsuite.trainers import metric_bridge


def _members(groups: Sequence[int]) -> dict[int, list[int]]:
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    return members


@REWARDS.register("diversity_entropy")
def diversity_entropy(completions: list[str], *, groups, answers, tokenizer: str = "auto") -> list[float]:
    """Normalised token entropy of each completion (0 = one token repeated, 1 = all tokens distinct)."""
    return [metric_bridge.normalised_entropy(text, tokenizer) for text in completions]


@REWARDS.register("distinct_n")
def distinct_n_contribution(completions: list[str], *, groups, answers, n: int = 2, tokenizer: str = "auto") -> list[float]:
    """distinct-n of the group minus distinct-n of the group without this completion (its leave-one-out contribution)."""
    rewards = [0.0] * len(completions)
    for members in _members(groups).values():
        texts = [completions[i] for i in members]
        whole = metric_bridge.distinct_n(texts, n, tokenizer)
        for position, index in enumerate(members):
            rest = texts[:position] + texts[position + 1 :]
            rewards[index] = whole - metric_bridge.distinct_n(rest, n, tokenizer) if rest else 0.0
    return rewards


@REWARDS.register("similarity_penalty")
def similarity_penalty(completions: list[str], *, groups, answers, threshold: float = 0.8,
                       embedding: str = "lexical") -> list[float]:
    """-1 for a completion whose cosine similarity to another completion of its group exceeds ``threshold``, else 0.

    ``embedding``: ``lexical`` (token-count vectors, no model) or a sentence-transformers model id/directory.
    """
    if not 0 < threshold <= 1:
        raise ConfigError(f"similarity_penalty.threshold must be in (0, 1], got {threshold}")
    rewards = [0.0] * len(completions)
    for members in _members(groups).values():
        sims = metric_bridge.cosine_matrix([completions[i] for i in members], embedding)
        for a, index in enumerate(members):
            others = [sims[a][b] for b in range(len(members)) if b != a]
            if others and max(others) > threshold:
                rewards[index] = -1.0
    return rewards


@REWARDS.register("length_penalty")
def length_penalty(completions: list[str], *, groups, answers, max_tokens: int = 64, tokenizer: str = "auto") -> list[float]:
    """-(tokens over max_tokens) / max_tokens; 0 for completions within the limit."""
    if max_tokens < 1:
        raise ConfigError(f"length_penalty.max_tokens must be >= 1, got {max_tokens}")
    return [-max(0, metric_bridge.count_tokens(text, tokenizer) - max_tokens) / max_tokens for text in completions]


def _normalise_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .。!！")


@REWARDS.register("exact_answer")
def exact_answer(completions: list[str], *, groups, answers, mode: str = "exact") -> list[float | None]:
    """1.0 when the completion matches the reference answer (``mode``: exact, or contains), 0.0 otherwise; None without a reference."""
    if mode not in ("exact", "contains"):
        raise ConfigError(f"exact_answer.mode must be 'exact' or 'contains', got {mode!r}")
    rewards: list[float | None] = []
    for text, answer in zip(completions, answers):
        if not answer:
            rewards.append(None)
            continue
        got, want = _normalise_answer(text), _normalise_answer(answer)
        rewards.append(float(got == want if mode == "exact" else want in got))
    return rewards


def _completion_text(completion) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(turn.get("content", "") for turn in completion if isinstance(turn, dict))


def _prompt_key(prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\x1f".join(f"{turn['role']}:{turn['content']}" for turn in prompt)


def trl_reward_funcs(weights: dict[str, float], options: dict[str, dict]) -> tuple[list[Callable], list[float]]:
    """TRL-callable wrappers (named after the reward, so TRL logs ``rewards/<name>/mean``) and their weights."""
    unknown = set(options) - set(weights)
    if unknown:
        raise ConfigError(f"reward_options given for rewards not in `rewards`: {sorted(unknown)}")
    if not weights:
        raise ConfigError("grpo needs at least one reward in `rewards`")
    funcs = []
    for name in weights:
        fn = REWARDS.get(name)
        opts = dict(options.get(name, {}))

        def call(prompts, completions, answer=None, _fn=fn, _opts=opts, **_):
            keys = [_prompt_key(p) for p in prompts]
            index_of: dict[str, int] = {}
            groups = [index_of.setdefault(key, len(index_of)) for key in keys]
            answers = list(answer) if answer is not None else [""] * len(completions)
            return _fn([_completion_text(c) for c in completions], groups=groups, answers=answers, **_opts)

        call.__name__ = name
        # Check options now, so a typo fails before any generation.
        try:
            fn(["a b", "a c"], groups=[0, 0], answers=["", ""], **opts)
        except TypeError as exc:
            raise ConfigError(f"reward {name!r}: bad reward_options {opts}: {exc}") from None
        funcs.append(call)
    return funcs, [float(w) for w in weights.values()]
