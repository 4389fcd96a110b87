"""Regression gates: ``fail_on`` rules with an explicit mode, and the verdict each rule reaches.

A rule is ``NAME OP VALUE[@MODE[:NIGHTS]]`` on the delta (b - a) of a named
comparison, ``NAME`` being ``<task>.<metric>`` (``mmlu-5shot.acc``: the suite's
task name, the name every table and ``summary.json`` use) or a bare metric
(``acc``: that metric of every task). Modes:

- ``significant`` (the default): the delta crosses VALUE and the paired test,
  Holm-adjusted over all comparisons of the call, is significant at alpha;
- ``point``: the delta alone crosses VALUE (noise included);
- ``ci``: the whole confidence interval lies beyond VALUE;
- ``equivalence`` (``NAME~MARGIN``): the metric must not move: the rule fails
  unless two one-sided tests (TOST, normal approximation with the delta's
  standard error) show the delta inside (-MARGIN, +MARGIN) at alpha — the
  intersection-union test needs no multiplicity correction;
- ``history[:K]`` (nightly only): tonight's value against the last K nights
  (default 7): a robust control chart fails when tonight lies outside
  median ± Z·1.4826·MAD of those nights (Z = 3 unless a YAML rule sets ``z``)
  *and* tonight − median crosses VALUE. One noisy night moves neither the
  median nor the MAD much; a drift leaves the band.

**Levels.** A rule on a similarity row of compare (``gen.homogenization_rougel.between>0.8``:
alarm when the candidate answers too much like the baseline) is on the level itself, not on a delta:
``point`` compares the level with VALUE, ``ci`` its whole interval (a bootstrap over prompts), and
``significant`` asks the level to cross VALUE with a one-sided z-test (its cluster-robust standard
error) rejecting "not beyond VALUE" at alpha; levels are not in the Holm family of the deltas.
``equivalence`` needs a delta and is refused on a level.

**Refused gates.** A comparison can carry a reason it may not gate
(``Comparison.gate_refusal``: a judge-derived metric whose panel's Krippendorff alpha is
below ``--min-judge-alpha``). A rule on it is not evaluated: its verdict is *refused*,
with the reason, and neither passes nor fails. It fails closed: ``compare`` exits 2
(the rule cannot be evaluated on these judges: fix the panel or the rule) when no rule
failed, and 1 when another rule found a regression.

In a suite, ``fail_on`` is such a string (rules separated by commas), a list of
them, or a list of mappings ``{rule: "mmlu-5shot.acc<-0.03", mode: ci}``
(``nights``, ``z`` for history rules).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from evalsuite.errors import ConfigError

MODES = ("significant", "point", "ci", "equivalence", "history")
DEFAULT_MODE = "significant"
_RULE = re.compile(r"^\s*(?P<name>[^<>~@\s]+)\s*(?P<op><=|>=|<|>|~)\s*(?P<value>[-+]?\d*\.?\d+(?:e[-+]?\d+)?)\s*"
                   r"(?:@\s*(?P<mode>[a-z]+)(?::(?P<nights>\d+))?)?\s*$")
_OPS = {"<": lambda d, v: d < v, "<=": lambda d, v: d <= v, ">": lambda d, v: d > v, ">=": lambda d, v: d >= v}
EXAMPLE = 'mmlu-5shot.acc<-0.02 (significant), mmlu-5shot.acc<-0.02@ci, ceval-0shot.acc~0.01 (equivalence)'


@dataclass(frozen=True)
class GateRule:
    name: str
    op: str
    value: float
    mode: str = DEFAULT_MODE
    nights: int = 7
    z: float = 3.0

    def __str__(self) -> str:
        tail = f":{self.nights}" if self.mode == "history" else ""
        return f"{self.name}{self.op}{self.value:g}@{self.mode}{tail}"

    def matches(self, name: str, metric: str) -> bool:
        return self.name in (name, metric)

    def crossed(self, delta: float) -> bool:
        return _OPS[self.op](delta, self.value)


def parse_rule(text: str, mode: str | None = None, nights: int | None = None, z: float | None = None) -> GateRule:
    """One rule from its text (``mode`` etc. from a YAML mapping override what the text says)."""
    match = _RULE.match(text)
    if not match:
        raise ConfigError(f"fail_on: cannot read {text!r}; expected NAME<VALUE[@MODE] such as {EXAMPLE}")
    op = match["op"]
    chosen = mode or match["mode"] or ("equivalence" if op == "~" else DEFAULT_MODE)
    if chosen not in MODES:
        raise ConfigError(f"fail_on: {text!r} has unknown mode {chosen!r}; modes: {', '.join(MODES)}")
    if (op == "~") != (chosen == "equivalence"):
        raise ConfigError(f"fail_on: {text!r}: equivalence rules are written NAME~MARGIN, and ~ means equivalence")
    value = float(match["value"])
    if chosen == "equivalence" and value <= 0:
        raise ConfigError(f"fail_on: {text!r}: an equivalence margin must be positive")
    count = nights if nights is not None else int(match["nights"] or 7)
    if count < 3:
        raise ConfigError(f"fail_on: {text!r}: a history rule needs at least 3 nights, got {count}")
    return GateRule(match["name"], op, value, chosen, count, 3.0 if z is None else float(z))


def parse_fail_on(spec: str | list | None) -> list[GateRule]:
    """Rules from a comma-separated string, a list of strings, or a list of ``{rule, mode, nights, z}`` mappings."""
    if spec is None:
        return []
    items = [p for p in spec.split(",")] if isinstance(spec, str) else list(spec)
    rules = []
    for item in items:
        if isinstance(item, str):
            if item.strip():
                rules.append(parse_rule(item))
        elif isinstance(item, dict) and "rule" in item and set(item) <= {"rule", "mode", "nights", "z"}:
            rules.append(parse_rule(str(item["rule"]), item.get("mode"), item.get("nights"), item.get("z")))
        else:
            raise ConfigError(f"fail_on: cannot read {item!r}; a rule is a string or a mapping with keys rule, mode, nights, z")
    return rules


@dataclass
class Verdict:
    """What one rule found for one comparison; ``failed`` is the gate's answer."""

    rule: str
    mode: str
    name: str
    against: str
    failed: bool
    delta: float
    ci: tuple[float, float]
    p: float
    p_label: str
    refused: str | None = None  # why the rule was not evaluated (then ``failed`` is False)
    quantity: str = "delta"  # "level" for a similarity row

    @property
    def status(self) -> str:
        """``FAIL``, ``REFUSED`` or ``pass``: the word the verdict lines start with."""
        return "FAIL" if self.failed else ("REFUSED" if self.refused else "pass")

    @property
    def message(self) -> str:
        p = "n/a" if not math.isfinite(self.p) else f"{self.p:.3g}"
        interval = "band" if self.mode == "history" else "CI"
        tail = "" if self.mode == "history" else f", {self.p_label} {p}"
        refused = f": not evaluated: {self.refused}" if self.refused else ""
        return (f"{self.name} vs {self.against}: rule {self.rule} [{self.mode}]: {self.quantity} {self.delta:+.4f}, "
                f"{interval} [{self.ci[0]:+.4f}, {self.ci[1]:+.4f}]{tail}{refused}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = [None if not math.isfinite(x) else x for x in self.ci]
        out["p"] = None if not math.isfinite(self.p) else self.p
        return out | {"message": self.message}


def _tost(delta: float, se: float, margin: float) -> float:
    from scipy.stats import norm

    if not se > 0:
        return 0.0 if abs(delta) < margin else 1.0
    return float(max(norm.sf((delta + margin) / se), norm.cdf((delta - margin) / se)))


def judge(rule: GateRule, comparison, alpha: float, against: str) -> Verdict:
    """The verdict of a non-history ``rule`` on one compare ``Comparison``."""
    c = comparison
    p, p_label, ci = c.p_adjusted, "p (Holm)", c.ci
    if getattr(c, "gate_refusal", None):
        return Verdict(str(rule), rule.mode, c.name, against, False, c.delta, tuple(ci), p, p_label, refused=c.gate_refusal)
    if rule.mode == "point":
        failed = rule.crossed(c.delta)
    elif rule.mode == "significant":
        failed = rule.crossed(c.delta) and c.significant
    elif rule.mode == "ci":  # the CI's far end must lie beyond the threshold too
        failed = rule.crossed(c.ci[1] if rule.op.startswith("<") else c.ci[0])
    else:  # equivalence: the (1 - 2 alpha) interval and the TOST p-value
        from scipy.stats import norm

        p, p_label = _tost(c.delta, c.se, rule.value), "p (TOST)"
        half = norm.ppf(1 - alpha) * c.se
        ci = (c.delta - half, c.delta + half)
        failed = not p < alpha
    return Verdict(str(rule), rule.mode, c.name, against, bool(failed), c.delta, tuple(ci), p, p_label)


def judge_level(rule: GateRule, similarity, alpha: float, against: str) -> Verdict:
    """The verdict of a non-history ``rule`` on a similarity level (``homogenization.Similarity``) of compare."""
    from scipy.stats import norm

    s = similarity
    if rule.mode == "equivalence":
        raise ConfigError(f"fail_on: {rule}: {s.name} is a level, not a delta; equivalence needs a delta "
                          "(write NAME>VALUE or NAME<VALUE)")
    z = (s.value - rule.value) / s.se if s.se > 0 else (math.inf if rule.crossed(s.value) else -math.inf)
    p = float(norm.sf(z) if rule.op.startswith(">") else norm.cdf(z))  # one-sided: the level beyond VALUE
    if rule.mode == "point":
        failed = rule.crossed(s.value)
    elif rule.mode == "significant":
        failed = rule.crossed(s.value) and p < alpha
    else:  # ci: the interval's near end beyond the threshold too
        failed = rule.crossed(s.ci[0] if rule.op.startswith(">") else s.ci[1])
    return Verdict(str(rule), rule.mode, s.name, against, bool(failed), s.value, tuple(s.ci), p, "p (one-sided z)",
                   quantity="level")


def evaluate(result, rules: list[GateRule], against: str = "a") -> list[Verdict]:
    """Every non-history rule on every comparison and similarity level it names; a name that was not compared is an
    error listing the valid names."""
    verdicts = []
    levels = getattr(result, "similarity", [])
    for rule in (r for r in rules if r.mode != "history"):
        matches = [c for c in result.comparisons if rule.matches(c.name, c.metric)]
        matched_levels = [s for s in levels if rule.matches(s.name, s.metric)]
        if not matches and not matched_levels:
            valid = {c.name for c in result.comparisons} | {s.name for s in levels}
            raise ConfigError(f"fail_on names {rule.name!r}, which was not compared; valid names: "
                              f"{', '.join(sorted(valid)) or '(none)'}")
        verdicts += [judge(rule, c, result.alpha, against) for c in matches]
        verdicts += [judge_level(rule, s, result.alpha, against) for s in matched_levels]
    return verdicts


def control_band(history: list[float], z: float) -> tuple[float, float, float]:
    """(median, low, high): the robust band median ± z·1.4826·MAD of ``history``."""
    values = np.asarray(history, dtype=float)
    median = float(np.median(values))
    spread = z * 1.4826 * float(np.median(np.abs(values - median)))
    return median, median - spread, median + spread


def history_verdict(rule: GateRule, name: str, history: list[float], tonight: float) -> Verdict | None:
    """A history rule on one series (oldest night first, tonight excluded); None with fewer than 3 earlier nights."""
    recent = [v for v in history if v is not None and math.isfinite(v)][-rule.nights:]
    if len(recent) < 3 or tonight is None or not math.isfinite(tonight):
        return None
    median, low, high = control_band(recent, rule.z)
    outside = tonight < low if rule.op.startswith("<") else tonight > high
    delta = tonight - median
    return Verdict(str(rule), rule.mode, name, f"median of last {len(recent)} nights", bool(outside and rule.crossed(delta)),
                   delta, (low - median, high - median), float("nan"), "p")


def valid_history_names(rules: list[GateRule], names: set[str]) -> None:
    """A history rule naming no recorded series is an error listing the valid names."""
    for rule in (r for r in rules if r.mode == "history"):
        if not any(rule.matches(n, n.split(".", 1)[-1]) for n in names):
            raise ConfigError(f"fail_on names {rule.name!r}, which has no history; valid names: {', '.join(sorted(names))}")
