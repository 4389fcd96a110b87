"""Compare two sets of stored runs item by item: deltas, paired tests, a multiple-comparison correction.

A side is a run directory (``results.json`` + ``samples.jsonl``) or a folder of
them, read through :func:`evalsuite.results.load_run`. Runs are matched by task
name, version and resolved parameters. For accuracy tasks the items are paired
by (subject, index): the test is McNemar's (exact binomial when there are fewer
than 25 discordant pairs) and the delta's confidence interval a paired
bootstrap over items. Generation tasks compare the headline diversity metrics
(:data:`evalsuite.metrics.names.HEADLINE`) per prompt, report how alike the two
runs' answers are (``similarity`` rows, levels rather than deltas:
:mod:`evalsuite.reports.homogenization`) and, where a rubric panel judged both,
its scores paired by item (:mod:`evalsuite.reports.judge_compare`). All p-values
of one comparison are corrected together with Holm's method. Items present in
only one run are counted and reported, never silently dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.errors import DataError
from evalsuite.escape import html_text, markdown_text
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics import names
from evalsuite.metrics.clustered import bootstrap_p, paired_cluster_deltas, unit_label
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import make_signature
from evalsuite.registry import METRICS
from evalsuite.reports.collect import task_label
from evalsuite.reports.homogenization import HEADER as SIMILARITY_HEADER
from evalsuite.reports.homogenization import LEVEL, NO_EMBEDDER, Similarity, load_embedder, rows_of, similarity_rows
from evalsuite.reports.judge_audit import GATE_ALPHA
from evalsuite.results import RunResult, load_run
from evalsuite.scores import AccuracyScores, DiversityScores


@dataclass
class RunData:
    folder: Path
    record: RunResult
    samples: list[dict[str, Any]]
    run_name: str | None = None

    @property
    def key(self) -> str:
        task = self.record.task
        return f"{task.name}|v{task.version}|{json.dumps(task.params_resolved, sort_keys=True)}"

    @property
    def label(self) -> str:
        return task_label(self.record, self.run_name)


@dataclass
class Comparison:
    task: str
    metric: str
    a: float
    b: float
    delta: float
    ci: tuple[float, float]
    p_value: float
    test: str
    n_paired: int
    only_in_a: int = 0
    only_in_b: int = 0
    p_adjusted: float = float("nan")
    significant: bool = False
    se: float = float("nan")
    signature: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    gate_refusal: str | None = None  # why a fail_on rule may not gate on it (a judge panel that disagrees)

    @property
    def name(self) -> str:
        return f"{self.task}.{self.metric}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["name"] = self.name
        return out


@dataclass
class CompareResult:
    """Every comparison of ``b`` against ``a``, Holm-corrected together, and what could not be paired."""

    a: str
    b: str
    alpha: float
    n_boot: int
    seed: int
    comparisons: list[Comparison]
    only_in_a: list[str]
    only_in_b: list[str]
    not_compared: list[str]
    correction: str = "holm"
    similarity: list[Similarity] = field(default_factory=list)  # levels, not deltas; outside the Holm family
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "alpha": self.alpha, "correction": self.correction, "n_boot": self.n_boot,
                "seed": self.seed, "comparisons": [c.to_dict() for c in self.comparisons], "only_in_a": self.only_in_a,
                "only_in_b": self.only_in_b, "not_compared": self.not_compared,
                "similarity": [s.to_dict() for s in self.similarity], "notes": self.notes}


def load_runs(path: str | Path) -> list[RunData]:
    """One run directory, or every run directory directly inside ``path`` (then named by its folder: the suite's task name)."""
    folder = Path(path)
    if not folder.exists():
        raise DataError(f"{folder}: no such run directory")
    folders = [folder] if (folder / "results.json").is_file() else sorted(p.parent for p in folder.glob("*/results.json"))
    if not folders:
        raise DataError(f"{folder}: no results.json here or in its subfolders; pass a run directory written by `evalsuite run --out`")
    runs = []
    for run in folders:
        record = load_run(run)
        samples_path = run / "samples.jsonl"
        if not samples_path.is_file():
            raise DataError(f"{run}: samples.jsonl is missing; paired tests need the per-item records")
        runs.append(RunData(run, record, read_jsonl(samples_path), None if run == folder else run.name))
    return runs


def _bootstrap_means(diff: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)


def _interval(means: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def _signature(test: str, n_boot: int, cluster_by: str | None) -> str:
    return make_signature("compare", test=test, ci=Resampling(ci=True, n_boot=n_boot).label(),
                          resample=unit_label(cluster_by).replace(":", "="))


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> tuple[float, str, dict[str, int]]:
    """McNemar's test on paired 0/1 outcomes (statsmodels): exact below 25 discordant pairs."""
    from statsmodels.stats.contingency_tables import mcnemar

    both = int(np.sum(a & b))
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    neither = int(np.sum(~a & ~b))
    exact = only_a + only_b < 25
    if only_a + only_b == 0:
        p = 1.0
    else:
        p = float(mcnemar([[both, only_a], [only_b, neither]], exact=exact, correction=True).pvalue)
    return p, "mcnemar-exact" if exact else "mcnemar-chi2", {"both": both, "only_a": only_a, "only_b": only_b, "neither": neither}


def _compare_accuracy(a: RunData, b: RunData, n_boot: int, seed: int) -> list[Comparison]:
    index_a = {(s["subject"], s["index"]): bool(s["correct"]) for s in a.samples}
    index_b = {(s["subject"], s["index"]): bool(s["correct"]) for s in b.samples}
    shared = sorted(index_a.keys() & index_b.keys())
    only_a, only_b = len(index_a.keys() - index_b.keys()), len(index_b.keys() - index_a.keys())
    if not shared:
        raise DataError(f"{a.folder} and {b.folder} share no items for {a.label}")
    categories = {name: entry.category for name, entry in a.record.scores.subjects.items()}
    scopes = {names.ACCURACY: shared}
    if len(set(categories.values())) > 1:
        for category in sorted(set(categories.values())):
            items = [k for k in shared if categories.get(k[0]) == category]
            if items:
                scopes[f"{names.ACCURACY}[{category}]"] = items
    comparisons = []
    for metric, items in scopes.items():
        x = np.array([index_a[k] for k in items])
        y = np.array([index_b[k] for k in items])
        p, test, table = mcnemar_p(x, y)
        means = _bootstrap_means(y.astype(float) - x.astype(float), n_boot, seed)
        comparisons.append(
            Comparison(
                task=a.label, metric=metric, a=float(x.mean()), b=float(y.mean()), delta=float(y.mean() - x.mean()),
                ci=_interval(means), p_value=p, test=test,
                n_paired=len(items), only_in_a=only_a if metric == names.ACCURACY else 0,
                only_in_b=only_b if metric == names.ACCURACY else 0, se=float(means.std(ddof=1)),
                signature=_signature(test, n_boot, None), details=table,
            )
        )
    return comparisons


def _per_prompt_value(metric: str, texts: list[str]) -> float:
    """The registered metric ``metric`` of one prompt's responses, pooled across them, without an interval."""
    return float(METRICS.get(metric)(texts).value)


def _by_prompt(run: RunData) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for sample in run.samples:
        groups.setdefault(str(sample["prompt_id"]), []).append(sample["response"])
    return groups


def _compare_lengths(a: RunData, b: RunData, prompts_a: dict, prompts_b: dict, n_boot: int, seed: int) -> Comparison:
    """Mean response length over all responses, the paired bootstrap resampling whole prompts (several samples each)."""
    from evalsuite.metrics.diversity.ngrams import as_encoded

    order = [(side, p) for side, groups in (("a", prompts_a), ("b", prompts_b)) for p in groups]
    texts = [t for side, groups in (("a", prompts_a), ("b", prompts_b)) for p in groups for t in groups[p]]
    lengths = iter(as_encoded(texts).lengths.astype(float))  # one tokenizer for both runs
    values: dict[str, dict[str, list[float]]] = {"a": {}, "b": {}}
    for side, prompt in order:
        groups = prompts_a if side == "a" else prompts_b
        values[side][prompt] = [next(lengths) for _ in groups[prompt]]
    delta, deltas = paired_cluster_deltas(values["a"], values["b"], Resampling(ci=True, n_boot=n_boot, seed=seed))
    shared = sorted(values["a"].keys() & values["b"].keys())
    mean = {side: float(np.mean([v for p in shared for v in values[side][p]])) for side in values}
    return Comparison(
        task=a.label, metric=names.qualified("length", "across"), a=mean["a"], b=mean["b"], delta=delta,
        ci=_interval(deltas), p_value=bootstrap_p(deltas, n_boot), test="paired-cluster-bootstrap", n_paired=len(shared),
        only_in_a=len(prompts_a.keys() - prompts_b.keys()), only_in_b=len(prompts_b.keys() - prompts_a.keys()),
        se=float(deltas.std(ddof=1)), signature=_signature("paired-cluster-bootstrap", n_boot, "prompt"),
        details={"mode": "mean over all responses", "responses_a": sum(map(len, values["a"].values())),
                 "responses_b": sum(map(len, values["b"].values()))},
    )


def _compare_diversity(a: RunData, b: RunData, n_boot: int, seed: int) -> list[Comparison]:
    """Per-prompt within-prompt diversity paired by prompt id, and the mean response length clustered by prompt."""
    groups_a, groups_b = _by_prompt(a), _by_prompt(b)
    prompts_a = {k: v for k, v in groups_a.items() if len(v) >= 2}
    prompts_b = {k: v for k, v in groups_b.items() if len(v) >= 2}
    shared = sorted(prompts_a.keys() & prompts_b.keys())
    comparisons = []
    for metric in names.HEADLINE if shared else ():
        x = np.array([_per_prompt_value(metric, prompts_a[p]) for p in shared])
        y = np.array([_per_prompt_value(metric, prompts_b[p]) for p in shared])
        diff = y - x
        means = _bootstrap_means(diff, n_boot, seed)
        comparisons.append(Comparison(
            task=a.label, metric=names.qualified(metric, "within"), a=float(x.mean()), b=float(y.mean()),
            delta=float(diff.mean()), ci=_interval(means), p_value=bootstrap_p(means, n_boot),
            test="paired-bootstrap-prompts", n_paired=len(shared),
            only_in_a=len(prompts_a.keys() - prompts_b.keys()), only_in_b=len(prompts_b.keys() - prompts_a.keys()),
            se=float(means.std(ddof=1)), signature=_signature("paired-bootstrap-prompts", n_boot, "prompt"),
            details={"mode": "within-prompt, mean over prompts"},
        ))
    if groups_a.keys() & groups_b.keys():
        comparisons.append(_compare_lengths(a, b, groups_a, groups_b, n_boot, seed))
    return comparisons


def compare(a_path: str | Path, b_path: str | Path, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0, *,
            embedder=None, judging: str | Path | None = None, min_judge_alpha: float = GATE_ALPHA) -> CompareResult:
    """Every shared task of ``a`` and ``b`` compared; Holm-corrected significance over all comparisons.

    ``embedder`` (a local sentence-transformers folder, or a function from texts to vectors) adds embedding
    similarity rows; ``judging`` names the rubric panel(s) to compare (default: ``_judging/*`` beside a side),
    ``min_judge_alpha`` the panel agreement below which a judge-derived metric refuses to gate.
    """
    from statsmodels.stats.multitest import multipletests

    from evalsuite.reports.judge_compare import judge_comparisons

    embed = load_embedder(embedder)
    runs_a = {run.key: run for run in load_runs(a_path)}
    runs_b = {run.key: run for run in load_runs(b_path)}
    comparisons: list[Comparison] = []
    unsupported, similarity, generation = [], [], []
    for key in sorted(runs_a.keys() & runs_b.keys()):
        a, b = runs_a[key], runs_b[key]
        if isinstance(a.record.scores, AccuracyScores):
            found = _compare_accuracy(a, b, n_boot, seed)
        elif isinstance(a.record.scores, DiversityScores):
            found = _compare_diversity(a, b, n_boot, seed)
            similarity += similarity_rows(a, b, n_boot, seed, embed)
            generation.append((a, b))
        else:
            found = []
        comparisons.extend(found)
        if not found:
            unsupported.append(a.label)
    comparisons += judge_comparisons(a_path, b_path, generation, n_boot, seed, judging, min_judge_alpha)
    if comparisons:
        reject, adjusted, _, _ = multipletests([c.p_value for c in comparisons], alpha=alpha, method="holm")
        for c, r, p in zip(comparisons, reject, adjusted):
            c.p_adjusted, c.significant = float(p), bool(r)
    return CompareResult(
        a=str(a_path), b=str(b_path), alpha=alpha, n_boot=n_boot, seed=seed, comparisons=comparisons,
        only_in_a=sorted(runs_a[k].label for k in runs_a.keys() - runs_b.keys()),
        only_in_b=sorted(runs_b[k].label for k in runs_b.keys() - runs_a.keys()),
        not_compared=unsupported, similarity=similarity, notes=[NO_EMBEDDER] if similarity and embed is None else [],
    )


def to_json(result: CompareResult, verdicts: list | None = None) -> str:
    """The comparison (and, given ``verdicts`` of :mod:`evalsuite.reports.gates`, every gate's verdict) as JSON."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    payload = result.to_dict()
    payload["comparisons"] = [{k: clean(v) for k, v in c.items()} for c in payload["comparisons"]]
    if verdicts is not None:
        payload["gates"] = [v.to_dict() for v in verdicts]
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _rows(result: CompareResult) -> list[list[str]]:
    rows = []
    for c in result.comparisons:
        rows.append([
            c.name, f"{c.a:.4f}", f"{c.b:.4f}", f"{c.delta:+.4f}", f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]",
            f"{c.p_value:.3g}", f"{c.p_adjusted:.3g}", "yes" if c.significant else "no", str(c.n_paired),
            str(c.only_in_a + c.only_in_b),
        ])
    return rows


HEADER = ["comparison", "a", "b", "delta (b-a)", "95% CI", "p", "p (Holm)", "significant", "paired items", "unpaired items"]
UNMATCHED = ("only_in_a", "only_in_b", "not_compared")


def _unmatched(result: CompareResult, text=str) -> list[str]:
    """``only in a: ...`` lines for the runs one side lacks and the tasks not compared, and the notes (through ``text``)."""
    return [f"{side.replace('_', ' ')}: {', '.join(map(text, getattr(result, side)))}" for side in UNMATCHED
            if getattr(result, side)] + [text(note) for note in result.notes]


def _gate_lines(verdicts: list | None) -> list[str]:
    return [f"{v.status} {v.message}" for v in verdicts or []]


def to_markdown(result: CompareResult, verdicts: list | None = None) -> str:
    """The comparison as Markdown: one line per table row, every name escaped."""
    lines = [f"**{markdown_text(result.b)}** vs **{markdown_text(result.a)}** (alpha {result.alpha}, Holm-corrected)", ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    for row in _rows(result):
        lines.append("| " + " | ".join(map(markdown_text, row)) + " |")
    if result.similarity:
        lines += ["", f"Similarity of b's answers to a's ({LEVEL}):", "", "| " + " | ".join(SIMILARITY_HEADER) + " |",
                  "|" + "---|" * len(SIMILARITY_HEADER)]
        lines += ["| " + " | ".join(map(markdown_text, row)) + " |" for row in rows_of(result.similarity)]
    lines += [f"\n{line}" for line in _unmatched(result, markdown_text)]
    lines += [f"\n{markdown_text(line)}" for line in _gate_lines(verdicts)]
    return "\n".join(lines) + "\n"


def to_html(result: CompareResult, verdicts: list | None = None) -> str:
    """The comparison as a self-contained HTML page, every name escaped."""
    title = html_text(f"{result.b} vs {result.a}")
    notes = _html_table(SIMILARITY_HEADER, rows_of(result.similarity), f"Similarity of b's answers to a's ({LEVEL})")
    notes += "".join(f"<p>{line}</p>" for line in _unmatched(result, html_text))
    notes += "".join(f"<p>{html_text(line)}</p>" for line in _gate_lines(verdicts))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>alpha {html_text(result.alpha)}, Holm-corrected</p>"
        f"{_html_table(HEADER, _rows(result))}{notes}</body></html>\n"
    )


def _html_table(header: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    if caption and not rows:
        return ""
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    caption = f"<caption>{html_text(caption)}</caption>" if caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def print_table(result: CompareResult) -> None:
    from rich.table import Table

    from evalsuite.terminal import console

    table = Table(title=f"{result.b} vs {result.a}  (Holm-corrected, alpha {result.alpha})")
    for h in HEADER:
        table.add_column(h, justify="left" if h == "comparison" else "right")
    for row in _rows(result):
        table.add_row(*row, style="bold" if row[7] == "yes" else None)
    out = console()
    out.print(table)
    if result.similarity:
        similar = Table(title=f"Similarity of b's answers to a's ({LEVEL})")
        for h in SIMILARITY_HEADER:
            similar.add_column(h, justify="right")
        for row in rows_of(result.similarity):
            similar.add_row(*row)
        out.print(similar)
    for line in _unmatched(result):
        out.print(line)
