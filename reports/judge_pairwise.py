"""Pairwise A/B judging over judges: the ``judge-pairwise`` runs ``OUT/<judge>`` combined into one record.

Following published practice, a pair whose two orders disagree counts as a
tie; win rate = (wins + 0.5 ties) / n. Per pair of runs and judge (and, with
several judges, over all of them, ``judge == "all"``): the win rate with a
bootstrap interval, the share of order-inconsistent pairs (position bias) and
how often the longer answer won (length bias); with three or more runs,
Bradley–Terry strengths over every judge's verdicts. Each pair also gets
alpaca_eval's length-controlled win rate (its ``length_controlled_minimal`` GLM
on word lengths: our prompts have no published instruction difficulty), with
its coefficients and a bootstrap interval over prompts.

Where a judge's prompts were also scored from its log-likelihoods
(``OUT/<judge>/probability/``, task ``judge-pairwise-probs``), each pair also
gets the probability-weighted numbers (fields ``probability_*``): AlpacaEval's
soft win rate over the pairs' soft preferences (mean of both orders'
p(candidate) + 0.5 p(tie)) with a bootstrap interval, the mass on the three
verdicts, and the length-controlled win rate fitted on the soft preferences.
They exist where no verdict parses; ``scoring`` says which scoring produced
each field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.metrics.judging.length_control import LC_CI
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_import import LengthControlledStats, lc_stats
from evalsuite.reports.judge_runs import JudgeRun, JudgesRecord, counts, judgments, read_judge_runs, write_combined
from evalsuite.reports.judge_scoring import MassStats, mass_stats, read_probability_runs
from evalsuite.results import provenance, register_result_kind


class PairStats(BaseModel):
    baseline: str
    candidate: str
    judge: str  # a judge's name, or "all" (every judge's verdicts pooled)
    win_rate: float | None
    standard_error: float | None
    ci: tuple[float, float] | None
    wins: int
    ties: int
    losses: int
    n: int
    unparseable_or_failed: int
    order_inconsistent_share: float | None
    longer_answer_win_share: float | None
    length_controlled: LengthControlledStats | None = None
    length_controlled_error: str | None = None  # why there is none (too few parsed pairs, equal lengths)
    # Probability-weighted (judge-pairwise-probs), where the judge's prompts were scored from its log-likelihoods.
    probability_win_rate: float | None = None  # AlpacaEval's soft win rate: mean soft preference over pairs
    probability_standard_error: float | None = None
    probability_ci: tuple[float, float] | None = None
    probability_n: int | None = None  # pairs scored in both orders
    probability_missing: int | None = None  # pairs without both orders scored (excluded)
    probability_mass: MassStats | None = None  # probability on the three verdicts, per order
    probability_length_controlled: LengthControlledStats | None = None  # the GLM fitted on the soft preferences
    probability_length_controlled_error: str | None = None


class PairwiseResult(JudgesRecord):
    kind: Literal["pairwise_judging"] = "pairwise_judging"
    prompt_version: str
    runs: list[str]
    pairs: list[PairStats]
    unpaired_prompts: dict[str, int]
    bradley_terry: dict[str, Any] | None
    scoring: dict[str, str] = {}  # field -> which scoring produced its numbers
    probability_judges: list[str] = []  # the judges whose prompts were also scored from log-likelihoods


PARSED_NOTE = ("parsed: the [[A]]/[[B]]/[[C]] verdict the judge wrote, both orders combined (a disagreement is a tie), "
               "unparseable verdicts excluded")
PARSED_FIELDS = ["win_rate", "standard_error", "ci", "wins", "ties", "losses", "order_inconsistent_share",
                 "longer_answer_win_share", "length_controlled", "bradley_terry"]
PROBABILITY_FIELDS = ["probability_win_rate", "probability_standard_error", "probability_ci", "probability_mass",
                      "probability_length_controlled"]


def _split_key(key: str, run_pairs: list[list[str]]) -> dict[str, Any]:
    """A request key ``<baseline>|<candidate>|<prompt id>|<order>`` back into its parts."""
    pair, _, order = key.rpartition("|")
    for base, cand in run_pairs:
        if pair.startswith(f"{base}|{cand}|"):
            return {"pair": pair, "baseline": base, "candidate": cand, "prompt_id": pair[len(base) + len(cand) + 2:],
                    "order": int(order)}
    raise DataError(f"request key {key!r} names no pair of the runs judged ({run_pairs})")


def pair_rows(run: JudgeRun) -> dict[str, dict[str, Any]]:
    """Per judged pair: the runs, both orders' outcomes for the candidate (None: unparseable or failed), the lengths."""
    from evalsuite.metrics.judging.pairwise import combine_orders

    rows: dict[str, dict[str, Any]] = {}
    failed = [{**_split_key(f.key, run.metadata["run_pairs"]), "outcome_for_candidate": None} for f in run.record.failed]
    for s in run.samples + failed:
        row = rows.setdefault(s["pair"], {"runs": (s["baseline"], s["candidate"]), "orders": {}})
        row["orders"][s["order"]] = s["outcome_for_candidate"]
        row.setdefault("len_candidate", s.get("len_candidate", 0))
        row.setdefault("len_baseline", s.get("len_baseline", 0))
    for row in rows.values():
        row["first"], row["second"] = row["orders"].get(0), row["orders"].get(1)
        row["combined"] = combine_orders(row["first"], row["second"])
    return rows


