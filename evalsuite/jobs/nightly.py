"""Nightly benchmark jobs: run a suite, compare with the previous night and the baseline, keep history.

A suite (YAML) names checkpoints (paths or globs, so new checkpoints join
automatically), tasks with their parameters, a baseline checkpoint and
regression thresholds. A night evaluates what the store does not have yet
(everything is resumable), writes ``OUT/nights/<night>/<checkpoint>/<run>``,
appends the night's scores to the store's history, compares every checkpoint
with its previous night and with the baseline, writes the HTML report with
trend lines and ``summary.json``, and reports regressions. Two runs of the same
suite cannot overlap: a lock file, held until ``summary.json`` is written,
refuses the second with a clear message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from evalsuite.data import DataRoots
from evalsuite.errors import LockBusyError
from evalsuite.files import atomic_write_text
from evalsuite.jobs.executors import Executor, make_executor
from evalsuite.jobs.grid import Suite, load_suite, run_grid, suite_data
from evalsuite.jobs.plan import latest_night, plan_for, plan_html
from evalsuite.metrics import names
from evalsuite.reports.collect import headline_metrics, load_tree, summary_frame
from evalsuite.reports.compare import compare
from evalsuite.reports.gates import GateRule, Verdict, evaluate, history_verdict, parse_fail_on, valid_history_names
from evalsuite.reports.html import build_report
from evalsuite.store import ResultStore


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
            raise LockBusyError(
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


def _evaluate(suite: Suite, checkpoints: list[Path], data: DataRoots, store: ResultStore, night: str, night_dir: Path,
              executor: Executor, say: Callable[[str], None]) -> tuple[int, int]:
    """Run the suite's grid for one night and record its scores in the history; (computed, from store)."""
    computed = from_store = 0
    grid = run_grid({c.name: c for c in checkpoints}, suite.tasks, data, store, night_dir,
                    backend_options=suite.backend, executor=executor, resources=suite.resources,
                    max_retries=suite.max_retries)
    for run in grid:
        timings = run.record.timings
        computed += timings.items_computed
        from_store += timings.items_from_store
        say(f"{night} {run.checkpoint} {run.name}: {timings.items_computed} computed, "
            f"{timings.items_from_store} from the store")
    frame = summary_frame(load_tree(night_dir)[0])
    store.record_history(suite.name, night, [
        (r.checkpoint, r.task, r.metric, None if pd.isna(r.value) else float(r.value)) for r in frame.itertuples()
    ])
    return computed, from_store


