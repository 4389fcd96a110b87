"""One record from several judges' runs: a rubric panel, pairwise A/B judging, MT-Bench grading.

Each judge's run is an ordinary task run written by the runner into
``OUT/<judge name>/`` (``results.json`` read with :func:`evalsuite.results.load_run`,
and ``samples.jsonl``). The functions here read those runs, compute what
combines them (means across judges, inter-judge agreement, both-order win rates
pooled over judges, Bradley–Terry), and write ``OUT/results.json`` (a typed
record with a ``kind``) and ``OUT/judgments.jsonl`` (every verdict, each with its
judge; failed requests with their error). They only read stored results.

Where a judge's prompts were also scored from its log-likelihoods
(``OUT/<judge>/probability/``, the ``judge-*-probs`` tasks), the panel and
MT-Bench records carry both scorings side by side — ``scores`` from the parsed
verdicts, ``probability_scores`` probability-weighted (G-Eval), ``scoring`` says
which is which — with the mass on the scale and how the two agree item by item
(:mod:`evalsuite.reports.judge_scoring`).

Several scores of one item are not independent (a panel's judges score the same
answer; MT-Bench's two turns grade one conversation). A mean over them counts
every score once, and its interval and standard error are clustered by item: a
bootstrap that resamples whole items with all their scores
(:func:`evalsuite.metrics.clustered.cluster_bootstrap_means`) and the
cluster-robust standard error statsmodels' OLS reports with ``cov_type="cluster"``
(:func:`evalsuite.metrics.clustered.cluster_se`); ``signature`` says
``resample:cluster=item``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import read_jsonl, write_jsonl
from evalsuite.metrics.bootstrap import percentile_interval
from evalsuite.metrics.clustered import cluster_bootstrap_means, cluster_se, unit_label
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import make_signature
from evalsuite.registry import TASKS
from evalsuite.reports.judge_scoring import (
    MassStats, ScoringAgreement, attach_probabilities, mass_stats, read_probability_runs, scoring_agreement, scoring_notes,
)
from evalsuite.results import Record, RunResult, load_run, provenance, register_result_kind


@dataclass
class JudgeRun:
    """One judge's stored run: its record and its per-verdict samples."""

    judge: str
    record: RunResult
    samples: list[dict[str, Any]]

    @property
    def params(self) -> dict[str, Any]:
        return self.record.task.params_resolved

    @property
    def metadata(self) -> dict[str, Any]:
        return self.record.task_metadata

    def description(self) -> dict[str, Any]:
        """The judge as the combined record lists it: its settings and its backend's fingerprint."""
        return {"name": self.judge, **self.record.backend_config, "fingerprint": self.record.model}


def read_judge_runs(out: str | Path, judges: list[str], task: str) -> list[JudgeRun]:
    """The runs ``out/<judge>`` of task ``task``; an error when one is missing or judged something else."""
    TASKS.get(task)  # loads the task's module, which registers its score model for load_run
    runs = []
    for judge in judges:
        folder = Path(out) / judge
        record = load_run(folder)
        if record.task.name != task:
            raise DataError(f"{folder / 'results.json'}: field 'task.name': expected {task!r}, got {record.task.name!r}")
        samples = read_jsonl(folder / "samples.jsonl") if (folder / "samples.jsonl").is_file() else []
        runs.append(JudgeRun(judge, record, samples))
    if not runs:
        raise DataError(f"{out}: no judges named, so there are no runs to combine")
    first = {k: v for k, v in runs[0].params.items() if not k.startswith("judge_")}
    for run in runs[1:]:
        if {k: v for k, v in run.params.items() if not k.startswith("judge_")} != first:
            raise DataError(f"{Path(out) / run.judge}: judged other answers or settings than {runs[0].judge}; rerun both")
    return runs


def counts(runs: list[JudgeRun]) -> dict[str, int]:
    """Verdicts over all judges: parsed, unparseable (excluded), failed (retried on rerun), from the store."""
    return {
        "ok": sum(r.record.scores.judgments.ok for r in runs),
        "unparseable": sum(r.record.scores.judgments.unparseable for r in runs),
        "failed": sum(len(r.record.failed) for r in runs),
        "from_store": sum(r.record.timings.items_from_store for r in runs),
    }


