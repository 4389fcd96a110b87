"""Read stored runs into tables: one row per (checkpoint, task, metric).

The layout a report reads is ``ROOT/<checkpoint>/<run>/results.json`` (what
``evalsuite demo`` and ``evalsuite nightly`` write), plus optional judging
records in ``ROOT/_judging/<name>/results.json``. Every record is read through
:func:`evalsuite.results.load_result`; metric names come from
:mod:`evalsuite.metrics.names` (``acc``, ``acc[<category>]``,
``distinct_2.within``). Reports only read; they never compute a model's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics import names
from evalsuite.reports import judge_audit, judge_pairwise, judge_runs, mt_bench_single  # noqa: F401  (register the judging record kinds read below)
from evalsuite.results import RunResult, load_result
from evalsuite.scores import AccuracyScores, DiversityScores

JUDGING = "_judging"
COLUMNS = ["checkpoint", "task", "metric", "value", "ci_low", "ci_high", "n"]


def task_label(record: RunResult, run_name: str | None = None) -> str:
    """The one name of a run's task in tables, comparisons, ``summary.json``, history and ``fail_on`` rules.

    A run in a folder of runs (``ROOT/<checkpoint>/<run>``, what a suite, the
    demo and nightly write) is named by its folder, which is the suite's task
    name (``mmlu-5shot``); a run directory on its own by its task (``mmlu``).
    """
    return run_name or record.task.name


def headline_metrics(modes: tuple[str, ...] = names.MODES) -> list[str]:
    """The qualified names of the headline diversity metrics in ``modes`` (``distinct_2.within``, ...)."""
    return [names.qualified(metric, mode) for mode in modes for metric in names.HEADLINE]


@dataclass
class Run:
    checkpoint: str
    name: str
    folder: Path
    record: RunResult

    @property
    def task_label(self) -> str:
        return task_label(self.record, self.name)

    def samples(self) -> list[dict[str, Any]]:
        path = self.folder / "samples.jsonl"
        return read_jsonl(path) if path.is_file() else []


def load_tree(root: str | Path) -> tuple[list[Run], dict[str, BaseModel]]:
    """Task runs under ``root/<checkpoint>/<run>``, and the typed judging records under ``root/_judging``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of runs")
    runs, judging = [], {}
    # Checkpoints in creation order (the trainer's pipeline order in the demo), runs by name.
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name))
    for results in [r for folder in folders for r in sorted(folder.glob("*/results.json"))]:
        run_dir = results.parent
        record = load_result(results)
        if run_dir.parent.name == JUDGING:
            judging[run_dir.name] = record
        elif isinstance(record, RunResult):
            runs.append(Run(run_dir.parent.name, run_dir.name, run_dir, record))
    if not runs:
        raise DataError(f"{root}: found no runs (expected {root}/<checkpoint>/<run>/results.json)")
    return runs, judging


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _accuracy_rows(scores: AccuracyScores) -> list[dict[str, Any]]:
    entries = {names.ACCURACY: scores.overall} | {f"{names.ACCURACY}[{k}]": v for k, v in scores.categories.items()}
    rows = []
    for metric, entry in entries.items():
        se, value = _finite(entry.stderr), _finite(entry.acc)
        # Normal-approximation interval from the lm-eval standard error, clipped to [0, 1].
        rows.append(dict(metric=metric, value=value, n=entry.n,
                         ci_low=None if se is None else max(0.0, value - 1.96 * se),
                         ci_high=None if se is None else min(1.0, value + 1.96 * se)))
    return rows


def _diversity_rows(scores: DiversityScores) -> list[dict[str, Any]]:
    rows = []
    for mode, metrics in scores.modes().items():
        for metric in (m for m in names.DIVERSITY if m in metrics):
            entry = metrics[metric]
            low, high = entry.ci if entry.ci is not None else (None, None)
            rows.append(dict(metric=names.qualified(metric, mode), value=_finite(entry.value),
                             ci_low=_finite(low), ci_high=_finite(high), n=entry.n))
    return rows


def summary_frame(runs: list[Run]) -> pd.DataFrame:
    """Long table: checkpoint, task, metric, value, ci_low, ci_high, n (runs of other score kinds add no rows)."""
    rows = []
    for run in runs:
        scores = run.record.scores
        if isinstance(scores, AccuracyScores):
            found = _accuracy_rows(scores)
        elif isinstance(scores, DiversityScores):
            found = _diversity_rows(scores)
        else:
            found = []
        rows += [dict(checkpoint=run.checkpoint, task=run.task_label, **row) for row in found]
    return pd.DataFrame(rows, columns=COLUMNS)


def wide_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Checkpoints as rows, task.metric as columns, 'value [low, high]' cells."""
    def cell(row) -> str:
        if row.value is None or pd.isna(row.value):
            return "n/a"
        if row.ci_low is None or pd.isna(row.ci_low):
            return f"{row.value:.4f}"
        return f"{row.value:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}]"

    order = list(dict.fromkeys(frame.checkpoint))  # the order runs were given in (e.g. the pipeline's)
    frame = frame.assign(column=frame.task + " · " + frame.metric, cell=frame.apply(cell, axis=1))
    return frame.pivot(index="checkpoint", columns="column", values="cell").reindex(order).fillna("")


def subject_frame(runs: list[Run], task: str) -> pd.DataFrame:
    """Accuracy per subject (rows) and checkpoint (columns) for one accuracy task label."""
    data = {run.checkpoint: {s: e.acc for s, e in run.record.scores.subjects.items()}
            for run in runs if isinstance(run.record.scores, AccuracyScores) and run.task_label == task}
    return pd.DataFrame(data)
