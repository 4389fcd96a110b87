"""Backend parity: do two runs of the same task agree item by item?

Two runs of one model and task through different backends, dtypes or batch
sizes should give the same prediction on every item and log-likelihoods that
differ only by floating-point noise. :func:`parity` reads both runs (their
``results.json`` through :func:`evalsuite.results.load_run`, their
``samples.jsonl`` through :mod:`evalsuite.jsonl`) and reports the prediction
flips, the largest and the 50th/90th/99th percentile per-item
|Δ log-likelihood| (the largest difference over an item's options), and every
item that flips or differs by more than the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evalsuite.errors import ConfigError, DataError
from evalsuite.escape import markdown_text
from evalsuite.jsonl import iter_jsonl, to_json
from evalsuite.results import RunResult, load_run

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Disagreement:
    """An item whose prediction flips, or whose log-likelihoods differ by more than the tolerance."""

    key: str
    prediction_a: str
    prediction_b: str
    max_abs_delta: float


@dataclass(frozen=True)
class ParityReport:
    run_a: str
    run_b: str
    task: str
    task_version: str
    tolerance: float
    items: int
    flips: int
    max_abs_delta: float
    percentiles: dict[str, float]
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def within_tolerance(self) -> bool:
        """No prediction flips and every |Δ log-likelihood| at most the tolerance."""
        return self.flips == 0 and self.max_abs_delta <= self.tolerance


def parity(run_a: str | Path, run_b: str | Path, tolerance: float = 1e-4) -> ParityReport:
    """Compare two runs of the same task, version and resolved parameters item by item.

    Raises ConfigError when the runs are of different tasks, versions or
    parameters, and DataError when their samples are unreadable or cover
    different items.
    """
    if not tolerance >= 0:
        raise ConfigError(f"--tolerance must be a number >= 0, got {tolerance!r}")
    record_a, record_b = load_run(run_a), load_run(run_b)
    _check_same_task(record_a, record_b, run_a, run_b)
    items_a, items_b = _items(Path(run_a)), _items(Path(run_b))
    if items_a.keys() != items_b.keys():
        only_a, only_b = sorted(items_a.keys() - items_b.keys()), sorted(items_b.keys() - items_a.keys())
        raise DataError(
            f"{run_a} and {run_b} hold different items ({len(only_a)} only in the first, e.g. {only_a[:3]}; "
            f"{len(only_b)} only in the second, e.g. {only_b[:3]}); rerun the run that has failed items "
            "(finished items come from the store) and compare again"
        )
    deltas, disagreements, flips = [], [], 0
    for key, (prediction_a, lls_a, line) in items_a.items():
        prediction_b, lls_b, _ = items_b[key]
        if len(lls_a) != len(lls_b):
            raise DataError(f"{Path(run_a) / 'samples.jsonl'}: line {line}: item {key!r} has {len(lls_a)} "
                            f"log-likelihoods, the other run {len(lls_b)}; the runs do not score the same options")
        delta = max(abs(a - b) for a, b in zip(lls_a, lls_b))
        deltas.append(delta)
        flips += prediction_a != prediction_b
        if prediction_a != prediction_b or delta > tolerance:
            disagreements.append(Disagreement(key, prediction_a, prediction_b, delta))
    values = np.asarray(deltas, dtype=float)
    return ParityReport(
        run_a=str(run_a), run_b=str(run_b), task=record_a.task.name, task_version=record_a.task.version,
        tolerance=tolerance, items=len(deltas), flips=flips,
        max_abs_delta=float(values.max()) if len(values) else 0.0,
        percentiles={f"p{q}": float(np.percentile(values, q)) if len(values) else 0.0 for q in PERCENTILES},
        disagreements=sorted(disagreements, key=lambda d: (d.prediction_a == d.prediction_b, -d.max_abs_delta, d.key)),
    )


def _check_same_task(a: RunResult, b: RunResult, run_a, run_b) -> None:
    for what, value_a, value_b in [
        ("task", a.task.name, b.task.name),
        ("task version", a.task.version, b.task.version),
        ("resolved task parameters", a.task.params_resolved, b.task.params_resolved),
    ]:
        if value_a != value_b:
            raise ConfigError(
                f"parity compares two runs of the same task, version and parameters; {run_a} and {run_b} differ "
                f"in {what}: {value_a!r} vs {value_b!r}. Rerun one with the other's task settings"
            )


def _items(folder: Path) -> dict[str, tuple[str, list[float], int]]:
    """Item key -> (prediction, log-likelihoods, line) from ``folder/samples.jsonl``."""
    path = folder / "samples.jsonl"
    items: dict[str, tuple[str, list[float], int]] = {}
    for line, sample in iter_jsonl(path):
        if not isinstance(sample, dict):
            raise DataError(f"{path}: line {line}: expected a JSON object per item, got {type(sample).__name__}")
        key = sample["key"] if "key" in sample else f"{sample.get('subject')}/{sample.get('index')}"
        for name in ("prediction", "loglikelihoods"):
            if name not in sample:
                raise DataError(f"{path}: line {line}: field {name!r} missing; parity needs a multiple-choice run, "
                                "whose samples carry predictions and option log-likelihoods")
        lls = sample["loglikelihoods"]
        if not isinstance(lls, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in lls):
            raise DataError(f"{path}: line {line}: field 'loglikelihoods' must be a list of finite numbers, got {lls!r}")
        if key in items:
            raise DataError(f"{path}: line {line}: item {key!r} appears twice (first on line {items[key][2]})")
        items[key] = (str(sample["prediction"]), [float(v) for v in lls], line)
    return items


def _summary_rows(report: ParityReport) -> list[tuple[str, str]]:
    return [
        ("task", f"{report.task} (version {report.task_version})"),
        ("items", str(report.items)),
        ("prediction flips", str(report.flips)),
        ("max |Δ loglik|", f"{report.max_abs_delta:.3g}"),
        *((f"{name} |Δ loglik|", f"{value:.3g}") for name, value in report.percentiles.items()),
        ("tolerance", f"{report.tolerance:g}"),
        ("verdict", "within tolerance" if report.within_tolerance else "BEYOND tolerance"),
    ]


def to_text(report: ParityReport) -> str:
    """The report as plain text: a summary, then one line per disagreeing item."""
    lines = [f"parity: {report.run_a} vs {report.run_b}"]
    lines += [f"  {name:<20} {value}" for name, value in _summary_rows(report)]
    if report.disagreements:
        lines.append(f"  {'item':<30} {'A':>3} {'B':>3} {'|Δ loglik|':>12}")
        lines += [f"  {d.key:<30} {d.prediction_a:>3} {d.prediction_b:>3} {d.max_abs_delta:>12.3g}"
                  for d in report.disagreements]
    return "\n".join(lines) + "\n"


def to_markdown(report: ParityReport) -> str:
    """The report as Markdown tables, every name escaped."""
    lines = [f"**{markdown_text(report.run_a)}** vs **{markdown_text(report.run_b)}**", "", "| | |", "|---|---|"]
    lines += [f"| {markdown_text(name)} | {markdown_text(value)} |" for name, value in _summary_rows(report)]
    if report.disagreements:
        lines += ["", "| item | A | B | \\|Δ loglik\\| |", "|---|---|---|---|"]
        lines += [f"| {markdown_text(d.key)} | {markdown_text(d.prediction_a)} | {markdown_text(d.prediction_b)} | "
                  f"{d.max_abs_delta:.3g} |" for d in report.disagreements]
    return "\n".join(lines) + "\n"


def to_json_text(report: ParityReport) -> str:
    """The report as one JSON object (with ``within_tolerance``)."""
    return to_json({**asdict(report), "within_tolerance": report.within_tolerance}, indent=2) + "\n"
