"""The shared primitives of verdict parsing: a verdict that is never guessed, and counts of them.

A :class:`Verdict` keeps the raw judge text, the parsed value, and, when the
text cannot be read, ``error`` saying why. Unparseable verdicts are stored,
counted (:func:`summarize`) and excluded downstream; they are never mapped to
a default score or a tie. Each verdict format's parser sits beside the prompt
that asks for it: ``[[dimension: score]]`` in :mod:`.rubric`, ``[[A]]``/``[[B]]``/
``[[C]]`` in :mod:`.pairwise`, MT-Bench's ``[[rating]]`` in :mod:`.mt_bench`.

Where FastChat picks the first match (``[[A]]`` before ``[[B]]`` whatever the
order in the text), a judgment naming two different verdicts is unparseable
here: choosing one would be a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """One judge output: ``value`` when it parsed, otherwise ``None`` and ``error``."""

    raw: str
    value: float | str | dict[str, float] | None
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.error is None


def raw_text(text: str | None) -> str:
    """The judge's text as stored: ``None`` (no content) becomes the empty string."""
    return "" if text is None else str(text)


def unparseable(raw: str, why: str) -> Verdict:
    """A verdict that could not be read, with the reason."""
    return Verdict(raw=raw, value=None, error=why)


def distinct(values: Iterable) -> list:
    """The values in first-seen order without repeats (several equal matches are one verdict)."""
    return list(dict.fromkeys(values))


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
