"""The backend interface: what the runner, the server and the jobs may ask of a model.

A backend is registered by name in :data:`evalsuite.registry.BACKENDS` as a
class with a ``Config`` (a :class:`~evalsuite.config.StrictModel` validating its
``-B key=value`` options) and a constructor taking that config. It declares
what it can do in ``capabilities``; the runner asks those, never ``getattr``.

A backend implements the compute methods its capabilities declare:
``loglikelihoods`` (multiple-choice requests), ``generate`` (generation
requests) or ``execute`` (programs, the code-execution sandbox). Each takes one
group's requests and yields ``(indices, results)`` batch by batch, where ``indices`` point into the given list; the runner stores
each batch as it arrives. A result may be an :class:`ItemFailure` instead: the
runner records it as failed, does not store it, and a rerun tries it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from evalsuite.backends.identity import ModelFingerprint
    from evalsuite.config import StrictModel
    from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, MultipleChoiceResult


class ItemFailure(BaseModel):
    """One request that failed after the backend's own retries (never stored; retried on rerun)."""

    error: str


class Capabilities(BaseModel):
    loglikelihoods: bool = False  # multiple-choice scoring (prompt log-probabilities)
    generate: bool = False
    execute: bool = False  # runs programs (the code-execution sandbox)
    prompt_logprobs: bool = False  # per-token log-probabilities of a prompt (``prompt_logprobs``; serve's echo)
    exact_recompute: bool = False  # can recompute items in full precision (``loglikelihoods_exact``)
    reduced_precision: bool = False  # this configuration computes in reduced precision (not exact)
    # With reduced precision: how many items the runner recomputes exactly to measure agreement (0: none).
    agreement_sample: int = 0
    # Why a capability is missing and how to get it (capability -> text), shown in the runner's refusal.
    notes: dict[str, str] = {}


class Backend(Protocol):
    name: ClassVar[str]
    Config: ClassVar[type["StrictModel"]]
    fingerprint: "ModelFingerprint"
    capabilities: Capabilities

    def loglikelihoods(
        self, requests: list["MultipleChoiceRequest"]
    ) -> Iterator[tuple[list[int], list["MultipleChoiceResult | ItemFailure"]]]:
        """Log-likelihood of each continuation given the request's context."""
        ...

    def generate(
        self, requests: list["GenerationRequest"]
    ) -> Iterator[tuple[list[int], list["GenerationResult | ItemFailure"]]]:
        """``sampling.n`` responses to each request."""
        ...

    def execute(self, requests: list[Any]) -> Iterator[tuple[list[int], list[Any]]]:
        """The outcome of running each request's program."""
        ...

    def close(self) -> None:
        ...