def _split_ref(key: str, labels: list[str]) -> dict[str, Any]:
    """``<label>/<prompt id>/<sample>`` back into its parts, the label being one of ``labels``."""
    ref, turn2, _ = key.partition("@turn2")  # MT-Bench's second-turn gradings
    for label in sorted(labels, key=len, reverse=True):
        if ref.startswith(label + "/"):
            prompt_id, _, sample = ref[len(label) + 1:].rpartition("/")
            return {"item": key, "label": label, "prompt_id": prompt_id, "sample_index": int(sample)} | (
                {"turn": 2} if turn2 else {})
    return {"item": key}


def judgments(runs: list[JudgeRun], failed_fields=None) -> list[dict[str, Any]]:
    """Every judge's verdicts, then its failed requests (``failed_fields(key)`` describes a failed item)."""
    records = []
    for run in runs:
        records += [{"judge": run.judge, **s} for s in run.samples]
        for failure in run.record.failed:
            described = failed_fields(failure.key) if failed_fields else {"item": failure.key}
            records.append({"judge": run.judge, **described, "status": "failed", "error": failure.error})
    return records


def write_combined(out: str | Path, result: BaseModel, records: list[dict[str, Any]]) -> None:
    """``out/judgments.jsonl`` and ``out/results.json``, each written atomically."""
    write_jsonl(Path(out) / "judgments.jsonl", records)
    atomic_write_text(Path(out) / "results.json", result.model_dump_json(indent=2))


class JudgesRecord(Record):
    """What every combined judging record holds besides its statistics; each kind narrows ``kind``."""

    judges: list[dict[str, Any]]  # each judge's settings and backend fingerprint
    judgments: dict[str, int]  # ok / unparseable / failed / from_store, over all judges


class DimensionStats(BaseModel):
    mean: float | None  # every judge's score of every item of the run, each counted once
    ci: tuple[float, float] | None  # bootstrap over items (all judges' scores of a drawn item come with it)
    n_items: int
    n_scores: int | None = None  # judge x item scores behind the mean
    se: float | None = None  # cluster-robust (CR1) standard error, clustered by item
    signature: str | None = None


def clustered_mean(values: list[float], clusters: list, resampling: Resampling, name: str) -> dict[str, Any]:
    """Mean of ``values``, its bootstrap CI and cluster-robust SE with ``clusters`` (items) as the unit (none for < 2)."""
    array = np.asarray(values, dtype=float)
    n_items = len(set(map(str, clusters)))
    interval = percentile_interval(cluster_bootstrap_means(array, clusters, resampling), resampling.confidence) \
        if n_items > 1 else None
    return {"mean": float(array.mean()) if len(array) else None, "ci": interval,
            "se": cluster_se(array, clusters) if n_items > 1 else None,
            "signature": make_signature(name, ci=resampling.label(), resample=unit_label("item").replace(":", "="))}


class AgreementStats(BaseModel):
    krippendorff_alpha_ordinal: float | None
    fleiss_kappa: float | None
    n_items_all_judges: int
    note: str | None = None


class PanelResult(JudgesRecord):
    kind: Literal["rubric_panel"] = "rubric_panel"
    rubric: dict[str, Any]
    rubric_sha256: str
    order_seed: int
    runs: list[str]
    items: int
    scores: dict[str, dict[str, DimensionStats]]  # run label -> dimension -> stats (parsed verdicts)
    agreement: dict[str, AgreementStats]  # dimension -> inter-rater agreement across judges (parsed verdicts)
    scoring: dict[str, str] = {}  # field -> which scoring produced its numbers
    probability_judges: list[str] = []  # the judges whose prompts were also scored from log-likelihoods
    probability_scores: dict[str, dict[str, DimensionStats]] | None = None  # run -> dimension -> stats (G-Eval)
    probability_mass: dict[str, MassStats] | None = None  # dimension -> mean probability on the scale
    scoring_agreement: dict[str, ScoringAgreement] | None = None  # dimension -> parsed vs probability, item by item


