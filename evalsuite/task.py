"""The interface between tasks and the runner.

A task is a small class with a ``name``, a ``version`` (bumped whenever its
prompts change) and typed ``Params``. It turns its data into requests, and turns
the per-item results into scores. The runner sends requests to a backend and
stores what comes back; it knows nothing about any particular benchmark.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from evalsuite.config import StrictModel, validate
from evalsuite.data import DataRoots


class MultipleChoiceRequest(BaseModel):
    """Score each continuation given ``prefix + text`` (lm-eval's ``multiple_choice``).

    ``prefix`` is the part shared by every question of a group (description and
    few-shot exemplars); backends may compute it once. ``key`` identifies the item
    within its task (e.g. ``anatomy/12``).
    """

    key: str
    group: str
    prefix: str
    text: str
    continuations: list[str]

    @property
    def context(self) -> str:
        return self.prefix + self.text


class ItemResult(BaseModel):
    """Base of every per-item result a backend returns."""

    def tally(self) -> dict[str, int]:
        """Counts this item adds to the run record's ``computation`` (e.g. which path computed it)."""
        return {}


class MultipleChoiceResult(ItemResult):
    loglikelihoods: list[float]
    # Which computation produced the numbers: "single-token" (one forward pass,
    # logits at the scored position only) or "general" (lm-eval's path).
    path: str
    prompt_tokens: int
    truncated_tokens: int = 0

    def tally(self) -> dict[str, int]:
        return {f"{self.path}_items": 1, "truncated_items": int(bool(self.truncated_tokens))}


class SamplingConfig(StrictModel):
    """How responses are sampled; recorded with every generation run. ``temperature=0`` is greedy."""

    n: int = Field(4, ge=1, description="Responses sampled per prompt.")
    temperature: float = Field(0.7, ge=0.0, description="0 means greedy decoding (then n must be 1).")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 disables top-k.")
    repetition_penalty: float = Field(1.0, gt=0.0)
    max_new_tokens: int = Field(128, ge=1)
    seed: int = Field(0, description="Each prompt's samples are seeded from (seed, prompt id), so they do not depend on batching or resumption.")


class GenerationRequest(BaseModel):
    """Sample ``sampling.n`` responses to one prompt (chat ``messages``, or raw ``prompt`` text)."""

    key: str
    group: str
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    sampling: SamplingConfig


class GenerationResult(ItemResult):
    responses: list[str]
    new_tokens: list[int]
    finish_reasons: list[str]  # "stop" (end-of-sequence) or "length" (max_new_tokens reached)
    prompt_tokens: int

    def tally(self) -> dict[str, int]:
        return {"responses": len(self.responses), "stopped_by_length": self.finish_reasons.count("length")}


class Task(ABC):
    """Base class of every task. Subclasses set ``name``, ``version`` and ``Params``."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[StrictModel]]
    # "multiple_choice" requests go to a backend's ``loglikelihoods``, "generation" to its ``generate``.
    output_type: ClassVar[str] = "multiple_choice"
    # The model the backend's results are validated and stored as.
    result_type: ClassVar[type[BaseModel]] = MultipleChoiceResult

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        self.data = data if data is not None else DataRoots.from_env()
        self.params_passed = dict(params or {})
        self.params = validate(self.Params, self.params_passed, f"parameters for task {self.name!r}")

    def resolved_params(self) -> dict[str, Any]:
        """Parameters with defaults filled in and data-dependent values (e.g. the subject list) resolved."""
        return self.params.model_dump(mode="json")

    @abstractmethod
    def requests(self) -> list[MultipleChoiceRequest] | list[GenerationRequest]:
        """Every request of this run, in a stable order."""

    @abstractmethod
    def aggregate(self, requests: list, results: list) -> tuple[dict, list[dict]]:
        """Return (scores, per-item sample records) for results aligned with ``requests``.

        Items that failed are left out of both lists by the runner."""

    def run_metadata(self) -> dict[str, Any]:
        """Task-specific facts for the results record (data source, few-shot selection, ...)."""
        return {}
