"""What every judging task shares: generation runs in, one judge prompt per request, verdicts out.

A judging task is an ordinary :class:`evalsuite.task.Task` with output type
``generation``: its requests are chat prompts for a judge (an OpenAI-compatible
backend), and its ``aggregate`` parses the verdicts with the parser beside the
prompt. The prompts hold questions and answers only, never which run wrote
them; the request keys (which do name the runs) stay in the store and records.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, Field, field_validator

from evalsuite.config import StrictModel
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task
from evalsuite.tasks.judging.verdicts import Verdict, summarize


class JudgeParams(StrictModel):
    runs: list[str] = Field(min_length=1, description="Generation run folders (samples.jsonl); comma-separated with -T.")
    seed: int = Field(0, description="Seed of the shuffled judging order and of the bootstrap intervals.")
    n_boot: int = Field(1000, ge=1, description="Bootstrap resamples for confidence intervals.")
    judge_temperature: float = Field(0.0, ge=0.0, description="0: deterministic judging, as published practice.")
    judge_max_tokens: int = Field(512, ge=1, description="Most tokens a judge may write per verdict.")
    judge_seed: int = Field(0, description="Sampling seed sent with each judge request.")

    @field_validator("runs", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # On the command line: -T runs=a/generate,b/generate
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


class JudgeTask(Task):
    """Base of the judging tasks: judge sampling settings, chat requests, verdict counts."""

    Params: ClassVar[type[StrictModel]] = JudgeParams
    output_type: ClassVar[str] = "generation"
    result_type: ClassVar[type] = GenerationResult

    def resolved_params(self) -> dict[str, Any]:
        """Parameters with the run folders made absolute (the store key names the answers judged)."""
        resolved = self.params.model_dump(mode="json")
        resolved["runs"] = [str(Path(run).resolve()) for run in self.params.runs]
        return resolved

    def request(self, key: str, prompt: str, system: str | None = None) -> GenerationRequest:
        """One judge request: the prompt as a user message (after ``system``), sampled once."""
        p = self.params
        sampling = SamplingConfig(n=1, temperature=p.judge_temperature, top_p=1.0, max_new_tokens=p.judge_max_tokens,
                                  seed=p.judge_seed)
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return GenerationRequest(key=key, group=self.name, messages=messages, sampling=sampling)

    def mean_summary(self, values: list[float]) -> dict[str, Any]:
        """Mean of per-item values with a seeded bootstrap interval (none for fewer than two items)."""
        from evalsuite.metrics.bootstrap import mean_ci
        from evalsuite.metrics.resampling import Resampling

        array = np.asarray(values, dtype=float)
        resampling = Resampling(ci=True, n_boot=self.params.n_boot, seed=self.params.seed)
        ci = mean_ci(array, resampling) if len(array) > 1 else None
        return {"mean": float(array.mean()) if len(array) else None, "ci": ci, "n": len(array)}


class Judgments(BaseModel):
    """How many of one judge's verdicts parsed; the unparseable ones are kept raw and excluded."""

    ok: int
    unparseable: int


class MeanSummary(BaseModel):
    mean: float | None
    ci: tuple[float, float] | None
    n: int


def shuffled_order(n: int, seed: int) -> list[int]:
    """Positions 0..n-1 in the order a seeded shuffle gives (recorded as the task's ``seed``)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def status(verdict: Verdict) -> str:
    """``ok`` for a parsed verdict, ``unparseable`` otherwise (stored raw, counted, excluded)."""
    return "ok" if verdict.parsed else "unparseable"


def verdict_counts(verdicts: list[Verdict]) -> Judgments:
    """How many verdicts parsed and how many did not."""
    counts = summarize(verdicts)
    return Judgments(ok=counts.parsed, unparseable=counts.unparseable)
