"""Import pairwise judgments made elsewhere: AlpacaEval annotations and FastChat MT-Bench judgments.

Both become :class:`Judgment` records (one per comparison, seen from the
evaluated model's side) and a typed :class:`JudgeImportResult` whose numbers
reproduce what the source projects print for the same file:

- AlpacaEval ``annotations.json``: soft win rate = mean(preference - 1) and
  the discrete win rate, standard errors with ddof=1 (``alpaca_eval.metrics``).
  The baseline is ``generator_1`` unless ``baseline`` names it.
- FastChat ``model_judgment/*_pair.jsonl``: a row with ``error`` in either
  order is dropped; a tie in the original order or a disagreement between the
  orders is a tie; a model's win rate pools every row it plays in, both
  turns together (``show_result.py``, ``win_rate_adjusted``). With a baseline
  only rows against it count and the baseline has no row of its own.

Unparseable verdicts (null/missing/out-of-range preference, ``error``) are
kept in ``judgments.jsonl``, counted, and excluded from every statistic.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.judging.pairwise import (
    FLIP, LOSS, TIE, WIN, bradley_terry, combine_orders, longer_answer_win_share, position_bias,
    preference_value, soft_win_rate, win_rate,
)
from evalsuite.provenance import GitState, git_state, package_versions, sha256_file
from evalsuite.results import atomic_write_text, write_jsonl

FORMATS = ("alpaca_eval", "mt_bench")
SCHEMA_VERSION = 1
Outcome = Literal["win", "tie", "loss"]
_MT_WINNERS = {"model_1": WIN, "model_2": LOSS, "tie": TIE, "error": None}


class Judgment(BaseModel):
    """One comparison. ``outcome`` is from ``model``'s side; None means unparseable (see ``unparseable``)."""

    index: int  # 0-based position of the record in the source file
    item: str  # AlpacaEval instruction or MT-Bench question_id
    turn: int | None = None
    model: str
    opponent: str
    outcome: Outcome | None
    preference: float | None = None  # AlpacaEval, oriented so that 2 = ``model`` better
    first_shown: str | None = None  # MT-Bench: the side shown first in the original order
    order1: Outcome | None = None  # ...its outcome in the original order
    order2: Outcome | None = None  # ...and in the swapped order (None: unparseable or not run)
    model_chars: int | None = None
    opponent_chars: int | None = None
    judge: str | None = None
    raw: dict[str, Any]  # the verdict fields exactly as read
    unparseable: str | None = None


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


class ModelSummary(BaseModel):
    model: str
    win_rate: WinRateStats
    soft: SoftWinRateStats | None = None
    position_bias: PositionBiasStats | None = None
    length_bias: LengthBiasStats | None = None
    per_opponent: dict[str, WinRateStats] = {}
    per_turn: dict[str, WinRateStats] = {}  # MT-Bench; FastChat's table pools both turns


class BradleyTerryStats(BaseModel):
    strengths: dict[str, float]
    ci: dict[str, tuple[float | None, float | None]] | None
    ratings: dict[str, float]
    n_comparisons: int
    n_boot_failed: int
    signature: str


class JudgeImportResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["judge_import"] = "judge_import"
    scale: Literal["fraction"] = "fraction"  # rates in [0, 1]; AlpacaEval and FastChat print them x100
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
    bootstrap: dict[str, float]
    git: GitState
    packages: dict[str, str]
    created: str


