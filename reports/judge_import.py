"""Win rates, biases and Bradley-Terry strengths of pairwise judgments made elsewhere.

:func:`import_judgments` reads an AlpacaEval ``annotations.json`` or a FastChat
``model_judgment/*_pair.jsonl`` (see :mod:`evalsuite.reports.judgments`) into a
typed :class:`JudgeImportResult` whose numbers reproduce what the source
projects print for the same file:

- AlpacaEval: soft win rate = mean(preference - 1) and the discrete win rate,
  standard errors with ddof=1 (``alpaca_eval.metrics``).
- Length-controlled win rate (AlpacaEval only): alpaca_eval's GLM
  (:mod:`evalsuite.metrics.judging.length_control`); ``length_controlled_v1``
  with the reference table ``df_gamed.csv``, ``length_controlled_minimal`` without.
- FastChat: a row with ``error`` in either order is dropped; a tie in the
  original order or a disagreement between the orders is a tie; a model's win
  rate pools every row it plays in, both turns together (``show_result.py``,
  ``win_rate_adjusted``). With a baseline only rows against it count and the
  baseline has no row of its own.

Unparseable verdicts are kept in ``judgments.jsonl``, counted, and excluded from every statistic.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from evalsuite.errors import ConfigError, DataError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import write_jsonl
from evalsuite.metrics.judging import (
    FLIP, LC_CI, WIN_RATE_CI, DifficultyTable, LengthControlled, bradley_terry, length_controlled_win_rate,
    longer_answer_win_share, position_bias, read_difficulty_table, soft_win_rate, win_rate,
)
from evalsuite.metrics.resampling import Resampling
from evalsuite.provenance import sha256_file
from evalsuite.reports.judgments import Judgment, read_alpaca_eval, read_mt_bench
from evalsuite.results import Record, load_result, provenance, register_result_kind

FORMATS = ("alpaca_eval", "mt_bench")
BRADLEY_TERRY_MAX_BOOT = 200  # each resample is a full Newton fit


class WinRateStats(BaseModel):
    win_rate: float | None  # (wins + 0.5 ties) / n
    standard_error: float | None
    ci: tuple[float | None, float | None] | None
    wins: int
    ties: int
    losses: int
    n: int
    unparseable: int
    win_only_rate: float | None  # wins / n (FastChat's win_rate column)
    loss_rate: float | None


class SoftWinRateStats(BaseModel):
    soft_win_rate: float | None
    standard_error: float | None
    discrete_win_rate: float | None
    discrete_standard_error: float | None
    n_wins: int
    n_wins_base: int
    n_draws: int
    n: int
    unparseable: int


class PositionBiasStats(BaseModel):
    share_inconsistent: float | None
    inconsistent: int
    n_pairs: int
    first_position_favoured: int
    second_position_favoured: int


class LengthBiasStats(BaseModel):
    share_longer_wins: float | None
    longer_wins: int
    n_decisive: int
    length_unit: str = "characters"


class LengthControlledStats(BaseModel):
    """A length-controlled win rate (fraction), its GLM and interval; see ``metrics.judging.length_control``."""

    value: float | None
    standard_error: float | None  # alpaca_eval's lc_standard_error: SE of the predicted preferences
    ci: tuple[float | None, float | None] | None  # bootstrap over comparisons, GLM refitted per resample
    coefficients: dict[str, float]
    regularization_c: float
    glm: str
    win_rate: float | None  # the uncontrolled soft win rate it is compared with
    extreme_change: bool
    n: int
    n_fit: int
    unparseable: int
    length_unit: str
    signature: str


def lc_stats(lc: LengthControlled) -> LengthControlledStats:
    """The record form of a :class:`LengthControlled` (NaN -> None)."""
    fields = {k: getattr(lc, k) for k in LengthControlledStats.model_fields}
    fields.update(value=_f(lc.value), standard_error=_f(lc.standard_error), win_rate=_f(lc.win_rate),
                  ci=None if lc.ci is None else (_f(lc.ci[0]), _f(lc.ci[1])))
    return LengthControlledStats(**fields)


class ModelSummary(BaseModel):
    model: str
    win_rate: WinRateStats
    soft: SoftWinRateStats | None = None
    position_bias: PositionBiasStats | None = None
    length_bias: LengthBiasStats | None = None
    length_controlled: LengthControlledStats | None = None  # AlpacaEval
    length_controlled_error: str | None = None  # why there is none (e.g. too few comparisons)
    per_opponent: dict[str, WinRateStats] = {}
    per_turn: dict[str, WinRateStats] = {}  # MT-Bench; FastChat's table pools both turns


class BradleyTerryStats(BaseModel):
    strengths: dict[str, float]
    ci: dict[str, tuple[float | None, float | None]] | None
    ratings: dict[str, float]
    n_comparisons: int
    n_boot_failed: int
    signature: str


class JudgeImportResult(Record):
    """The record ``evalsuite judge import`` writes as ``results.json``; rates are fractions in [0, 1]."""

    kind: Literal["judge_import"] = "judge_import"
    scale: Literal["fraction"] = "fraction"  # AlpacaEval and FastChat print these x100
    format: str
    source: str
    source_sha256: str
    baseline: str | None
    judges: list[str]
    records: int
    unparseable: int
    skipped_without_baseline: int
    models: dict[str, ModelSummary]
    position_bias: PositionBiasStats | None = None
    bradley_terry: BradleyTerryStats | None = None
    bradley_terry_error: str | None = None
    signatures: dict[str, str]
    resampling: dict[str, Any]  # ci, n_boot, confidence, seed of the intervals


register_result_kind("judge_import", JudgeImportResult)


def _f(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _win_stats(outcomes: list, resampling: Resampling) -> WinRateStats:
    w = win_rate(outcomes, resampling=resampling)
    return WinRateStats(
        win_rate=_f(w.value), standard_error=_f(w.standard_error),
        ci=None if w.ci is None else (_f(w.ci[0]), _f(w.ci[1])),
        wins=w.wins, ties=w.ties, losses=w.losses, n=w.n, unparseable=w.unparseable,
        win_only_rate=_f(w.win_only_rate), loss_rate=_f(w.loss_rate),
    )


def _soft_stats(judgments: list[Judgment]) -> SoftWinRateStats:
    s = soft_win_rate([j.preference for j in judgments])
    return SoftWinRateStats(
        soft_win_rate=_f(s.value), standard_error=_f(s.standard_error), discrete_win_rate=_f(s.discrete_value),
        discrete_standard_error=_f(s.discrete_standard_error), n_wins=s.n_wins, n_wins_base=s.n_wins_base,
        n_draws=s.n_draws, n=s.n, unparseable=s.unparseable,
    )


def _length_stats(judgments: list[Judgment]) -> LengthBiasStats:
    lb = longer_answer_win_share([j.outcome for j in judgments], [j.model_chars for j in judgments],
                                 [j.opponent_chars for j in judgments])
    return LengthBiasStats(share_longer_wins=_f(lb.share_longer_wins), longer_wins=lb.longer_wins, n_decisive=lb.n_decisive)


def _position_stats(judgments: list[Judgment]) -> PositionBiasStats | None:
    both = [j for j in judgments if j.raw.get("g2_winner") is not None]
    if not both:
        return None
    p = position_bias([j.order1 for j in both], [j.order2 for j in both])
    return PositionBiasStats(share_inconsistent=_f(p.share_inconsistent), inconsistent=p.inconsistent, n_pairs=p.n_pairs,
                             first_position_favoured=p.first_position_favoured,
                             second_position_favoured=p.second_position_favoured)


def _sides(judgments: list[Judgment], baseline: str | None) -> dict[str, list[tuple[Judgment, str, str | None]]]:
    """Each model's (judgment, opponent, outcome) list: every row counts for both sides, the baseline has no row."""
    sides: dict[str, list] = {}
    for j in judgments:
        sides.setdefault(j.model, []).append((j, j.opponent, j.outcome))
        if baseline is None:
            sides.setdefault(j.opponent, []).append((j, j.model, FLIP[j.outcome]))
    return {m: v for m, v in sides.items() if m != baseline}


