"""The interface between tasks and the runner.

A task is a small class with a ``name``, a ``version`` (bumped whenever its
prompts change) and typed ``Params``. It turns its data into requests, and turns
the per-item results into scores. The runner sends requests to a backend and
stores what comes back; it knows nothing about any particular benchmark.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel

from evalsuite.config import StrictModel, validate


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


class MultipleChoiceResult(BaseModel):
    loglikelihoods: list[float]
    # Which computation produced the numbers: "single-token" (one forward pass,
    # logits at the scored position only) or "general" (lm-eval's path).
    path: str
    prompt_tokens: int
    truncated_tokens: int = 0


class Task(ABC):
    """Base class of every task. Subclasses set ``name``, ``version`` and ``Params``."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[StrictModel]]

    def __init__(self, params: dict[str, Any] | None = None):
        self.params_passed = dict(params or {})
        self.params = validate(self.Params, self.params_passed, f"parameters for task {self.name!r}")

    def resolved_params(self) -> dict[str, Any]:
        """Parameters with defaults filled in and data-dependent values (e.g. the subject list) resolved."""
        return self.params.model_dump(mode="json")

    @abstractmethod
    def requests(self) -> list[MultipleChoiceRequest]:
        """Every request of this run, in a stable order."""

    @abstractmethod
    def score(self, requests: list[MultipleChoiceRequest], results: list[MultipleChoiceResult]) -> tuple[dict, list[dict]]:
        """Return (scores, per-item sample records) for results aligned with ``requests``."""

    def run_metadata(self) -> dict[str, Any]:
        """Task-specific facts for the results record (data source, few-shot selection, ...)."""
        return {}