def _f(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _where(path: Path, index: int, field: str | None = None) -> str:
    return f"{path}: record {index}" + (f", field {field!r}" if field else "")


def _text_field(path: Path, index: int, record: dict, field: str) -> str:
    if field not in record:
        raise DataError(f"{_where(path, index, field)} is missing; AlpacaEval annotations need instruction, "
                        "output_1, output_2, generator_1, generator_2 and preference")
    value = record[field]
    if not isinstance(value, str):
        raise DataError(f"{_where(path, index, field)} should be a string, got {type(value).__name__} {value!r:.60}")
    return value


def read_alpaca_eval(path: str | Path, baseline: str | None = None) -> tuple[list[Judgment], str, int]:
    """Judgments from an AlpacaEval ``annotations.json``, the baseline used, and how many records were skipped."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read AlpacaEval annotations as JSON ({exc})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path}: expected a JSON list of annotation objects, got {type(records).__name__}")
    rows = []
    for i, r in enumerate(records):
        fields = {f: _text_field(path, i, r, f) for f in ("instruction", "output_1", "output_2", "generator_1", "generator_2")}
        if fields["generator_1"] == fields["generator_2"]:
            raise DataError(f"{_where(path, i)}: generator_1 and generator_2 are both {fields['generator_1']!r}")
        pref = r.get("preference")
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
            raise DataError(f"{_where(path, i, 'preference')} should be a number in [1, 2] or null, got {pref!r:.60}")
        rows.append((i, r, fields, pref))
    if baseline is None:
        firsts = sorted({f["generator_1"] for _, _, f, _ in rows})
        if len(firsts) != 1:
            raise ConfigError(f"{path}: generator_1 takes {len(firsts)} values {firsts[:5]}; name the baseline with --baseline")
        baseline = firsts[0]
    judgments, skipped = [], 0
    for i, r, f, pref in rows:
        if baseline not in (f["generator_1"], f["generator_2"]):
            skipped += 1
            continue
        swapped = f["generator_1"] != baseline  # the evaluated model is output_1: mirror the preference
        value = preference_value(pref)
        if value is not None and swapped:
            value = 3 - value
        outcome = None if value is None else (TIE if value == 1.5 else WIN if value > 1.5 else LOSS)
        model_out, base_out = (f["output_1"], f["output_2"]) if swapped else (f["output_2"], f["output_1"])
        judge = r.get("annotator")
        judgments.append(Judgment(
            index=i, item=f["instruction"], model=f["generator_1"] if swapped else f["generator_2"], opponent=baseline,
            outcome=outcome, preference=value, model_chars=len(model_out), opponent_chars=len(base_out),
            judge=judge if isinstance(judge, str) else None, raw={"preference": pref},
            unparseable=None if value is not None else f"preference {pref!r} is not a number in [1, 2]",
        ))
    return judgments, baseline, skipped


def _mt_winner(path: Path, line: int, record: dict, field: str) -> str | None:
    value = record[field]
    if value not in _MT_WINNERS:
        raise DataError(f"{_where(path, line, field)} is {value!r:.60}; FastChat writes model_1, model_2, tie or error")
    return _MT_WINNERS[value]


def read_mt_bench(path: str | Path, baseline: str | None = None) -> tuple[list[Judgment], int]:
    """Judgments from a FastChat pairwise judgment JSONL (records are 0-based lines) and rows skipped for the baseline."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read MT-Bench judgments ({exc})") from exc
    judgments, skipped = [], 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{_where(path, i)} (line {i + 1}) is not valid JSON: {exc}") from exc
        if not isinstance(r, dict):
            raise DataError(f"{_where(path, i)} (line {i + 1}) is a JSON {type(r).__name__}, not an object; "
                            "FastChat pairwise judgments are JSONL, one object a line")
        for field in ("question_id", "model_1", "model_2", "g1_winner"):
            if field not in r:
                raise DataError(f"{_where(path, i, field)} is missing; FastChat pairwise judgments have "
                                "question_id, model_1, model_2, g1_winner, g2_winner, judge, turn")
        m1, m2 = str(r["model_1"]), str(r["model_2"])
        if m1 == m2:
            raise DataError(f"{_where(path, i)}: model_1 and model_2 are both {m1!r}")
        if baseline is not None and baseline not in (m1, m2):
            skipped += 1
            continue
        g1 = _mt_winner(path, i, r, "g1_winner")
        g2 = _mt_winner(path, i, r, "g2_winner") if r.get("g2_winner") is not None else None
        # FastChat: an error in either order drops the row; otherwise a disagreement is a tie.
        combined = combine_orders(g1, g2) if r.get("g2_winner") is not None else g1
        bad = [f for f in ("g1_winner", "g2_winner") if r.get(f) == "error"]
        turn = r.get("turn")
        if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int)):
            raise DataError(f"{_where(path, i, 'turn')} should be an integer (1 or 2), got {turn!r:.60}")
        flip = baseline is not None and m1 == baseline  # orient to the evaluated model
        judge = r.get("judge")
        judgments.append(Judgment(
            index=i, item=str(r["question_id"]), turn=turn,
            model=m2 if flip else m1, opponent=m1 if flip else m2, outcome=FLIP[combined] if flip else combined,
            first_shown=m1, order1=g1, order2=g2,
            judge=" / ".join(map(str, judge)) if isinstance(judge, list) else (str(judge) if judge is not None else None),
            raw={"g1_winner": r["g1_winner"], "g2_winner": r.get("g2_winner")},
            unparseable=f"{' and '.join(bad)} is error" if bad else None,
        ))
    return judgments, skipped


def _win_stats(outcomes: list, ci_args: dict) -> WinRateStats:
    w = win_rate(outcomes, **ci_args)
    return WinRateStats(
        win_rate=_f(w.value), standard_error=_f(w.standard_error),
        ci=None if w.ci is None else (_f(w.ci[0]), _f(w.ci[1])),
        wins=w.wins, ties=w.ties, losses=w.losses, n=w.n, unparseable=w.unparseable,
        win_only_rate=_f(w.win_only_rate), loss_rate=_f(w.loss_rate),
    )


def _position_stats(judgments: list[Judgment]) -> PositionBiasStats | None:
    both = [j for j in judgments if j.raw.get("g2_winner") is not None]
    if not both:
        return None
    p = position_bias([j.order1 for j in both], [j.order2 for j in both])
    return PositionBiasStats(share_inconsistent=_f(p.share_inconsistent), inconsistent=p.inconsistent, n_pairs=p.n_pairs,
                             first_position_favoured=p.first_position_favoured,
                             second_position_favoured=p.second_position_favoured)


