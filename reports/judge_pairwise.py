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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.metrics.judging.length_control import LC_CI
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_import import LengthControlledStats, lc_stats
from evalsuite.reports.judge_runs import JudgeRun, JudgesRecord, counts, judgments, read_judge_runs, write_combined
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


class PairwiseResult(JudgesRecord):
    kind: Literal["pairwise_judging"] = "pairwise_judging"
    prompt_version: str
    runs: list[str]
    pairs: list[PairStats]
    unpaired_prompts: dict[str, int]
    bradley_terry: dict[str, Any] | None


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


def _length_controlled(rows: list[dict[str, Any]], resampling: Resampling) -> tuple[LengthControlledStats | None, str | None]:
    from evalsuite.metrics.judging.length_control import length_controlled_win_rate, outcome_preferences

    boot = Resampling(ci=True, n_boot=min(resampling.n_boot, LC_CI.n_boot), confidence=resampling.confidence,
                      seed=resampling.seed)
    try:
        lc = length_controlled_win_rate(outcome_preferences([r["combined"] for r in rows]),
                                        [r["len_baseline"] for r in rows], [r["len_candidate"] for r in rows],
                                        resampling=boot, length_unit="words")
    except DataError as exc:
        return None, str(exc)
    return lc_stats(lc), None


def _stats(base: str, cand: str, judge: str, rows: list[dict[str, Any]], resampling: Resampling) -> PairStats:
    from evalsuite.metrics.judging.pairwise import longer_answer_win_share, position_bias, win_rate

    combined = [r["combined"] for r in rows]
    w = win_rate(combined, resampling=resampling)
    bias = position_bias([r["first"] for r in rows], [r["second"] for r in rows])
    length = longer_answer_win_share(combined, [r["len_candidate"] for r in rows], [r["len_baseline"] for r in rows])
    finite = lambda x: None if x is None or x != x else float(x)  # noqa: E731  (NaN -> None)
    lc, lc_error = _length_controlled(rows, resampling)
    return PairStats(
        baseline=base, candidate=cand, judge=judge, win_rate=finite(w.value), standard_error=finite(w.standard_error),
        ci=None if w.ci is None or w.n == 0 else (float(w.ci[0]), float(w.ci[1])), wins=w.wins, ties=w.ties,
        losses=w.losses, n=w.n, unparseable_or_failed=w.unparseable,
        order_inconsistent_share=finite(bias.share_inconsistent), longer_answer_win_share=finite(length.share_longer_wins),
        length_controlled=lc, length_controlled_error=lc_error,
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
    """The record of the ``judge-pairwise`` runs ``out/<judge>``: win rates per judge and pooled; writes it."""
    runs = read_judge_runs(out, judges, "judge-pairwise")
    meta, params = runs[0].metadata, runs[0].params
    resampling = Resampling(ci=True, n_boot=params["n_boot"], seed=params["seed"])
    by_judge = {run.judge: list(pair_rows(run).values()) for run in runs}
    pairs = []
    for base, cand in meta["run_pairs"]:
        pooled = []
        for judge, rows in by_judge.items():
            mine = [r for r in rows if r["runs"] == (base, cand)]
            pooled += mine
            pairs.append(_stats(base, cand, judge, mine, resampling))
        if len(runs) > 1:
            pairs.append(_stats(base, cand, "all", pooled, resampling))
    every = [r for rows in by_judge.values() for r in rows]
    result = PairwiseResult(
        provenance=provenance(), prompt_version=meta["prompt_version"], judges=[r.description() for r in runs],
        runs=meta["runs"], pairs=pairs, unpaired_prompts=meta["unpaired_prompts"], judgments=counts(runs),
        bradley_terry=_bradley_terry(every, Resampling(ci=True, n_boot=min(resampling.n_boot, 200), seed=resampling.seed))
        if len(meta["runs"]) >= 3 else None,
    )
    records = judgments(runs, lambda key: _split_key(key, meta["run_pairs"]))
    write_combined(out, result, records)
    return result


register_result_kind("pairwise_judging", PairwiseResult)
