"""The checkpoint × task grid: every task on every checkpoint, through the one runner, into one folder.

A suite (YAML: checkpoints or globs, tasks, data, backend options, resources)
names a grid. An executor (:mod:`evalsuite.jobs.executors`) runs its cells: in
this process, each checkpoint's backend loaded once, or on Ray. A run goes to
``OUT/<checkpoint>/<run name>`` (``results.json`` + ``samples.jsonl``), the
layout :mod:`evalsuite.reports` reads. Everything goes through the store, so a
rerun computes only what is missing. The demo, the nightly job and
``evalsuite grid`` (a suite once, without history) use it.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from evalsuite.config import StrictModel, load_yaml, validate
from evalsuite.data import ENV, DataRoots
from evalsuite.errors import ConfigError, DataError
from evalsuite.files import atomic_write_text
from evalsuite.jobs.executors import (
    Cell, Executor, GridContext, GridRun, InProcessExecutor, ProgressFactory, Resources, make_executor,
)
from evalsuite.metrics import names
from evalsuite.results import RunResult
from evalsuite.scores import AccuracyScores, DiversityScores
from evalsuite.store import ResultStore

__all__ = ["GridRun", "GridTask", "ProgressFactory", "Suite", "headline", "load_suite", "run_grid", "run_suite",
           "suite_data"]


class GridTask(StrictModel):
    name: str = Field(description="Run folder name, e.g. mmlu-5shot.")
    task: str = Field(description="Registered task name or task .yaml file.")
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters, as -T would give them.")
    resources: Resources | None = Field(None, description="Resources of this task's cells; fields set here override the suite's.")


class Suite(StrictModel):
    name: str
    checkpoints: list[str] = Field(description="Checkpoint directories or glob patterns (relative to the suite file).")
    tasks: list[GridTask]
    baseline: str | None = Field(None, description="Checkpoint folder name the others are compared with.")
    fail_on: str | list[str | dict[str, Any]] | None = Field(None, description=(
        'Regression gates on deltas, named <task>.<metric> with the task names above: "mmlu-5shot.acc<-0.01,ceval-0shot.acc<-0.02" '
        '(threshold crossed and Holm-significant), NAME<VALUE@point|@ci|@history:7, NAME~MARGIN (must not move), '
        'or a list of such strings or of {rule, mode, nights, z} mappings.'))
    data_dir: str | None = Field(None, description="Data root holding benchmarks/ and judging/ (default: $EVALSUITE_DATA_DIR).")
    backend: dict[str, Any] = Field(default_factory=dict, description="Extra hf backend options (threads, batch_size, ...).")
    resources: Resources = Field(default_factory=Resources, description="What each cell holds on a cluster (--executor ray).")
    max_retries: int = Field(2, ge=0, description="How often a cell whose worker died is retried (--executor ray).")


def load_suite(path: str | Path) -> tuple[Suite, list[Path]]:
    """The validated suite and its checkpoint folders (globs expanded, relative to the suite file)."""
    path = Path(path)
    suite = validate(Suite, load_yaml(path), f"suite file {path}")
    checkpoints: list[Path] = []
    for pattern in suite.checkpoints:
        full = pattern if os.path.isabs(pattern) else str(path.parent / pattern)
        matches = sorted(Path(p) for p in glob.glob(full) if Path(p).is_dir())
        if not matches:
            raise ConfigError(f"{path}: checkpoints entry {pattern!r} matches no directory")
        checkpoints += [m for m in matches if m not in checkpoints]
    folder_names = [c.name for c in checkpoints]
    if len(set(folder_names)) != len(folder_names):
        raise ConfigError(f"{path}: checkpoint folder names must be unique (they name the runs), got {folder_names}")
    if suite.baseline and suite.baseline not in folder_names:
        raise ConfigError(f"{path}: baseline {suite.baseline!r} is not among the checkpoints {folder_names}")
    _check_rules(path, suite)
    return suite, checkpoints


def _check_rules(path: Path, suite: Suite) -> None:
    """fail_on rules parse, and each names a task of the suite (``mmlu-5shot.acc``) or a bare metric (``acc``)."""
    from evalsuite.reports.gates import parse_fail_on

    try:
        rules = parse_fail_on(suite.fail_on)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    tasks = [t.name for t in suite.tasks]
    for rule in rules:
        task, dot, _ = rule.name.partition(".")
        if dot and task not in tasks and task not in names.LABELS:
            raise ConfigError(f"{path}: fail_on rule {rule} names task {task!r}; the suite's tasks are {', '.join(tasks)} "
                              f"(write <task>.<metric>, e.g. {tasks[0]}.{names.ACCURACY})")


def suite_data(suite: Suite) -> DataRoots:
    root = Path(suite.data_dir or os.environ.get(ENV) or "")
    if not str(root) or not root.is_dir():
        raise DataError(f"the suite needs data: set data_dir in the suite or {ENV} (a folder holding benchmarks/)")
    return DataRoots.from_root(root)


def run_grid(
    checkpoints: Mapping[str, str | Path],
    tasks: Sequence[GridTask],
    data: DataRoots,
    store: ResultStore,
    out: str | Path,
    backend: str = "hf",
    backend_options: Mapping[str, Any] | None = None,
    progress: ProgressFactory | None = None,
    executor: Executor | None = None,
    resources: Resources | None = None,
    max_retries: int = 2,
) -> Iterator[GridRun]:
    """Evaluate every task on every checkpoint (name -> model path), yielding each run as it finishes.

    ``executor`` defaults to this process; ``resources`` (the suite's) are what
    each cell holds where the executor places cells, a task's own overriding them.
    """
    resources = resources or Resources()
    cells = [Cell(checkpoint, Path(path), spec, resources.overridden_by(spec.resources))
             for checkpoint, path in checkpoints.items() for spec in tasks]
    context = GridContext(data, store, Path(out), backend, backend_options or {}, progress, max_retries)
    yield from (executor or InProcessExecutor()).run(cells, context)


def run_suite(suite_path: str | Path, out: str | Path, store_path: str | Path, executor: str = "local",
              address: str | None = None, say: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run ``suite_path``'s grid once, without history, into ``out``; return the summary (also ``out/summary.json``)."""
    suite, checkpoints = load_suite(suite_path)
    data = suite_data(suite)
    chosen = make_executor(executor, address)
    out = Path(out)
    started = time.perf_counter()
    runs: list[GridRun] = []
    with ResultStore(store_path) as store:
        for run in run_grid({c.name: c for c in checkpoints}, suite.tasks, data, store, out,
                            backend_options=suite.backend, executor=chosen, resources=suite.resources,
                            max_retries=suite.max_retries):
            timings = run.record.timings
            retried = f", {run.attempts} attempts" if run.attempts > 1 else ""
            say(f"{run.checkpoint} {run.name}: {headline(run.record)}; {timings.items_computed} computed, "
                f"{timings.items_from_store} from the store{retried}")
            runs.append(run)
    order = [(c.name, t.name) for c in checkpoints for t in suite.tasks]  # cells finish in any order on a cluster
    runs.sort(key=lambda r: order.index((r.checkpoint, r.name)))
    summary = {
        "suite": suite.name, "executor": chosen.name, "checkpoints": [c.name for c in checkpoints],
        "runs": [_run_summary(r) for r in runs],
        "items_computed": sum(r.record.timings.items_computed for r in runs),
        "items_from_store": sum(r.record.timings.items_from_store for r in runs),
        "items_failed": sum(len(r.record.failed) for r in runs),
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _run_summary(run: GridRun) -> dict[str, Any]:
    record = run.record
    return {
        "checkpoint": run.checkpoint, "name": run.name, "task": record.task.name, "headline": headline(record),
        "scores": record.scores.model_dump(mode="json"), "items_computed": record.timings.items_computed,
        "items_from_store": record.timings.items_from_store, "items_failed": len(record.failed), "attempts": run.attempts,
    }


def headline(record: RunResult) -> str:
    """One line of a run's main numbers: accuracy, or the headline diversity metrics within prompts."""
    scores = record.scores
    if isinstance(scores, AccuracyScores):
        return f"acc {100 * scores.overall.acc:.1f}% (n={scores.overall.n})"
    if isinstance(scores, DiversityScores):
        parts = [f"{names.label(names.qualified(m, mode))} {metrics[m].value:.3f}"
                 for mode, metrics in list(scores.modes().items())[:1] for m in names.HEADLINE if m in metrics]
        return ", ".join(parts) or f"{scores.responses} responses"
    return f"{record.timings.items_total} items"
