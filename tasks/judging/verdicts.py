"""Parsing judge outputs into verdicts, without ever guessing.

A :class:`Verdict` keeps the raw judge text, the parsed value, and, when the
text cannot be read, ``error`` saying why. Unparseable verdicts are stored,
counted (:func:`summarize`) and excluded downstream; they are never mapped to
a default score or a tie.

Formats are MT-Bench's published judge prompts: single-answer grading ends
with ``[[rating]]`` (1-10), pairwise with ``[[A]]``, ``[[B]]`` or ``[[C]]``
(tie), and the two-score pairwise variant with ``[[score_a, score_b]]``.
Rubric judges answer with a JSON object or ``[[dimension: score]]`` tags.

Where FastChat picks the first match (``[[A]]`` before ``[[B]]`` whatever
the order in the text), a judgment naming two different verdicts is
unparseable here: choosing one would be a guess.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from evalsuite.errors import ConfigError

# FastChat's patterns: the double-bracket form, then the single-bracket backup.
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
_TWO_SCORES = re.compile(r"\[\[(\d+\.?\d*),\s?(\d+\.?\d*)\]\]")
_TWO_SCORES_BACKUP = re.compile(r"\[(\d+\.?\d*),\s?(\d+\.?\d*)\]")
_PAIRWISE = {"[[A]]": "A", "[[B]]": "B", "[[C]]": "tie"}
_RUBRIC_TAG = re.compile(r"\[\[\s*([^\[\]:]+?)\s*:\s*(-?\d+(?:\.\d+)?)\s*\]\]")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)

# FastChat's tie threshold for the two-score pairwise format.
TIE_DELTA = 0.1


@dataclass(frozen=True)
class Verdict:
    """One judge output: ``value`` when it parsed, otherwise ``None`` and ``error``."""

    raw: str
    value: float | str | dict[str, float] | None
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.error is None


def _unparseable(raw: str, why: str) -> Verdict:
    return Verdict(raw=raw, value=None, error=why)


def _distinct(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def parse_rating(text: str | None, *, low: float = 1, high: float = 10, backup: bool = True) -> Verdict:
    """A single-answer rating ``[[x]]`` (FastChat's ``[x]`` backup when ``backup``).

    Several different ratings in one judgment, or one outside [low, high], are unparseable.
    """
    raw = "" if text is None else str(text)
    found = _distinct(float(m) for m in _RATING.findall(raw))
    if not found and backup:
        found = _distinct(float(m) for m in _RATING_BACKUP.findall(raw))
    if not found:
        return _unparseable(raw, "no [[rating]] found")
    if len(found) > 1:
        return _unparseable(raw, f"ambiguous: several ratings {found}")
    if not low <= found[0] <= high:
        return _unparseable(raw, f"rating {found[0]:g} outside [{low:g}, {high:g}]")
    return Verdict(raw=raw, value=found[0])


def parse_pairwise(text: str | None) -> Verdict:
    """A pairwise verdict: ``"A"``, ``"B"`` or ``"tie"`` from ``[[A]]``/``[[B]]``/``[[C]]``."""
    raw = "" if text is None else str(text)
    found = _distinct(v for tag, v in _PAIRWISE.items() if tag in raw)
    if not found:
        return _unparseable(raw, "no [[A]], [[B]] or [[C]] found")
    if len(found) > 1:
        return _unparseable(raw, f"ambiguous: several verdicts {found}")
    return Verdict(raw=raw, value=found[0])


def parse_pairwise_scores(text: str | None, *, tie_delta: float = TIE_DELTA) -> Verdict:
    """A pairwise verdict from ``[[score_a, score_b]]``: a tie when the scores differ by at most ``tie_delta``."""
    raw = "" if text is None else str(text)
    found = _distinct((float(a), float(b)) for a, b in _TWO_SCORES.findall(raw))
    if not found:
        found = _distinct((float(a), float(b)) for a, b in _TWO_SCORES_BACKUP.findall(raw))
    if not found:
        return _unparseable(raw, "no [[score_a, score_b]] found")
    if len(found) > 1:
        return _unparseable(raw, f"ambiguous: several score pairs {found}")
    a, b = found[0]
    return Verdict(raw=raw, value="tie" if abs(a - b) <= tie_delta else ("A" if a > b else "B"))


def _json_object(raw: str) -> dict | None:
    candidates = [m.strip() for m in _FENCE.findall(raw)] + [raw.strip()]
    start, end = raw.find("{"), raw.rfind("}")
    if 0 <= start < end:
        candidates.append(raw[start : end + 1])
    for c in candidates:
        try:
            obj = json.loads(c)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _score_of(value) -> float | None:
    # A dimension may be a bare number or {"score": n, "reason": ...}.
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def parse_rubric(
    text: str | None,
    *,
    dimensions: Sequence[str] | None = None,
    low: float | None = None,
    high: float | None = None,
) -> Verdict:
    """Scores per rubric dimension from a JSON object or ``[[dimension: score]]`` tags.

    With ``dimensions`` every one must be present (others are dropped); a
    non-numeric score, a score outside [low, high], or a dimension given two
    different scores makes the whole verdict unparseable.
    """
    raw = "" if text is None else str(text)
    scores: dict[str, float] = {}
    obj = _json_object(raw)
    if obj is not None:
        for key, value in obj.items():
            score = _score_of(value)
            if score is None:
                if dimensions is None or key in dimensions:
                    return _unparseable(raw, f"dimension {key!r} has non-numeric score {value!r}")
                continue
            scores[str(key)] = score
    else:
        for key, value in _RUBRIC_TAG.findall(raw):
            if key in scores and scores[key] != float(value):
                return _unparseable(raw, f"ambiguous: dimension {key!r} scored {scores[key]:g} and {float(value):g}")
            scores[key] = float(value)
    if not scores:
        return _unparseable(raw, "no JSON object or [[dimension: score]] tags found")
    if dimensions is not None:
        missing = [d for d in dimensions if d not in scores]
        if missing:
            return _unparseable(raw, f"missing dimensions {missing}")
        scores = {d: scores[d] for d in dimensions}
    for key, score in scores.items():
        if (low is not None and score < low) or (high is not None and score > high):
            return _unparseable(raw, f"dimension {key!r} score {score:g} outside [{low}, {high}]")
    return Verdict(raw=raw, value=scores)


def pairwise_outcome(verdict: Verdict, side: str) -> str | None:
    """The outcome (``"win"``/``"tie"``/``"loss"``, None if unparseable) for the answer shown as ``side`` ("A" or "B").

    Judging both orders: ``pairwise_outcome(v1, "A")`` and ``pairwise_outcome(v2, "B")``
    are the same model's outcomes, ready for ``pairwise.combine_orders``.
    """
    if side not in ("A", "B"):
        raise ConfigError(f"side must be 'A' or 'B', got {side!r}")
    if not verdict.parsed or verdict.value not in ("A", "B", "tie"):
        return None
    if verdict.value == "tie":
        return "tie"
    return "win" if verdict.value == side else "loss"


@dataclass(frozen=True)
class VerdictCounts:
    n: int
    parsed: int
    unparseable: int
    reasons: dict[str, int] = field(default_factory=dict)


def summarize(verdicts: Iterable[Verdict]) -> VerdictCounts:
    """How many verdicts parsed, how many did not, and why (reasons without their values)."""
    items = list(verdicts)
    bad = [v for v in items if not v.parsed]
    reasons = Counter(v.error.split(":")[0] for v in bad)
    return VerdictCounts(n=len(items), parsed=len(items) - len(bad), unparseable=len(bad), reasons=dict(reasons))
