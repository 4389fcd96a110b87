"""Read stored runs into tables: one row per (checkpoint, task, metric).

The layout a report reads is ``ROOT/<checkpoint>/<run>/results.json`` (what
``evalsuite demo`` and ``evalsuite nightly`` write), plus optional judging runs
in ``ROOT/_judging/<name>/results.json``. Reports only read; they never compute
a model's output.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalsuite.errors import DataError
from evalsuite.results import read_jsonl

JUDGING = "_judging"


def task_label(record: dict[str, Any]) -> str:
    """How a run is named in tables and comparisons: the task, and its shots when it has them."""
    task = record["task"]
    shots = task["params_resolved"].get("shots")
    return task["name"] + (f"/{shots}-shot" if shots is not None else "")


@dataclass
class Run:
    checkpoint: str
    name: str
    folder: Path
    record: dict[str, Any]

    @property
    def task_label(self) -> str:
        return task_label(self.record)

    @property
    def kind(self) -> str:
        return "accuracy" if "overall" in self.record["scores"] else "diversity"

    def samples(self) -> list[dict[str, Any]]:
        path = self.folder / "samples.jsonl"
        if not path.is_file():
            return []
        return read_jsonl(path)


def load_tree(root: str | Path) -> tuple[list[Run], dict[str, dict[str, Any]]]:
    """Evaluation runs under ``root/<checkpoint>/<run>``, and judging results under ``root/_judging``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of runs")
    runs, judging = [], {}
    # Checkpoints in creation order (the trainer's pipeline order in the demo), runs by name.
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name))
    for results in [r for folder in folders for r in sorted(folder.glob("*/results.json"))]:
        run_dir = results.parent
        checkpoint = run_dir.parent.name
        try:
            record = json.loads(results.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{results}: not valid JSON ({exc.msg})") from None
        if checkpoint == JUDGING:
            judging[run_dir.name] = record
        elif "task" in record and "scores" in record:
            runs.append(Run(checkpoint, run_dir.name, run_dir, record))
    if not runs:
        raise DataError(f"{root}: found no runs (expected {root}/<checkpoint>/<run>/results.json)")
    return runs, judging


def _finite(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def summary_frame(runs: list[Run]) -> pd.DataFrame:
    """Long table: checkpoint, task, metric, value, ci_low, ci_high, n."""
    rows = []
    for run in runs:
        scores = run.record["scores"]
        if run.kind == "accuracy":
            entries = {"acc": scores["overall"]} | {f"acc[{k}]": v for k, v in scores["categories"].items()}
            for metric, entry in entries.items():
                se = _finite(entry.get("stderr"))
                value = _finite(entry["acc"])
                # Normal-approximation interval from the lm-eval standard error, clipped to [0, 1].
                rows.append(dict(checkpoint=run.checkpoint, task=run.task_label, metric=metric, value=value,
                                 ci_low=None if se is None else max(0.0, value - 1.96 * se),
                                 ci_high=None if se is None else min(1.0, value + 1.96 * se), n=entry["n"]))
        else:
            for mode in ("within", "across"):
                for metric, entry in scores.get(mode, {}).items():
                    ci = entry.get("ci") or [None, None]
                    rows.append(dict(checkpoint=run.checkpoint, task=run.task_label, metric=f"{metric} ({mode})",
                                     value=_finite(entry["value"]), ci_low=_finite(ci[0]), ci_high=_finite(ci[1]),
                                     n=entry.get("n")))
    return pd.DataFrame(rows, columns=["checkpoint", "task", "metric", "value", "ci_low", "ci_high", "n"])


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
    data = {run.checkpoint: {s: e["acc"] for s, e in run.record["scores"]["subjects"].items()}
            for run in runs if run.kind == "accuracy" and run.task_label == task}
    return pd.DataFrame(data)
