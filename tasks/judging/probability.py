"""Probability-weighted judge scores (G-Eval): the expectation of the score under the judge's probabilities.

G-Eval (Liu et al., 2023) scores ``sum_s s * p(s)`` over the scale's tokens
instead of reading one sampled number. Here the probabilities come from
log-likelihood requests through the one runner (capability ``loglikelihoods``:
the ``hf`` backend, ``evalsuite serve``, and ``openai`` endpoints that echo
prompt log-probabilities on /completions given the served model's tokenizer):
the context is the judge prompt, rendered as the judge sees it, followed by the
start of its answer up to where the score is written (``[[task_completion:`` for
a rubric dimension, ``Rating: [[`` for MT-Bench); the continuations are each
scale point with the closing ``]]``, so no option is a prefix of another ("1]]"
vs "10]]") and the events are disjoint. The judge writes no explanation first:
the score is the judge's immediate distribution over the scale.

``score = sum_s s * p(s) / sum_s p(s)`` (renormalised over the scale) and
``mass = sum_s p(s)``, the probability that fell on the scale at all; a small
mass says the judge did not expect to write a score there. Both are stored
beside the parsed verdict, which is never replaced.

OpenAI chat endpoints that give only ``top_logprobs`` of generated tokens are not
used: their top-20 list cuts the scale's tail at an unknown point (the mass is
not measurable) and a multi-token score ("10") needs a second, conditional
request that chat endpoints cannot make.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError
from evalsuite.task import MultipleChoiceRequest, MultipleChoiceResult, Task

SCORE_CLOSE = "]]"
SCORING_NOTE = ("probability-weighted (G-Eval): sum over the scale of score x p(score), renormalised over the scale; "
                "p from the judge's log-likelihood of each '<score>]]' after the judge prompt and its answer's start")


class ProbabilityScore(BaseModel):
    """One expectation over a scale: the score, the mass on the scale, each point's renormalised probability."""

    score: float
    mass: float
    probabilities: list[float]


def expected_score(loglikelihoods: Sequence[float], values: Sequence[float]) -> ProbabilityScore:
    """``sum v p(v) / sum p(v)`` with ``p = exp(loglikelihood)``, and ``mass = sum p(v)``.

    Computed from the log-likelihoods with the largest subtracted, so the score
    is defined however little mass the scale holds.
    """
    if len(loglikelihoods) != len(values) or not values:
        raise ValueError(f"{len(loglikelihoods)} log-likelihoods for {len(values)} scale points")
    top = max(loglikelihoods)
    weights = [math.exp(ll - top) for ll in loglikelihoods]
    total = sum(weights)
    probabilities = [w / total for w in weights]
    return ProbabilityScore(score=sum(v * p for v, p in zip(values, probabilities)),
                            mass=math.exp(top) * total, probabilities=probabilities)


def scale_continuations(low: int, high: int) -> tuple[list[str], list[float]]:
    """The continuations ``"<s>]]"`` for every integer point of [low, high], and the points."""
    points = list(range(int(low), int(high) + 1))
    return [f"{s}{SCORE_CLOSE}" for s in points], [float(s) for s in points]


class PromptRenderer:
    """The judge's messages as one text ending where the judge's answer begins.

    With ``tokenizer`` (the judge's tokenizer folder or Hub id) and a chat
    template in it, the template renders the turns with the generation prompt;
    otherwise the messages are joined as plain text (``format`` says which).
    """

    def __init__(self, tokenizer: str | None):
        self.renderer = None
        self.format = "plain"
        if tokenizer:
            from evalsuite.tasks.mc_variants import ChatRenderer

            try:
                self.renderer = ChatRenderer(tokenizer)
            except ConfigError as exc:
                if "no chat template" not in str(exc):
                    raise
            else:
                self.format = f"chat_template:{self.renderer.template_sha256}"

    def render(self, messages: list[dict[str, str]], answer_start: str) -> str:
        if self.renderer is not None:
            return self.renderer.render(messages) + answer_start
        return "".join(f"{m['content']}\n\n" for m in messages) + answer_start


# Generation settings of the judging task that do not change probability scores (left out of the run key).
GENERATION_ONLY = ("judge_temperature", "judge_max_tokens", "judge_seed")


def with_tokenizer(params: type[BaseModel]) -> type[BaseModel]:
    """``params`` plus ``judge_tokenizer``: the parameters of the probability-scoring twin of a judging task."""
    from pydantic import Field, create_model

    tokenizer = (str | None, Field(None, description="The judge's tokenizer (folder or Hub id): its chat template "
                                   "renders the scored prompt; none, or one without a template: plain text."))
    return create_model(f"{params.__name__}WithTokenizer", __base__=params, judge_tokenizer=tokenizer)


class ProbabilityJudgeTask(Task):
    """The probability-scoring twin of a judging task: its judge prompts, scored as log-likelihood requests.

    ``source_cls`` is the judging task whose prompts are scored; it provides
    ``score_openings()`` (key suffix, the judge answer's start up to the score),
    ``scale`` (low, high) and ``probability_aggregate(scored)``; a twin whose
    options are not a numeric scale (pairwise verdicts) overrides :meth:`options`
    and ``scoring_note``. Each of the source's requests becomes one request per opening, keyed
    ``<source key>#<suffix>`` (the bare key for an empty suffix), grouped by the
    source key so the prompt is a shared prefix.
    """

    source_cls: ClassVar[type]
    output_type: ClassVar[str] = "multiple_choice"
    result_type: ClassVar[type] = MultipleChoiceResult
    scoring_note: ClassVar[str] = SCORING_NOTE

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        self.source = self.source_cls({k: v for k, v in self.params_passed.items() if k != "judge_tokenizer"}, self.data)
        self.renderer = PromptRenderer(self.params.judge_tokenizer)
        self.continuations, self.values = self.options()

    def options(self) -> tuple[list[str], list[float]]:
        """The continuations scored after each opening, and the value of each (the scale's points by default)."""
        return scale_continuations(*self.source.scale)

    def resolved_params(self) -> dict[str, Any]:
        out = {k: v for k, v in self.source.resolved_params().items() if k not in GENERATION_ONLY}
        return {**out, "judge_tokenizer": self.params.judge_tokenizer, "prompt_format": self.renderer.format}

    def requests(self) -> list[MultipleChoiceRequest]:
        requests = []
        for source in self.source.requests():
            for suffix, opening in self.source.score_openings():
                prompt = self.renderer.render(source.messages, "")
                requests.append(MultipleChoiceRequest(key=f"{source.key}#{suffix}" if suffix else source.key,
                                                      group=source.key, prefix=prompt, text=opening,
                                                      continuations=self.continuations))
        return requests

    def aggregate(self, requests: list[MultipleChoiceRequest], results: list[MultipleChoiceResult]) -> tuple[Any, list[dict]]:
        scored = {request.key: expected_score(result.loglikelihoods, self.values) for request, result in zip(requests, results)}
        return self.source.probability_aggregate(scored)

    def run_metadata(self) -> dict[str, Any]:
        return {**self.source.run_metadata(), "prompt_format": self.renderer.format, "scoring": self.scoring_note,
                "scale": self.values}


def split_key(key: str) -> tuple[str, str]:
    """A probability request key back into (source key, suffix)."""
    source, _, suffix = key.partition("#")
    return source, suffix
