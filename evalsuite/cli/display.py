"""Terminal output shared by commands: a progress bar and score tables."""

from __future__ import annotations

import math

from evalsuite.metrics import names
from evalsuite.results import RunResult
from evalsuite.scores import AccuracyScores, DiversityScores, MetricScore
from evalsuite.terminal import console


class ProgressBar:
    def __init__(self, label: str, total: int, disabled: bool = False):
        self.label, self.total, self.disabled = label, total, disabled
        self._bar = None

    def __enter__(self) -> "ProgressBar":
        if not self.disabled:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=self.label, unit="q", dynamic_ncols=True)
        return self

    def update(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()


def _fmt(acc: float, stderr: float) -> str:
    if math.isnan(acc):
        return "n/a"
    return f"{100 * acc:.2f}" + ("" if math.isnan(stderr) else f" ± {100 * stderr:.2f}")


def print_scores(record: RunResult) -> None:
    """The run's scores as a table, chosen by their score kind."""
    if isinstance(record.scores, AccuracyScores):
        print_accuracy(record, record.scores)
    elif isinstance(record.scores, DiversityScores):
        print_diversity(record, record.scores)
    else:
        console().print_json(record.scores.model_dump_json())


def _metric_cell(entry: MetricScore | None) -> str:
    if entry is None or math.isnan(entry.value):
        return "n/a"
    ci = entry.ci
    return f"{entry.value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and not math.isnan(ci[0]) else "")


def print_diversity(record: RunResult, scores: DiversityScores) -> None:
    from rich.table import Table

    modes = scores.modes()
    table = Table(title=f"{record.task.name} v{record.task.version}  ·  {record.model['model']}  ·  "
                        f"{scores.prompts} prompts, {scores.responses} responses")
    table.add_column("metric")
    for mode in modes:
        table.add_column(f"{mode}-prompt (95% CI)", justify="right")
    for name in (n for n in names.DIVERSITY if any(n in metrics for metrics in modes.values())):
        table.add_row(names.label(name), *(_metric_cell(metrics.get(name)) for metrics in modes.values()))
    console().print(table)
    t = record.timings
    print(f"{t.items_total} prompts: {t.items_computed} generated, {t.items_from_store} from the store; "
          f"{t.compute_seconds:.1f}s compute. {record.computation}")


def print_accuracy(record: RunResult, scores: AccuracyScores) -> None:
    from rich.table import Table

    table = Table(title=f"{record.task.name} v{record.task.version}  ·  {record.model['model']}")
    table.add_column("scope")
    table.add_column("name")
    table.add_column("acc % (± stderr)", justify="right")
    table.add_column("n", justify="right")
    overall = scores.overall
    table.add_row("overall", "question-weighted", _fmt(overall.acc, overall.stderr), str(overall.n))
    table.add_row("overall", "mean over subjects", _fmt(scores.overall_subject_mean.acc, float("nan")), str(overall.subjects))
    for name, entry in scores.categories.items():
        table.add_row("category", name, _fmt(entry.acc, entry.stderr), str(entry.n))
    for name, entry in scores.subjects.items():
        table.add_row("subject", name, _fmt(entry.acc, entry.stderr), str(entry.n))
    console().print(table)
    t = record.timings
    print(
        f"{t.items_total} questions: {t.items_computed} computed, {t.items_from_store} from the store; "
        f"{t.compute_seconds:.1f}s compute, {t.total_seconds:.1f}s total. Paths: {record.computation}"
    )
    check = record.precision_check
    if check and check.get("items"):
        print(
            f"reduced precision: {check['same_prediction']}/{check['items']} sampled items have the fp32 prediction "
            f"({100 * check['agreement']:.1f}%), max |delta loglikelihood| {check['max_abs_loglikelihood_diff']:.2e}"
        )
