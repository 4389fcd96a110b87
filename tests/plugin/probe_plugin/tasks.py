"""Probe task: each word must come back upper-cased with the suffix."""

from __future__ import annotations

from typing import Literal

from evalsuite.config import StrictModel
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task

WORDS = ["alpha", "beta", "gamma"]


class EchoParams(StrictModel):
    suffix: str = "!"


@register_score_kind
class EchoScores(Scores):
    kind: Literal["probe-echo"] = "probe-echo"
    matches: int
    items: int


class EchoTask(Task):
    name = "probe-echo"
    version = "1"
    description = "probe: the backend must answer each word upper-cased with the suffix"
    Params = EchoParams
    output_type = "generation"
    result_type = GenerationResult

    def requests(self):
        sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=8)
        return [GenerationRequest(key=w, group=w, prompt=w, sampling=sampling) for w in WORDS]

    def aggregate(self, requests, results):
        samples = [{"key": r.key, "response": res.responses[0]} for r, res in zip(requests, results)]
        matches = sum(s["response"] == s["key"].upper() + self.params.suffix for s in samples)
        return EchoScores(matches=matches, items=len(samples)), samples