def _length_controlled(judgments: list[Judgment], table: DifficultyTable | None, resampling: Resampling):
    """The LC win rate of one model against the baseline, or why it has none (unmatched instructions raise)."""
    lc_boot = dataclasses.replace(resampling, n_boot=min(resampling.n_boot, LC_CI.n_boot))
    try:
        lc = length_controlled_win_rate(
            [j.preference for j in judgments], [j.opponent_chars for j in judgments], [j.model_chars for j in judgments],
            instructions=[j.item for j in judgments], table=table, resampling=lc_boot)
    except DataError as exc:
        if table is not None and "not in the difficulty table" in str(exc):
            raise
        return None, str(exc)
    return lc_stats(lc), None


def _model_summary(model: str, plays: list, fmt: str, resampling: Resampling,
                   table: DifficultyTable | None = None) -> ModelSummary:
    own = [j for j, _, _ in plays]
    summary = ModelSummary(model=model, win_rate=_win_stats([o for _, _, o in plays], resampling))
    if fmt == "alpaca_eval":
        summary.soft = _soft_stats(own)
        summary.length_bias = _length_stats(own)
        summary.length_controlled, summary.length_controlled_error = _length_controlled(own, table, resampling)
        return summary
    summary.position_bias = _position_stats(own)
    for opp in sorted({o for _, o, _ in plays}):
        summary.per_opponent[opp] = _win_stats([out for _, o, out in plays if o == opp], resampling)
    for turn in sorted({j.turn for j in own if j.turn is not None}):
        summary.per_turn[str(turn)] = _win_stats([out for j, _, out in plays if j.turn == turn], resampling)
    return summary


