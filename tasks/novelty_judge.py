"""NoveltyBench's LLM equivalence judge through any backend that generates.

:func:`judge_equivalence` returns the ``equivalence=`` callable of
:func:`evalsuite.metrics.diversity.novelty.distinct_k` / ``utility_k``. Each batch of
``(prompt, first member, candidate)`` pairs the partition asks about is one
:class:`EquivalenceJudgeTask` run through :func:`evalsuite.runner.evaluate`, so
verdicts are stored per pair (a pair judged once is read back from the store, and
an interrupted partition resumes) and failures are reported like any run's.

The prompt is NoveltyBench v1.0's GPT-4o equivalence check (system message and
``Prompt: / Response A: / Response B:``). NoveltyBench asks for structured output
``{"equivalent": bool}``; a generic backend is asked for that JSON in words. A
verdict that is not exactly one ``"equivalent": true|false`` is unparseable: it
counts as "not equivalent" (NoveltyBench's own fallback, so the partition never
merges on a guess) and is counted in :attr:`EquivalenceJudge.unparseable`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Literal

from pydantic import Field

from evalsuite.config import StrictModel
from evalsuite.errors import DataError
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task
from evalsuite.tasks.judging.verdicts import Verdict, distinct, raw_text, unparseable

SYSTEM = "For a given prompt, determine whether the two responses are semantically equivalent."
ANSWER_FORMAT = 'Answer with JSON only: {"equivalent": true} or {"equivalent": false}.'
_VERDICT = re.compile(r'"?equivalent"?\s*:\s*(true|false)', re.IGNORECASE)


def equivalence_prompt(prompt: str, a: str, b: str) -> str:
    """The user message: NoveltyBench's three parts, then the answer format."""
    return "\n\n".join(["Prompt: " + prompt, "Response A: " + a, "Response B: " + b, ANSWER_FORMAT])


def parse_equivalence(text: str | None) -> Verdict:
    """``True``/``False`` from ``"equivalent": true|false``; unparseable when absent or both appear."""
    raw = raw_text(text)
    found = distinct(m.lower() for m in _VERDICT.findall(raw))
    if len(found) != 1:
        return unparseable(raw, "no equivalence verdict" if not found else "both verdicts")
    return Verdict(raw=raw, value=found[0] == "true")


class EquivalenceScores(Scores):
    """Each pair's verdict (None: unparseable) by request key, and their counts."""

    kind: Literal["judge_equivalence"] = "judge_equivalence"
    verdicts: dict[str, bool | None]
    equivalent: int
    different: int
    unparseable: int


register_score_kind(EquivalenceScores)


class EquivalenceParams(StrictModel):
    judge_temperature: float = Field(0.0, ge=0.0, description="0: deterministic judging, as NoveltyBench.")
    judge_max_tokens: int = Field(64, ge=1, description="Most tokens a verdict may take (NoveltyBench: 64).")
    judge_seed: int = Field(0, description="Sampling seed sent with each judge request.")


def pair_key(prompt: str, a: str, b: str) -> str:
    return hashlib.sha256("\x00".join((prompt, a, b)).encode("utf-8")).hexdigest()[:20]


class EquivalenceJudgeTask(Task):
    """One batch of pairs to judge; built in Python by :func:`judge_equivalence`, not from the command line."""

    name: ClassVar[str] = "novelty_equivalence"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "NoveltyBench's pairwise equivalence judge"
    Params: ClassVar[type[StrictModel]] = EquivalenceParams
    output_type: ClassVar[str] = "generation"
    result_type: ClassVar[type] = GenerationResult

    def __init__(self, pairs: list[tuple[str, str, str]], params: dict[str, Any] | None = None):
        super().__init__(params)
        self.pairs = list(dict.fromkeys(pairs))

    def requests(self) -> list[GenerationRequest]:
        p = self.params
        sampling = SamplingConfig(n=1, temperature=p.judge_temperature, top_p=1.0, max_new_tokens=p.judge_max_tokens,
                                  seed=p.judge_seed)
        return [GenerationRequest(key=pair_key(*pair), group=self.name, sampling=sampling,
                                  messages=[{"role": "system", "content": SYSTEM},
                                            {"role": "user", "content": equivalence_prompt(*pair)}])
                for pair in self.pairs]

    def aggregate(self, requests, results) -> tuple[EquivalenceScores, list[dict]]:
        verdicts = {r.key: parse_equivalence(res.responses[0] if res.responses else None)
                    for r, res in zip(requests, results)}
        values = {k: v.value if v.parsed else None for k, v in verdicts.items()}
        scores = EquivalenceScores(verdicts=values, equivalent=sum(v is True for v in values.values()),
                                   different=sum(v is False for v in values.values()),
                                   unparseable=sum(v is None for v in values.values()))
        samples = [{"key": k, "verdict": values[k], "raw": v.raw, "error": v.error} for k, v in verdicts.items()]
        return scores, samples


class EquivalenceJudge:
    """The ``equivalence=`` callable: a batch of (prompt, a, b) in, one verdict per pair out."""

    def __init__(self, backend, store, params: dict[str, Any] | None = None):
        self.backend, self.store, self.params = backend, store, params
        self.__name__ = f"judge:{backend.fingerprint.model}"
        self.unparseable = 0
        self.judged = 0

    def __call__(self, pairs: list[tuple[str, str, str]]) -> list[bool]:
        from evalsuite.runner import evaluate

        task = EquivalenceJudgeTask(pairs, self.params)
        record = evaluate(task, self.backend, self.store)
        if record.failed:
            keys = ", ".join(f.key for f in record.failed[:3])
            raise DataError(f"the equivalence judge failed on {len(record.failed)} of {len(task.pairs)} pairs "
                            f"(e.g. {keys}); run again to retry them (judged pairs are kept in the store)")
        verdicts = record.scores.verdicts
        self.judged += len(task.pairs)
        self.unparseable += record.scores.unparseable
        return [verdicts[pair_key(*pair)] is True for pair in pairs]


def judge_equivalence(backend, store, params: dict[str, Any] | None = None) -> EquivalenceJudge:
    """An LLM equivalence judge for ``distinct_k(..., equivalence=judge_equivalence(backend, store), prompts=...)``."""
    return EquivalenceJudge(backend, store, params)
