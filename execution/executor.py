"""The sandbox as an executor the runner drives like a backend (registered as ``sandbox``).

Tasks of output type ``execution`` send it whole programs; it runs them in the sandbox
(:mod:`evalsuite.execution.sandbox`) and yields each outcome as soon as its program ends,
so the runner stores it at once and a killed run loses only the programs in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from evalsuite.backend import Capabilities
from evalsuite.execution.models import ExecutionRequest, ExecutionResult, Isolation, SandboxLimits
from evalsuite.execution.sandbox import probe, python_version, run_many


class SandboxConfig(SandboxLimits):
    """The sandbox limits, plus how many programs run at once and under which interpreter."""

    workers: int | None = Field(None, ge=1, description="programs run at once (default: min(2, CPUs))")
    python: str | None = Field(None, description="interpreter the programs run under (default: the evaluator's)")

    def limits(self) -> SandboxLimits:
        """The limits alone: what changes an outcome (the workers and the interpreter path do not)."""
        return SandboxLimits.model_validate(self.model_dump(include=set(SandboxLimits.model_fields)))


class SandboxFingerprint(BaseModel):
    """What an outcome depends on: the limits, the barriers in force and the Python version."""

    backend: Literal["sandbox"] = "sandbox"
    limits: SandboxLimits
    isolation: Isolation = Field(description="what the probe program found in force")
    python: str = Field(description="version of the interpreter programs run under")

    def store_key(self) -> dict:
        """The run key's model part; leaves out the uid the probe happened to draw."""
        return {"backend": self.backend, "limits": self.limits.model_dump(mode="json"),
                "isolation": self.isolation.barriers(), "python": self.python}


class SandboxExecutor:
    """Runs :class:`~evalsuite.execution.models.ExecutionRequest` programs in the sandbox.

    Constructing it runs the isolation probe: it refuses (``SandboxError``) when a trivial
    program cannot pass, so a run never reports every sample failed because of the sandbox.
    """

    name: ClassVar[str] = "sandbox"
    Config: ClassVar[type[SandboxConfig]] = SandboxConfig
    capabilities = Capabilities(execute=True)

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.limits = self.config.limits()
        isolation = probe(self.limits, python=self.config.python)
        self.fingerprint = SandboxFingerprint(limits=self.limits, isolation=isolation,
                                              python=python_version(self.config.python))

    def execute(self, requests: list[ExecutionRequest]) -> Iterator[tuple[list[int], list[ExecutionResult]]]:
        """Run every request's program; yield ``([index], [outcome])`` in the order programs finish."""
        programs = [request.program for request in requests]
        for index, result in run_many(programs, self.limits, workers=self.config.workers, python=self.config.python):
            yield [index], [result.outcome()]

    def close(self) -> None:
        """Nothing to release: each program's processes end with it."""
