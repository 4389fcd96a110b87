"""One evaluation of a live model during training, and the per-step record it leaves.

Every task goes through :func:`evalsuite.runner.evaluate` (the loop `evalsuite run` uses) with an ``hf`` backend
wrapped around the model being trained, so a number at step 40 is computed exactly as it would be from the
checkpoint saved at step 40. What one evaluation writes, under ``<out>/evals/step-000040/``:

* ``<task>/results.json`` and ``samples.jsonl``: the runner's :class:`~evalsuite.results.RunResult` (its
  ``backend_config`` names the stage and step), its rows in the result store;
* ``summary.json``: a :class:`StepEvalResult` (``kind: "train_eval"``) with every metric flattened, its
  confidence interval, and the alarms that fired.
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError
from evalsuite.files import atomic_write_text
from evalsuite.metrics import names
from evalsuite.registry import get_task
from evalsuite.results import Record, RunResult, load_result, provenance, register_result_kind
from evalsuite.scores import AccuracyScores, DiversityScores
from evalsuite.trainers.settings import EvalSettings

EVALS_DIR = "evals"
SUMMARY = "summary.json"


class StepMetric(BaseModel):
    """One metric of one task at one step; ``ci`` is the task's own interval (bootstrap or standard error)."""

    task: str
    metric: str = Field(description="Qualified name from evalsuite.metrics.names (acc, distinct_2.within, ...).")
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0


class AlarmEvent(BaseModel):
    """An alarm whose threshold the value crossed at this step."""

    task: str
    metric: str
    rule: str
    threshold: float
    value: float
    start: float | None = None
    stop: bool
    message: str


class StepEvalResult(Record):
    """All evaluations of one training step: where the task runs are and their metrics, flattened."""

    kind: Literal["train_eval"] = "train_eval"
    stage: str
    step: int
    epoch: float | None = None
    model: dict[str, Any]
    runs: dict[str, str] = Field(description="Task -> its run folder, relative to this record's folder.")
    metrics: list[StepMetric]
    alarms: list[AlarmEvent] = Field(default_factory=list)
    seconds: float

    def value(self, metric: str, task: str | None = None) -> StepMetric | None:
        found = [m for m in self.metrics if m.metric == metric and (task is None or m.task == task)]
        if len(found) > 1:
            raise ConfigError(f"metric {metric!r} is reported by several eval tasks ({', '.join(m.task for m in found)}); "
                              "name one with `task:` in the alarm")
        return found[0] if found else None


register_result_kind("train_eval", StepEvalResult)


def step_dir(out_dir: Path, step: int) -> Path:
    return Path(out_dir) / EVALS_DIR / f"step-{step:06d}"


def read_step_records(out_dir: str | Path) -> list[StepEvalResult]:
    """The per-step records of a stage (or of any folder an EvalCallback wrote to), by step."""
    records = [load_result(path) for path in sorted((Path(out_dir) / EVALS_DIR).glob(f"step-*/{SUMMARY}"))]
    return sorted((r for r in records if isinstance(r, StepEvalResult)), key=lambda r: r.step)


def live_weights_sha256(model) -> str:
    """sha256 over every parameter's and buffer's name, dtype, shape and bytes: the live model's identity."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1).contiguous()
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).cpu().numpy().tobytes())
    return digest.hexdigest()


def task_params(name: str, task_class, settings: EvalSettings, chat_template: bool) -> dict[str, Any]:
    """The parameters a task runs with at every step: a seeded subset of a multiple-choice benchmark, or k
    prompts x n samples; the recipe's ``task_params`` override them."""
    fields = task_class.Params.model_fields
    params: dict[str, Any] = {}
    spec = getattr(task_class, "spec", None)
    if "subjects" in fields and spec is not None:
        subjects = sorted(spec.subjects)
        params["subjects"] = sorted(random.Random(settings.seed).sample(subjects, min(settings.subjects, len(subjects))))
        params["limit"] = settings.items
    elif task_class.output_type == "generation" and "n" in fields:
        params.update(prompts=settings.prompt_set, limit=settings.prompts, n=settings.samples, seed=settings.seed,
                      max_new_tokens=settings.max_new_tokens, temperature=settings.temperature, n_boot=settings.n_boot,
                      chat_template=chat_template)
    return {**params, **settings.task_params.get(name, {})}


def build_tasks(settings: EvalSettings, data: DataRoots, chat_template: bool) -> dict[str, Any]:
    """Task name -> task object, built once: the same requests at every step."""
    tasks = {}
    for name in settings.tasks:
        task_class = get_task(name)
        tasks[name] = task_class(task_params(name, task_class, settings, chat_template), data)
    return tasks


def metrics_of(task: str, record: RunResult) -> list[StepMetric]:
    """The record's headline numbers flattened: accuracy (normal interval from its standard error, clipped to
    [0, 1], as the report draws it) or every diversity metric in each mode with its bootstrap interval."""
    scores = record.scores
    if isinstance(scores, AccuracyScores):
        acc, se = scores.overall.acc, scores.overall.stderr
        low, high = (max(0.0, acc - 1.96 * se), min(1.0, acc + 1.96 * se)) if se == se else (None, None)
        return [StepMetric(task=task, metric=names.ACCURACY, value=acc, ci_low=low, ci_high=high, n=scores.overall.n)]
    if isinstance(scores, DiversityScores):
        found = []
        for mode, entries in scores.modes().items():
            for name in (m for m in names.DIVERSITY if m in entries):
                entry = entries[name]
                low, high = entry.ci if entry.ci is not None else (None, None)
                found.append(StepMetric(task=task, metric=names.qualified(name, mode), value=_number(entry.value),
                                        ci_low=_number(low), ci_high=_number(high), n=entry.n))
        return found
    return []


def _number(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)


def log_entries(record: StepEvalResult, everything: bool = False) -> dict[str, float]:
    """What goes to ``trainer.log``: ``eval_<task>/<metric>`` (W&B shows it as eval/<task>/<metric>), for accuracy,
    the headline diversity metrics (``names.HEADLINE``) in each mode and any hook's numbers, or every metric."""
    headline = {names.ACCURACY, *(names.qualified(m, mode) for m in names.HEADLINE for mode in names.MODES)}
    return {f"eval_{m.task}/{m.metric}": m.value for m in record.metrics
            if m.value is not None and (everything or m.metric in headline or names.split(m.metric)[0] not in names.LABELS)}


def write_record(record: StepEvalResult, folder: Path) -> Path:
    path = folder / SUMMARY
    atomic_write_text(path, record.model_dump_json(indent=2))
    return path


def new_record(stage: str, step: int, epoch: float | None, fingerprint: dict[str, Any], runs: dict[str, str],
               metrics: list[StepMetric], started: float) -> StepEvalResult:
    return StepEvalResult(provenance=provenance(), stage=stage, step=step, epoch=epoch, model=fingerprint, runs=runs,
                          metrics=metrics, seconds=round(time.perf_counter() - started, 4))