def _sides(judgments: list[Judgment], baseline: str | None) -> dict[str, list[tuple[Judgment, str, str | None]]]:
    """Each model's (opponent, outcome) list: every row counts for both sides, the baseline has no row."""
    sides: dict[str, list] = {}
    for j in judgments:
        sides.setdefault(j.model, []).append((j, j.opponent, j.outcome))
        if baseline is None:
            sides.setdefault(j.opponent, []).append((j, j.model, FLIP[j.outcome]))
    return {m: v for m, v in sides.items() if m != baseline}


def summarize(
    judgments: list[Judgment], *, fmt: str, source: str | Path, baseline: str | None, skipped: int,
    n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
) -> JudgeImportResult:
    """The typed results record for imported judgments."""
    ci_args = {"n_boot": n_boot, "confidence": confidence, "seed": seed}
    models = {}
    for model, plays in sorted(_sides(judgments, baseline).items()):
        own = [j for j, _, _ in plays]
        summary = ModelSummary(model=model, win_rate=_win_stats([o for _, _, o in plays], ci_args))
        if fmt == "alpaca_eval":
            s = soft_win_rate([j.preference for j in own])
            summary.soft = SoftWinRateStats(
                soft_win_rate=_f(s.value), standard_error=_f(s.standard_error), discrete_win_rate=_f(s.discrete_value),
                discrete_standard_error=_f(s.discrete_standard_error), n_wins=s.n_wins, n_wins_base=s.n_wins_base,
                n_draws=s.n_draws, n=s.n, unparseable=s.unparseable,
            )
            lb = longer_answer_win_share([j.outcome for j in own], [j.model_chars for j in own], [j.opponent_chars for j in own])
            summary.length_bias = LengthBiasStats(share_longer_wins=_f(lb.share_longer_wins), longer_wins=lb.longer_wins,
                                                  n_decisive=lb.n_decisive)
        else:
            summary.position_bias = _position_stats(own)
            for opp in sorted({o for _, o, _ in plays}):
                summary.per_opponent[opp] = _win_stats([out for _, o, out in plays if o == opp], ci_args)
            for turn in sorted({j.turn for j in own if j.turn is not None}):
                summary.per_turn[str(turn)] = _win_stats([out for j, _, out in plays if j.turn == turn], ci_args)
        models[model] = summary

    bt, bt_error = None, None
    names = {j.model for j in judgments} | {j.opponent for j in judgments}
    if len(names) >= 3:
        try:
            fit = bradley_terry([(j.model, j.opponent, j.outcome) for j in judgments], n_boot=min(n_boot, 200),
                                confidence=confidence, seed=seed)
            bt = BradleyTerryStats(strengths=fit.strengths, ratings=fit.ratings, n_comparisons=fit.n_comparisons,
                                   n_boot_failed=fit.n_boot_failed, signature=fit.signature,
                                   ci={m: (_f(lo), _f(hi)) for m, (lo, hi) in fit.ci.items()})
        except DataError as exc:
            bt_error = str(exc)

    signatures = {"win_rate": win_rate([], **ci_args).signature}
    if fmt == "alpaca_eval":
        signatures["soft_win_rate"] = soft_win_rate([]).signature
    return JudgeImportResult(
        format=fmt, source=str(source), source_sha256=sha256_file(source), baseline=baseline,
        judges=sorted({j.judge for j in judgments if j.judge}), records=len(judgments) + skipped,
        unparseable=sum(j.outcome is None for j in judgments), skipped_without_baseline=skipped, models=models,
        position_bias=_position_stats(judgments) if fmt == "mt_bench" else None,
        bradley_terry=bt, bradley_terry_error=bt_error, signatures=signatures,
        bootstrap={"n_boot": n_boot, "confidence": confidence, "seed": seed},
        git=git_state(), packages=package_versions(("evalsuite", "numpy", "pydantic")),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def import_judgments(
    path: str | Path, fmt: str, *, baseline: str | None = None, n_boot: int = 1000, confidence: float = 0.95,
    seed: int = 0,
) -> tuple[JudgeImportResult, list[Judgment]]:
    """Read a judgment file of format ``fmt`` (``alpaca_eval`` or ``mt_bench``) and summarize it."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "alpaca_eval":
        judgments, baseline, skipped = read_alpaca_eval(path, baseline)
    else:
        judgments, skipped = read_mt_bench(path, baseline)
    if not judgments:
        raise DataError(f"{path}: no comparisons" + (f" involving the baseline {baseline!r}" if baseline else ""))
    result = summarize(judgments, fmt=fmt, source=path, baseline=baseline, skipped=skipped,
                       n_boot=n_boot, confidence=confidence, seed=seed)
    return result, judgments


def write_run(out: str | Path, result: JudgeImportResult, judgments: list[Judgment]) -> None:
    """Write ``OUT/results.json`` and ``OUT/judgments.jsonl`` atomically."""
    atomic_write_text(Path(out, "results.json"), result.model_dump_json(indent=2) + "\n")
    write_jsonl(Path(out, "judgments.jsonl"), (j.model_dump(mode="json") for j in judgments))


def load_judge_run(out: str | Path) -> JudgeImportResult:
    return JudgeImportResult.model_validate_json(Path(out, "results.json").read_text(encoding="utf-8"))
