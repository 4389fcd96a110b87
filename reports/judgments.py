"""Read pairwise judgments made elsewhere: AlpacaEval annotations and FastChat MT-Bench judgments.

Both become :class:`Judgment` records, one per comparison, seen from the
evaluated model's side. Nothing is guessed: a verdict that cannot be read
(null, missing or out-of-range preference, ``error``) keeps its outcome None
and says why in ``unparseable``; a malformed record is an error naming the
file, the record and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from evalsuite.errors import ConfigError, DataError
from evalsuite.jsonl import iter_jsonl
from evalsuite.metrics.judging import FLIP, LOSS, TIE, WIN, combine_orders, preference_value

Outcome = Literal["win", "tie", "loss"]
_ALPACA_FIELDS = ("instruction", "output_1", "output_2", "generator_1", "generator_2")
_MT_FIELDS = ("question_id", "model_1", "model_2", "g1_winner")
_MT_WINNERS = {"model_1": WIN, "model_2": LOSS, "tie": TIE, "error": None}


class Judgment(BaseModel):
    """One comparison. ``outcome`` is from ``model``'s side; None means unparseable (see ``unparseable``)."""

    index: int  # 0-based position of the record in the source file (MT-Bench: its line number - 1)
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


def _alpaca_rows(path: Path) -> list[tuple[int, dict, dict[str, str], Any]]:
    """(index, record, text fields, preference) per annotation, every field checked."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read AlpacaEval annotations as JSON ({exc})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path}: expected a JSON list of annotation objects, got {type(records).__name__}")
    rows = []
    for i, r in enumerate(records):
        fields = {f: _text_field(path, i, r, f) for f in _ALPACA_FIELDS}
        if fields["generator_1"] == fields["generator_2"]:
            raise DataError(f"{_where(path, i)}: generator_1 and generator_2 are both {fields['generator_1']!r}")
        pref = r.get("preference")
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
            raise DataError(f"{_where(path, i, 'preference')} should be a number in [1, 2] or null, got {pref!r:.60}")
        rows.append((i, r, fields, pref))
    return rows


def _alpaca_judgment(i: int, record: dict, f: dict[str, str], pref: Any, baseline: str) -> Judgment:
    swapped = f["generator_1"] != baseline  # the evaluated model is output_1: mirror the preference
    value = preference_value(pref)
    if value is not None and swapped:
        value = 3 - value
    outcome = None if value is None else (TIE if value == 1.5 else WIN if value > 1.5 else LOSS)
    model_out, base_out = (f["output_1"], f["output_2"]) if swapped else (f["output_2"], f["output_1"])
    judge = record.get("annotator")
    return Judgment(
        index=i, item=f["instruction"], model=f["generator_1"] if swapped else f["generator_2"], opponent=baseline,
        outcome=outcome, preference=value, model_chars=len(model_out), opponent_chars=len(base_out),
        judge=judge if isinstance(judge, str) else None, raw={"preference": pref},
        unparseable=None if value is not None else f"preference {pref!r} is not a number in [1, 2]",
    )


def read_alpaca_eval(path: str | Path, baseline: str | None = None) -> tuple[list[Judgment], str, int]:
    """Judgments from an AlpacaEval ``annotations.json``, the baseline used, and how many records were skipped.

    The baseline is ``generator_1`` unless ``baseline`` names it; records that
    do not involve the baseline are skipped and counted.
    """
    path = Path(path)
    rows = _alpaca_rows(path)
    if baseline is None:
        firsts = sorted({f["generator_1"] for _, _, f, _ in rows})
        if len(firsts) != 1:
            raise ConfigError(f"{path}: generator_1 takes {len(firsts)} values {firsts[:5]}; name the baseline with --baseline")
        baseline = firsts[0]
    judgments = [_alpaca_judgment(i, r, f, pref, baseline) for i, r, f, pref in rows
                 if baseline in (f["generator_1"], f["generator_2"])]
    return judgments, baseline, len(rows) - len(judgments)


def _mt_winner(path: Path, index: int, record: dict, field: str) -> str | None:
    value = record[field]
    if value not in _MT_WINNERS:
        raise DataError(f"{_where(path, index, field)} is {value!r:.60}; FastChat writes model_1, model_2, tie or error")
    return _MT_WINNERS[value]


def _check_mt_record(path: Path, i: int, line: int, r: Any) -> None:
    if not isinstance(r, dict):
        raise DataError(f"{_where(path, i)} (line {line}) is a JSON {type(r).__name__}, not an object; "
                        "FastChat pairwise judgments are JSONL, one object a line")
    for field in _MT_FIELDS:
        if field not in r:
            raise DataError(f"{_where(path, i, field)} is missing; FastChat pairwise judgments have "
                            "question_id, model_1, model_2, g1_winner, g2_winner, judge, turn")
    if str(r["model_1"]) == str(r["model_2"]):
        raise DataError(f"{_where(path, i)}: model_1 and model_2 are both {str(r['model_1'])!r}")


def _mt_judgment(path: Path, i: int, r: dict, baseline: str | None) -> Judgment:
    m1, m2 = str(r["model_1"]), str(r["model_2"])
    g1 = _mt_winner(path, i, r, "g1_winner")
    both = r.get("g2_winner") is not None
    g2 = _mt_winner(path, i, r, "g2_winner") if both else None
    # FastChat: an error in either order drops the row; otherwise a disagreement is a tie.
    combined = combine_orders(g1, g2) if both else g1
    bad = [f for f in ("g1_winner", "g2_winner") if r.get(f) == "error"]
    turn = r.get("turn")
    if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int)):
        raise DataError(f"{_where(path, i, 'turn')} should be an integer (1 or 2), got {turn!r:.60}")
    flip = baseline is not None and m1 == baseline  # orient to the evaluated model
    judge = r.get("judge")
    return Judgment(
        index=i, item=str(r["question_id"]), turn=turn,
        model=m2 if flip else m1, opponent=m1 if flip else m2, outcome=FLIP[combined] if flip else combined,
        first_shown=m1, order1=g1, order2=g2,
        judge=" / ".join(map(str, judge)) if isinstance(judge, list) else (str(judge) if judge is not None else None),
        raw={"g1_winner": r["g1_winner"], "g2_winner": r.get("g2_winner")},
        unparseable=f"{' and '.join(bad)} is error" if bad else None,
    )


def read_mt_bench(path: str | Path, baseline: str | None = None) -> tuple[list[Judgment], int]:
    """Judgments from a FastChat pairwise judgment JSONL and how many rows were skipped for the baseline.

    Records are numbered by 0-based line. With a baseline, rows that do not involve it are skipped.
    """
    path = Path(path)
    judgments, skipped = [], 0
    for line, r in iter_jsonl(path):
        i = line - 1
        _check_mt_record(path, i, line, r)
        if baseline is not None and baseline not in (str(r["model_1"]), str(r["model_2"])):
            skipped += 1
            continue
        judgments.append(_mt_judgment(path, i, r, baseline))
    return judgments, skipped