def combine_panel(out: str | Path, judges: list[str]) -> PanelResult:
    """The panel record of the ``judge-rubric`` runs ``out/<judge>`` (and their probability scores where present);
    writes ``out/results.json`` and judgments."""
    runs = read_judge_runs(out, judges, "judge-rubric")
    meta, params = runs[0].metadata, runs[0].params
    dims = [d["name"] for d in meta["rubric"]["dimensions"]]
    parsed = [{**s, "judge": r.judge} for r in runs for s in r.samples if s["status"] == "ok"]
    records = judgments(runs, lambda key: _split_ref(key, meta["labels"]))
    probs = read_probability_runs(out, runs, "judge-rubric-probs")
    scored = [{**s, "judge": r.judge, "scores": s["probability_scores"]} for r in probs for s in r.samples]
    result = PanelResult(
        provenance=provenance(), rubric=meta["rubric"], rubric_sha256=params["rubric_sha256"],
        judges=[r.description() for r in runs], order_seed=params["seed"], runs=sorted(meta["labels"]),
        items=meta["items"], judgments=counts(runs), scores=_panel_scores(parsed, dims, params),
        agreement=_agreement(parsed, [s for r in runs for s in r.samples], judges, dims),
        scoring=scoring_notes(["scores", "agreement"], ["probability_scores"] if probs else []),
        probability_judges=[r.judge for r in probs],
        probability_scores=_panel_scores(scored, dims, params) if probs else None,
        probability_mass={d: mass_stats([s["mass"][d] for s in scored if d in s["mass"]]) for d in dims} if probs else None,
        scoring_agreement={d: scoring_agreement(parsed, scored, lambda s, d=d: s["scores"].get(d)) for d in dims}
        if probs else None,
    )
    write_combined(out, result, attach_probabilities(records, probs, ("probability_scores", "mass")))
    return result


def _panel_scores(parsed: list[dict], dims: list[str], params: dict) -> dict[str, dict[str, DimensionStats]]:
    """Per run and dimension: the mean of every judge's score (the mean over items of the judges' mean score when
    every judge scored every item), with a bootstrap CI and a standard error clustered by item."""
    resampling = Resampling(ci=True, n_boot=params["n_boot"], seed=params["seed"])
    out: dict[str, dict[str, DimensionStats]] = {}
    for label in sorted({s["label"] for s in parsed}):
        out[label] = {}
        for dim in dims:
            scored = [s for s in parsed if s["label"] == label and s["scores"].get(dim) is not None]
            items = [s["index"] for s in scored]
            stats = clustered_mean([s["scores"][dim] for s in scored], items, resampling, "panel_mean")
            out[label][dim] = DimensionStats(**stats, n_items=len(set(items)), n_scores=len(scored))
    return out


def _agreement(parsed: list[dict], answered: list[dict], judges: list[str], dims: list[str]) -> dict[str, AgreementStats]:
    """Per dimension: Krippendorff's alpha (ordinal) and Fleiss' kappa across judges over the items judged."""
    from evalsuite.errors import EvalsuiteError
    from evalsuite.metrics.judging.agreement import fleiss_kappa, krippendorff_alpha

    items = sorted({s["index"] for s in answered})
    grid = {(s["judge"], s["index"]): s["scores"] for s in parsed}
    out = {}
    for dim in dims:
        matrix = [[grid.get((j, i), {}).get(dim) for i in items] for j in judges]
        complete = [[row[k] for row in matrix] for k in range(len(items)) if all(row[k] is not None for row in matrix)]
        if len(judges) < 2:
            out[dim] = AgreementStats(krippendorff_alpha_ordinal=None, fleiss_kappa=None, n_items_all_judges=len(complete),
                                      note="agreement needs at least two judges")
            continue
        values, notes = {}, []
        for name, compute in (("alpha", lambda: krippendorff_alpha(matrix, level="ordinal")),
                              ("kappa", lambda: fleiss_kappa(complete) if complete else None)):
            try:
                value = compute()
            except (EvalsuiteError, ValueError, ZeroDivisionError) as exc:
                notes.append(f"{name}: {exc}")
                continue
            values[name] = float(value.value) if value is not None and np.isfinite(value.value) else None
        out[dim] = AgreementStats(krippendorff_alpha_ordinal=values.get("alpha"), fleiss_kappa=values.get("kappa"),
                                  n_items_all_judges=len(complete), note="; ".join(notes) or None)
    return out