def soft_rows(run: JudgeRun, parsed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per pair a probability run scored: both orders' soft preferences for the candidate, their masses, the pair's
    preference (mean of the two orders; None without both) and the lengths (from ``parsed``'s rows when missing)."""
    rows: dict[str, dict[str, Any]] = {}
    failed = [_split_key(f.key, run.metadata["run_pairs"]) for f in run.record.failed]
    for s in run.samples + failed:
        row = rows.setdefault(s["pair"], {"runs": (s["baseline"], s["candidate"]), "orders": {}, "mass": []})
        if "soft_preference" in s:
            row["orders"][s["order"]] = s["soft_preference"]
            row["mass"].append(s["mass"])
        known = s if "len_candidate" in s else parsed.get(s["pair"], {})
        row.setdefault("len_candidate", known.get("len_candidate", 0))
        row.setdefault("len_baseline", known.get("len_baseline", 0))
    for row in rows.values():
        both = [row["orders"][o] for o in (0, 1) if o in row["orders"]]
        row["preference"] = sum(both) / 2 if len(both) == 2 else None
    return rows


def _length_controlled(preferences: list[float | None], rows: list[dict[str, Any]],
                       resampling: Resampling) -> tuple[LengthControlledStats | None, str | None]:
    """alpaca_eval's minimal GLM on ``preferences`` (in [1, 2], None excluded) and the rows' word lengths."""
    from evalsuite.metrics.judging.length_control import length_controlled_win_rate

    boot = Resampling(ci=True, n_boot=min(resampling.n_boot, LC_CI.n_boot), confidence=resampling.confidence,
                      seed=resampling.seed)
    try:
        lc = length_controlled_win_rate(preferences, [r["len_baseline"] for r in rows],
                                        [r["len_candidate"] for r in rows], resampling=boot, length_unit="words")
    except DataError as exc:
        return None, str(exc)
    return lc_stats(lc), None


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x else float(x)  # NaN -> None


def _soft_stats(rows: list[dict[str, Any]], resampling: Resampling) -> dict[str, Any]:
    """The probability-weighted fields of a :class:`PairStats` from :func:`soft_rows` rows."""
    from evalsuite.metrics.bootstrap import mean_ci
    from evalsuite.metrics.judging.pairwise import soft_win_rate

    preferences = [None if r["preference"] is None else 1.0 + r["preference"] for r in rows]
    soft = soft_win_rate(preferences)
    values = np.array([p - 1.0 for p in preferences if p is not None], dtype=float)
    ci = mean_ci(values, resampling) if soft.n > 1 else None
    lc, lc_error = _length_controlled(preferences, rows, resampling)
    return {"probability_win_rate": _finite(soft.value), "probability_standard_error": _finite(soft.standard_error),
            "probability_ci": None if ci is None else (float(ci[0]), float(ci[1])), "probability_n": soft.n,
            "probability_missing": soft.unparseable, "probability_mass": mass_stats([m for r in rows for m in r["mass"]]),
            "probability_length_controlled": lc, "probability_length_controlled_error": lc_error}


def _stats(base: str, cand: str, judge: str, rows: list[dict[str, Any]], resampling: Resampling,
           soft: list[dict[str, Any]] | None = None) -> PairStats:
    from evalsuite.metrics.judging.length_control import outcome_preferences
    from evalsuite.metrics.judging.pairwise import longer_answer_win_share, position_bias, win_rate

    combined = [r["combined"] for r in rows]
    w = win_rate(combined, resampling=resampling)
    bias = position_bias([r["first"] for r in rows], [r["second"] for r in rows])
    length = longer_answer_win_share(combined, [r["len_candidate"] for r in rows], [r["len_baseline"] for r in rows])
    lc, lc_error = _length_controlled(outcome_preferences(combined), rows, resampling)
    return PairStats(
        baseline=base, candidate=cand, judge=judge, win_rate=_finite(w.value), standard_error=_finite(w.standard_error),
        ci=None if w.ci is None or w.n == 0 else (float(w.ci[0]), float(w.ci[1])), wins=w.wins, ties=w.ties,
        losses=w.losses, n=w.n, unparseable_or_failed=w.unparseable,
        order_inconsistent_share=_finite(bias.share_inconsistent), longer_answer_win_share=_finite(length.share_longer_wins),
        length_controlled=lc, length_controlled_error=lc_error, **(_soft_stats(soft, resampling) if soft is not None else {}),
    )


def _bradley_terry(rows: list[dict[str, Any]], resampling: Resampling) -> dict[str, Any]:
    from evalsuite.metrics.judging.pairwise import bradley_terry

    try:
        fit = bradley_terry([(r["runs"][1], r["runs"][0], r["combined"]) for r in rows], resampling=resampling)
    except DataError as exc:
        return {"error": str(exc)}
    return {"strengths": fit.strengths, "ratings": fit.ratings, "ci": fit.ci, "n_comparisons": fit.n_comparisons,
            "n_boot_failed": fit.n_boot_failed, "signature": fit.signature}


def combine_pairwise(out: str | Path, judges: list[str]) -> PairwiseResult:
    """The record of the ``judge-pairwise`` runs ``out/<judge>`` (and their probability runs where present): win
    rates per judge and pooled; writes it."""
    runs = read_judge_runs(out, judges, "judge-pairwise")
    meta, params = runs[0].metadata, runs[0].params
    resampling = Resampling(ci=True, n_boot=params["n_boot"], seed=params["seed"])
    parsed = {run.judge: pair_rows(run) for run in runs}
    by_judge = {judge: list(rows.values()) for judge, rows in parsed.items()}
    probs = read_probability_runs(out, runs, "judge-pairwise-probs")
    soft = {r.judge: list(soft_rows(r, parsed[r.judge]).values()) for r in probs}
    pairs = []
    for base, cand in meta["run_pairs"]:
        pooled, pooled_soft = [], []
        for judge, rows in by_judge.items():
            mine = [r for r in rows if r["runs"] == (base, cand)]
            mine_soft = [r for r in soft[judge] if r["runs"] == (base, cand)] if judge in soft else None
            pooled += mine
            pooled_soft += mine_soft or []
            pairs.append(_stats(base, cand, judge, mine, resampling, mine_soft))
        if len(runs) > 1:
            pairs.append(_stats(base, cand, "all", pooled, resampling, pooled_soft if soft else None))
    every = [r for rows in by_judge.values() for r in rows]
    scoring = {f: PARSED_NOTE for f in PARSED_FIELDS}
    if probs:
        scoring.update({f: probs[0].metadata["scoring"] for f in PROBABILITY_FIELDS})
    result = PairwiseResult(
        provenance=provenance(), prompt_version=meta["prompt_version"], judges=[r.description() for r in runs],
        runs=meta["runs"], pairs=pairs, unpaired_prompts=meta["unpaired_prompts"], judgments=counts(runs),
        bradley_terry=_bradley_terry(every, Resampling(ci=True, n_boot=min(resampling.n_boot, 200), seed=resampling.seed))
        if len(meta["runs"]) >= 3 else None, scoring=scoring, probability_judges=[r.judge for r in probs],
    )
    records = judgments(runs, lambda key: _split_key(key, meta["run_pairs"]))
    write_combined(out, result, _attach_soft(records, probs))
    return result


def _attach_soft(records: list[dict[str, Any]], probs: list[JudgeRun]) -> list[dict[str, Any]]:
    """Each verdict record with its order's soft preference, verdict probabilities and mass, where scored."""
    fields = ("soft_preference", "probabilities", "mass")
    by_key = {(r.judge, s["pair"], s["order"]): s for r in probs for s in r.samples}
    out = []
    for record in records:
        sample = by_key.get((record["judge"], record.get("pair"), record.get("order")))
        out.append({**record, **{f: sample[f] for f in fields}} if sample else record)
    return out


register_result_kind("pairwise_judging", PairwiseResult)