def _bradley_terry(judgments: list[Judgment], resampling: Resampling) -> tuple[BradleyTerryStats | None, str | None]:
    """The fit over every comparison with three or more models, or why there is none."""
    names = {j.model for j in judgments} | {j.opponent for j in judgments}
    if len(names) < 3:
        return None, None
    fewer = dataclasses.replace(resampling, n_boot=min(resampling.n_boot, BRADLEY_TERRY_MAX_BOOT))
    try:
        fit = bradley_terry([(j.model, j.opponent, j.outcome) for j in judgments], resampling=fewer)
    except DataError as exc:
        return None, str(exc)
    ci = None if fit.ci is None else {m: (_f(lo), _f(hi)) for m, (lo, hi) in fit.ci.items()}
    return BradleyTerryStats(strengths=fit.strengths, ratings=fit.ratings, n_comparisons=fit.n_comparisons,
                             n_boot_failed=fit.n_boot_failed, signature=fit.signature, ci=ci), None


def summarize(
    judgments: list[Judgment], *, fmt: str, source: str | Path, baseline: str | None, skipped: int,
    resampling: Resampling = WIN_RATE_CI, lc_table: DifficultyTable | None = None,
) -> JudgeImportResult:
    """The typed results record for imported judgments; Bradley-Terry and LC use at most 200 of the resamples."""
    models = {model: _model_summary(model, plays, fmt, resampling, lc_table)
              for model, plays in sorted(_sides(judgments, baseline).items())}
    bt, bt_error = _bradley_terry(judgments, resampling)
    signatures = {"win_rate": win_rate([], resampling=resampling).signature}
    if fmt == "alpaca_eval":
        signatures["soft_win_rate"] = soft_win_rate([]).signature
    return JudgeImportResult(
        provenance=provenance(), format=fmt, source=str(source), source_sha256=sha256_file(source), baseline=baseline,
        judges=sorted({j.judge for j in judgments if j.judge}), records=len(judgments) + skipped,
        unparseable=sum(j.outcome is None for j in judgments), skipped_without_baseline=skipped, models=models,
        position_bias=_position_stats(judgments) if fmt == "mt_bench" else None,
        bradley_terry=bt, bradley_terry_error=bt_error, signatures=signatures,
        resampling=dataclasses.asdict(resampling),
    )


def read_lc_table(table: str | Path, instructions: str | Path) -> DifficultyTable:
    """AlpacaEval's ``df_gamed.csv`` with the instruction list (a JSON list of ``{instruction}`` objects or strings)."""
    try:
        items = json.loads(Path(instructions).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{instructions}: cannot read the instruction list as JSON ({exc})") from exc
    texts = [i.get("instruction") if isinstance(i, dict) else i for i in items] if isinstance(items, list) else None
    if texts is None or not all(isinstance(t, str) for t in texts):
        raise DataError(f"{instructions}: expected a JSON list of instruction strings or objects with 'instruction'")
    return read_difficulty_table(table, texts)


def import_judgments(
    path: str | Path, fmt: str, *, baseline: str | None = None, resampling: Resampling = WIN_RATE_CI,
    lc_table: DifficultyTable | None = None,
) -> tuple[JudgeImportResult, list[Judgment]]:
    """Read a judgment file of format ``fmt`` (``alpaca_eval`` or ``mt_bench``) and summarize it.

    Returns the record and the judgments it was computed from; a file with no
    comparison (involving the baseline) is an error. ``lc_table`` (AlpacaEval
    only) makes the length-controlled win rate AlpacaEval 2's ``length_controlled_v1``.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}")
    if lc_table is not None and fmt != "alpaca_eval":
        raise ConfigError("a length-control difficulty table applies to AlpacaEval annotations only")
    if fmt == "alpaca_eval":
        judgments, baseline, skipped = read_alpaca_eval(path, baseline)
    else:
        judgments, skipped = read_mt_bench(path, baseline)
    if not judgments:
        raise DataError(f"{path}: no comparisons" + (f" involving the baseline {baseline!r}" if baseline else ""))
    result = summarize(judgments, fmt=fmt, source=path, baseline=baseline, skipped=skipped, resampling=resampling,
                       lc_table=lc_table)
    return result, judgments


def write_run(out: str | Path, result: JudgeImportResult, judgments: list[Judgment]) -> None:
    """Write ``OUT/results.json`` and ``OUT/judgments.jsonl`` atomically."""
    atomic_write_text(Path(out, "results.json"), result.model_dump_json(indent=2) + "\n")
    write_jsonl(Path(out, "judgments.jsonl"), (j.model_dump(mode="json") for j in judgments))


def load_judge_run(out: str | Path) -> JudgeImportResult:
    """The record in ``OUT/results.json``, read through :func:`evalsuite.results.load_result`."""
    record = load_result(out)
    if not isinstance(record, JudgeImportResult):
        raise DataError(f"{out}: field 'kind': expected a judge_import record, got {record.kind!r}")  # type: ignore[attr-defined]
    return record