class TurnScores(BaseModel):
    mean: float | None
    ci: tuple[float, float] | None
    n: int


class MTBenchScores(TurnScores):
    by_category: dict[str, float]
    by_turn: dict[str, TurnScores] = {}  # "1", "2"; ``mean`` pools both turns, as FastChat's "Average"
    se: float | None = None  # of the pooled mean, clustered by item (its two turns); ``ci`` likewise
    signature: str | None = None


def _mt_bench_scores(run: JudgeRun, label: str, field: str, params: dict) -> MTBenchScores:
    """One judge's scores of one run as its record has them, the pooled mean's CI and SE clustered by item."""
    scores = MTBenchScores(**run.record.scores.by_run[label].model_dump())
    rated = [s for s in run.samples if s.get("label") == label and s.get("status", "ok") == "ok" and s.get(field) is not None]
    if not rated:
        return scores
    resampling = Resampling(ci=True, n_boot=params["n_boot"], seed=params["seed"])
    stats = clustered_mean([s[field] for s in rated], [f"{s['prompt_id']}/{s['sample_index']}" for s in rated],
                           resampling, "mt_bench_mean")
    return scores.model_copy(update={"ci": stats["ci"], "se": stats["se"], "signature": stats["signature"]})


class MTBenchResult(JudgesRecord):
    kind: Literal["mt_bench_single"] = "mt_bench_single"
    templates_sha256: str
    turns: int = 1  # 2 when second turns were graded
    scores: dict[str, dict[str, MTBenchScores]]  # run -> judge -> scores (parsed verdicts)
    scoring: dict[str, str] = {}  # field -> which scoring produced its numbers
    probability_scores: dict[str, dict[str, MTBenchScores]] | None = None  # run -> judge -> scores (G-Eval)
    probability_mass: dict[str, MassStats] | None = None  # judge -> mean probability on the 1-10 scale
    scoring_agreement: ScoringAgreement | None = None  # parsed vs probability rating, grading by grading


def combine_mt_bench(out: str | Path, judges: list[str]) -> MTBenchResult:
    """The record of the ``judge-mt-bench`` runs ``out/<judge>`` (and their probability scores where present): each
    judge's ratings per run, pooled and per turn; writes it."""
    runs = read_judge_runs(out, judges, "judge-mt-bench")
    labels = runs[0].metadata["labels"]
    probs = read_probability_runs(out, runs, "judge-mt-bench-probs")
    parsed = [{**s, "judge": r.judge} for r in runs for s in r.samples if s["status"] == "ok"]
    scored = [{**s, "judge": r.judge} for r in probs for s in r.samples]
    result = MTBenchResult(
        provenance=provenance(), templates_sha256=runs[0].params["templates_sha256"],
        judges=[r.description() for r in runs], judgments=counts(runs), turns=runs[0].metadata.get("turns", 1),
        scores={label: {r.judge: _mt_bench_scores(r, label, "rating", r.params) for r in runs} for label in labels},
        scoring=scoring_notes(["scores"], ["probability_scores"] if probs else []),
        probability_scores={label: {r.judge: _mt_bench_scores(r, label, "probability_rating", runs[0].params) for r in probs}
                            for label in labels} if probs else None,
        probability_mass={r.judge: mass_stats([s["mass"] for s in r.samples]) for r in probs} if probs else None,
        scoring_agreement=scoring_agreement(parsed, scored, lambda s: s.get("rating", s.get("probability_rating")))
        if probs else None,
    )
    records = judgments(runs, lambda key: _split_ref(key, labels))
    write_combined(out, result, attach_probabilities(records, probs, ("probability_rating", "mass")))
    return result


register_result_kind("rubric_panel", PanelResult)
register_result_kind("mt_bench_single", MTBenchResult)