def _compare(suite: Suite, checkpoints: list[Path], rules: list[GateRule], nights: Path, night: str,
             previous: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each checkpoint against its previous night and the baseline: (every gate verdict, comparisons by checkpoint)."""
    verdicts: list[dict[str, Any]] = []
    comparisons: dict[str, Any] = {}
    for checkpoint in checkpoints:
        targets = []
        if previous and (nights / previous / checkpoint.name).is_dir():
            targets.append(("previous_night", nights / previous / checkpoint.name))
        if suite.baseline and checkpoint.name != suite.baseline:
            targets.append(("baseline", nights / night / suite.baseline))
        for kind, reference in targets:
            result = compare(reference, nights / night / checkpoint.name, n_boot=1000)
            verdicts += [_verdict(checkpoint.name, v) for v in evaluate(result, rules, against=kind)]
            comparisons.setdefault(checkpoint.name, {})[kind] = [
                {"name": c.name, "delta": c.delta, "ci": list(c.ci), "p_adjusted": c.p_adjusted, "significant": c.significant,
                 "signature": c.signature}
                for c in result.comparisons
            ]
    return verdicts, comparisons


def _verdict(checkpoint: str, verdict: Verdict) -> dict[str, Any]:
    return {"checkpoint": checkpoint, **verdict.to_dict(), "message": f"{checkpoint}: {verdict.message}"}


def history_verdicts(rows: list[tuple[str, str, str, str, float | None]], night: str, rules: list[GateRule]) -> list[dict[str, Any]]:
    """History rules on the store's history rows (night, checkpoint, task, metric, value): tonight against earlier nights."""
    chosen = [r for r in rules if r.mode == "history"]
    if not chosen:
        return []
    series: dict[tuple[str, str], dict[str, float | None]] = {}
    for row_night, checkpoint, task, metric, value in rows:
        series.setdefault((checkpoint, f"{task}.{metric}"), {})[row_night] = value
    valid_history_names(chosen, {name for _, name in series})
    verdicts = []
    for (checkpoint, name), values in sorted(series.items()):
        if night not in values:
            continue
        earlier = [values[n] for n in sorted(values) if n < night]
        for rule in (r for r in chosen if r.matches(name, name.split(".", 1)[-1])):
            verdict = history_verdict(rule, name, earlier, values[night])
            if verdict is not None:
                verdicts.append(_verdict(checkpoint, verdict))
    return verdicts


def gates_html(verdicts: list[dict[str, Any]]) -> str:
    """The report's gate section: one escaped line per verdict, failures first."""
    from evalsuite.escape import html_text

    ordered = sorted(verdicts, key=lambda v: (not v["failed"], not v.get("refused")))
    status = lambda v: "FAIL" if v["failed"] else ("REFUSED" if v.get("refused") else "pass")  # noqa: E731
    lines = "".join(f"<p class='note'>{status(v)} {html_text(v['message'])}</p>" for v in ordered)
    return "<h2>Regression gates</h2>" + (lines or "<p class='note'>no fail_on rules</p>")


def _trend(store: ResultStore, suite: str) -> pd.DataFrame:
    """The history of the trend metrics (accuracy, headline diversity within prompts) as plot series."""
    history = pd.DataFrame(store.history(suite), columns=["night", "checkpoint", "task", "metric", "value"])
    key = history[history.metric.isin([names.ACCURACY, *headline_metrics(("within",))])]
    return key.assign(series=key.checkpoint + " · " + key.task + " · " + key.metric)[["night", "series", "value"]]


def run_night(suite_path: str | Path, out: str | Path, night: str | None = None,
              say: Callable[[str], None] = lambda _: None, executor: str = "local",
              address: str | None = None) -> dict[str, Any]:
    """Run one night of ``suite_path`` into ``out`` on ``executor``; return the summary (also written as summary.json)."""
    suite, checkpoints = load_suite(suite_path)
    rules = parse_fail_on(suite.fail_on)
    data = suite_data(suite)
    chosen = make_executor(executor, address)
    out = Path(out)
    night = night or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    nights = out / "nights"
    started = time.perf_counter()
    # The lock covers everything down to summary.json, so a second run cannot interleave its report or summary.
    with NightlyLock(out / ".nightly.lock", suite.name):
        # Gates below their minimum detectable effect are flagged as the suite is loaded (from the last night's
        # discordance when there is one, else the stated assumption), before anything is evaluated.
        loaded = plan_for(suite, latest_night(out) if nights.is_dir() else None, None, 0.05, 0.8)
        for warning in loaded.warnings:
            say(f"warning: {warning}")
        with ResultStore(out / "results.sqlite") as store:
            computed, from_store = _evaluate(suite, checkpoints, data, store, night, nights / night, chosen, say)
            trend = _trend(store, suite.name)
            verdicts = history_verdicts(store.history(suite.name), night, rules)
        earlier = sorted(p.name for p in nights.iterdir() if p.is_dir() and p.name < night)
        previous = earlier[-1] if earlier else None
        found, comparisons = _compare(suite, checkpoints, rules, nights, night, previous)
        verdicts = found + verdicts
        plan = plan_for(suite, nights / night, None, 0.05, 0.8)
        for warning in plan.warnings:
            if warning not in loaded.warnings:  # tonight's observed figures may flag what the assumption did not
                say(f"warning: {warning}")
        report = build_report(nights / night, out / "report" / "index.html", baseline=suite.baseline, history=trend,
                              title=f"{suite.name}: {night}", extra_sections=[gates_html(verdicts), plan_html(plan)])
        summary = {
            "suite": suite.name, "night": night, "previous_night": previous, "checkpoints": [c.name for c in checkpoints],
            "items_computed": computed, "items_from_store": from_store,
            "regressions": [v for v in verdicts if v["failed"]], "refused": [v for v in verdicts if v.get("refused")],
            "gates": verdicts, "gate_warnings": list(dict.fromkeys(loaded.warnings + plan.warnings)),
            "plan": plan.to_dict(), "comparisons": comparisons, "report": str(report), "seconds": round(time.perf_counter() - started, 1),
        }
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary
