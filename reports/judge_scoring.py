"""Two scorings of one judge's prompts side by side: the parsed verdict and the probability-weighted score.

The probability runs (``OUT/<judge>/probability/``, tasks ``judge-rubric-probs`` and
``judge-mt-bench-probs``) are read beside the judges' verdict runs; every
combined number says which scoring produced it (:func:`scoring_notes`), and
:func:`scoring_agreement` measures, over the (judge, item) pairs where both
exist, how the two agree (Pearson and Spearman), with the counts of pairs that
have only one of them (an unparseable verdict has only the probability score).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.jsonl import read_jsonl
from evalsuite.registry import TASKS
from evalsuite.results import load_run

PROBABILITY_DIR = "probability"  # tasks.judging.judges writes each judge's probability run there
PARSED = "parsed: the score the judge wrote in its generated verdict (unparseable verdicts excluded)"
PROBABILITY = ("probability-weighted (G-Eval): sum over the scale of score x p(score), renormalised over the scale; "
               "p from the judge's log-likelihood of each '<score>]]' where its answer writes the score")


class ScoringAgreement(BaseModel):
    """Parsed vs probability-weighted scores over the (judge, item) pairs that have both."""

    pearson: float | None
    spearman: float | None
    n_both: int
    n_parsed_only: int
    n_probability_only: int
    note: str | None = None


class MassStats(BaseModel):
    """The probability the judge put on the scale's points: mean and smallest over scored items."""

    mean: float | None
    min: float | None
    n_items: int


def scoring_notes(parsed_fields: list[str], probability_fields: list[str]) -> dict[str, str]:
    """Which scoring produced each field of a combined record."""
    return {**{f: PARSED for f in parsed_fields}, **{f: PROBABILITY for f in probability_fields}}


def read_probability_runs(out: str | Path, runs: list, task: str) -> list:
    """The probability runs ``out/<judge>/probability`` of the judges that have one, as ``JudgeRun``s.

    An error when one scored other answers or settings than its judge's verdict run.
    """
    from evalsuite.reports.judge_runs import JudgeRun

    TASKS.get(task)  # registers the score model load_run needs
    found = []
    for run in runs:
        folder = Path(out) / run.judge / PROBABILITY_DIR
        if not (folder / "results.json").is_file():
            continue
        record = load_run(folder)
        if record.task.name != task:
            raise DataError(f"{folder / 'results.json'}: field 'task.name': expected {task!r}, got {record.task.name!r}")
        mine = {k: v for k, v in record.task.params_resolved.items() if not k.startswith("judge_") and k != "prompt_format"}
        theirs = {k: v for k, v in run.params.items() if not k.startswith("judge_")}
        if mine != theirs:
            raise DataError(f"{folder}: scored other answers or settings than {Path(out) / run.judge}; rerun both")
        samples = read_jsonl(folder / "samples.jsonl") if (folder / "samples.jsonl").is_file() else []
        found.append(JudgeRun(run.judge, record, samples))
    return found


def mass_stats(masses: list[float]) -> MassStats:
    return MassStats(mean=float(np.mean(masses)) if masses else None, min=float(min(masses)) if masses else None,
                     n_items=len(masses))


def scoring_agreement(parsed: list[dict], scored: list[dict], value: Callable[[dict], float | None]) -> ScoringAgreement:
    """Pearson and Spearman correlation of ``value`` between parsed and probability samples of the same (judge, item)."""
    from scipy.stats import pearsonr, spearmanr

    left = {(s["judge"], s["item"]): value(s) for s in parsed}
    right = {(s["judge"], s["item"]): value(s) for s in scored}
    left = {k: v for k, v in left.items() if v is not None}
    right = {k: v for k, v in right.items() if v is not None}
    both = sorted(left.keys() & right.keys())
    x, y = np.array([left[k] for k in both], float), np.array([right[k] for k in both], float)
    counts = {"n_both": len(both), "n_parsed_only": len(left.keys() - right.keys()),
              "n_probability_only": len(right.keys() - left.keys())}
    if len(both) < 3:
        return ScoringAgreement(pearson=None, spearman=None, **counts,
                                note=f"correlation needs at least 3 items with both scores, got {len(both)}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return ScoringAgreement(pearson=None, spearman=None, **counts,
                                note="undefined: one scoring gives every item the same score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ScoringAgreement(pearson=float(pearsonr(x, y)[0]), spearman=float(spearmanr(x, y)[0]), **counts)


def attach_probabilities(records: list[dict[str, Any]], probs: list, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each judgment record with ``fields`` of the same judge's probability sample for its item, where there is one."""
    by_key = {(r.judge, s["item"]): s for r in probs for s in r.samples}
    out = []
    for record in records:
        sample = by_key.get((record["judge"], record.get("item")))
        out.append({**record, **{f: sample[f] for f in fields}} if sample else record)
    return out
