"""The checkpoint × task grid: every task on every checkpoint, through the one runner, into one folder.

Each checkpoint's backend is loaded once and closed after its tasks. A run goes
to ``OUT/<checkpoint>/<run name>`` (``results.json`` + ``samples.jsonl``), the
layout :mod:`evalsuite.reports` reads. Everything goes through the store, so a
rerun computes only what is missing. The demo and the nightly job both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from evalsuite.backends import load_backend
from evalsuite.config import StrictModel
from evalsuite.data import DataRoots
from evalsuite.metrics import names
from evalsuite.registry import get_task
from evalsuite.results import RunResult
from evalsuite.runner import evaluate
from evalsuite.scores import AccuracyScores, DiversityScores
from evalsuite.store import ResultStore

# A progress display: called with a label and the number of items, entered around one run; its
# ``update(done, total)`` is the runner's progress callback.
ProgressFactory = Callable[[str, int], AbstractContextManager[Any]]


class GridTask(StrictModel):
    name: str = Field(description="Run folder name, e.g. mmlu-5shot.")
    task: str = Field(description="Registered task name or task .yaml file.")
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters, as -T would give them.")


@dataclass(frozen=True)
class GridRun:
    checkpoint: str
    name: str
    record: RunResult


def run_grid(
    checkpoints: Mapping[str, str | Path],
    tasks: Sequence[GridTask],
    data: DataRoots,
    store: ResultStore,
    out: str | Path,
    backend: str = "hf",
    backend_options: Mapping[str, Any] | None = None,
    progress: ProgressFactory | None = None,
) -> Iterator[GridRun]:
    """Evaluate every task on every checkpoint (name -> model path), yielding each run as it finishes."""
    out = Path(out)
    for checkpoint, path in checkpoints.items():
        model = load_backend(backend, {"model": str(path), **(backend_options or {})})
        try:
            for spec in tasks:
                task = get_task(spec.task)(spec.params, data)
                display = progress(f"{checkpoint} {spec.name}", len(task.requests())) if progress else nullcontext()
                with display as bar:
                    record = evaluate(task, model, store, out_dir=out / checkpoint / spec.name,
                                      progress=bar.update if bar is not None else None)
                yield GridRun(checkpoint, spec.name, record)
        finally:
            model.close()


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
