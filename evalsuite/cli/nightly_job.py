"""Nightly benchmark jobs: run a suite, compare with the previous night and the baseline, keep history.

A suite (YAML) names checkpoints (paths or globs, so new checkpoints join
automatically), tasks with their parameters, a baseline checkpoint and
regression thresholds. A night evaluates what the store does not have yet
(everything is resumable), writes ``OUT/nights/<night>/<checkpoint>/<run>``,
appends the night's scores to the store's history, compares every checkpoint
with its previous night and with the baseline, writes the HTML report with
trend lines and ``summary.json``, and reports regressions. Two runs of the same
suite cannot overlap: a lock file refuses the second with a clear message.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field

from evalsuite.config import StrictModel, load_yaml, validate
from evalsuite.errors import ConfigError, DataError, EvalsuiteError


class SuiteTask(StrictModel):
    name: str = Field(description="Run folder name, e.g. mmlu-5shot.")
    task: str = Field(description="Registered task name or task .yaml file.")
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters, as -T would give them.")


class Suite(StrictModel):
    name: str
    checkpoints: list[str] = Field(description="Checkpoint directories or glob patterns (relative to the suite file).")
    tasks: list[SuiteTask]
    baseline: str | None = Field(None, description="Checkpoint folder name the others are compared with.")
    fail_on: str | None = Field(None, description='Regression thresholds on deltas, e.g. "mmlu.acc<-0.01,ceval.acc<-0.02".')
    data_dir: str | None = Field(None, description="Data root holding benchmarks/ and judging/ (default: $EVALSUITE_DATA_DIR).")
    backend: dict[str, Any] = Field(default_factory=dict, description="Extra hf backend options (threads, batch_size, ...).")


class NightlyLock:
    """An exclusive, non-blocking lock on ``OUT/.nightly.lock``; the holder's pid and start time are written in it."""

    def __init__(self, path: Path, suite: str):
        self.path, self.suite = path, suite
        self.handle = None

    def __enter__(self) -> "NightlyLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "unknown"
            self.handle.close()
            raise EvalsuiteError(
                f"another nightly run of suite {self.suite!r} is running ({holder}); lock file {self.path}. "
                "Wait for it to finish; if no such process exists any more, the lock is released with it."
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
        self.handle.flush()
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def load_suite(path: str | Path) -> tuple[Suite, list[Path]]:
    path = Path(path)
    suite = validate(Suite, load_yaml(path), f"suite file {path}")
    checkpoints: list[Path] = []
    for pattern in suite.checkpoints:
        full = pattern if os.path.isabs(pattern) else str(path.parent / pattern)
        matches = sorted(Path(p) for p in glob.glob(full) if Path(p).is_dir())
        if not matches:
            raise ConfigError(f"{path}: checkpoints entry {pattern!r} matches no directory")
        checkpoints += [m for m in matches if m not in checkpoints]
    names = [c.name for c in checkpoints]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: checkpoint folder names must be unique (they name the runs), got {names}")
    if suite.baseline and suite.baseline not in names:
        raise ConfigError(f"{path}: baseline {suite.baseline!r} is not among the checkpoints {names}")
    return suite, checkpoints


def run_night(suite_path: str | Path, out: str | Path, night: str | None = None, progress=print) -> dict[str, Any]:
    """Run one night of ``suite_path`` into ``out``; return the summary (also written as summary.json)."""
    import evalsuite.tasks  # noqa: F401
    import pandas as pd

    from evalsuite.backends import load_backend
    from evalsuite.registry import get_task
    from evalsuite.reports.compare import compare, failed_rules, parse_fail_on
    from evalsuite.reports.collect import load_tree, summary_frame
    from evalsuite.reports.html import build_report
    from evalsuite.results import atomic_write_text
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    suite, checkpoints = load_suite(suite_path)
    rules = parse_fail_on(suite.fail_on) if suite.fail_on else []
    out = Path(out)
    night = night or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    data = Path(suite.data_dir or os.environ.get("EVALSUITE_DATA_DIR") or "")
    if not str(data) or not data.is_dir():
        raise DataError("the suite needs data: set data_dir in the suite or EVALSUITE_DATA_DIR (a folder holding benchmarks/)")
    started = time.perf_counter()
    with NightlyLock(out / ".nightly.lock", suite.name), ResultStore(out / "results.sqlite") as store:
        night_dir = out / "nights" / night
        computed = from_store = 0
        for checkpoint in checkpoints:
            backend = load_backend("hf", {"model": str(checkpoint), **suite.backend})
            for spec in suite.tasks:
                task_data = data / "benchmarks" if spec.task != "generate" else data
                task = get_task(spec.task)(spec.params, data_dir=task_data)
                record = evaluate(task, backend, store, out_dir=night_dir / checkpoint.name / spec.name)
                computed += record.timings.items_computed
                from_store += record.timings.items_from_store
                progress(f"{night} {checkpoint.name} {spec.name}: {record.timings.items_computed} computed, "
                         f"{record.timings.items_from_store} from the store")
        runs, _ = load_tree(night_dir)
        frame = summary_frame(runs)
        store.record_history(suite.name, night, [
            (r.checkpoint, r.task, r.metric, None if pd.isna(r.value) else float(r.value)) for r in frame.itertuples()
        ])
        history = pd.DataFrame(store.history(suite.name), columns=["night", "checkpoint", "task", "metric", "value"])

    nights = sorted(p.name for p in (out / "nights").iterdir() if p.is_dir() and p.name < night)
    previous = nights[-1] if nights else None
    regressions: list[str] = []
    comparisons: dict[str, Any] = {}
    for checkpoint in checkpoints:
        targets = []
        if previous and (out / "nights" / previous / checkpoint.name).is_dir():
            targets.append(("previous_night", out / "nights" / previous / checkpoint.name))
        if suite.baseline and checkpoint.name != suite.baseline:
            targets.append(("baseline", night_dir / suite.baseline))
        for kind, reference in targets:
            result = compare(reference, night_dir / checkpoint.name, n_boot=1000)
            failures = failed_rules(result, rules) if rules else []
            regressions += [f"{checkpoint.name} vs {kind}: {f}" for f in failures]
            comparisons.setdefault(checkpoint.name, {})[kind] = [
                {"name": c.name, "delta": c.delta, "ci": list(c.ci), "p_adjusted": c.p_adjusted, "significant": c.significant}
                for c in result["comparisons"]
            ]
    key = history[history.metric.isin(["acc", "distinct-2 (within)", "self-bleu-4 (within)"])]
    trend = key.assign(series=key.checkpoint + " · " + key.task + " · " + key.metric)[["night", "series", "value"]]
    report = build_report(night_dir, out / "report" / "index.html", baseline=suite.baseline, history=trend,
                          title=f"{suite.name}: {night}")
    summary = {
        "suite": suite.name, "night": night, "previous_night": previous, "checkpoints": [c.name for c in checkpoints],
        "items_computed": computed, "items_from_store": from_store, "regressions": regressions,
        "comparisons": comparisons, "report": str(report), "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary
