"""Power planning for a suite: what each task can detect at its size, and the size a wanted effect needs.

Per task and metric: the minimum detectable effect (MDE) of the paired
comparison the gates use (two-sided, ``alpha``, ``power``), and the items
needed for ``effect``. Accuracy is a paired binary design (McNemar, Connor
1987) driven by the discordance (share of items the two checkpoints answer
differently); continuous metrics (within-prompt diversity, response length)
are paired t designs driven by the SD of the per-prompt differences. Both come
from a night of runs when there is one (the baseline against every other
checkpoint, averaged), else accuracy assumes :data:`ASSUMED_DISCORDANCE` and
says so, and a continuous metric waits for a night. A ``fail_on`` rule whose
threshold is below its MDE is flagged: it can only fire on noise (``point``)
or hardly ever (``significant``, ``ci``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import ConfigError
from evalsuite.escape import html_text
from evalsuite.jobs.grid import Suite, load_suite, suite_data
from evalsuite.metrics import names
from evalsuite.metrics.clustered import mde_paired_binary, mde_paired_continuous, n_paired_binary, n_paired_continuous
from evalsuite.reports.compare import compare
from evalsuite.reports.gates import GateRule, parse_fail_on
from evalsuite.task import MultipleChoiceRequest

ASSUMED_DISCORDANCE = 0.15  # share of items two nearby checkpoints answer differently, when nothing was observed


@dataclass
class PlanRow:
    name: str
    design: str  # "paired binary (McNemar)" or "paired t"
    n: int
    spread: float | None  # discordance (binary) or SD of paired differences (continuous)
    source: str  # where the spread comes from
    mde: float | None
    needed: int | None = None  # items for the wanted effect

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mde"] = None if self.mde is None or not math.isfinite(self.mde) else self.mde
        return out


@dataclass
class Plan:
    alpha: float
    power: float
    effect: float | None
    rows: list[PlanRow]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "power": self.power, "effect": self.effect,
                "rows": [r.to_dict() for r in self.rows], "warnings": self.warnings}


def _row(name: str, binary: bool, n: int, spread: float | None, source: str, alpha: float, power: float,
         effect: float | None) -> PlanRow:
    if spread is None or not spread > 0 or n < 2:
        return PlanRow(name, "paired binary (McNemar)" if binary else "paired t", n, spread, source, None)
    if binary:
        mde = mde_paired_binary(n, spread, alpha, power)
        needed = n_paired_binary(effect, spread, alpha, power) if effect and abs(effect) <= spread else None
        return PlanRow(name, "paired binary (McNemar)", n, spread, source, mde, needed)
    mde = mde_paired_continuous(n, spread, alpha, power)
    needed = n_paired_continuous(effect, spread, alpha, power) if effect else None
    return PlanRow(name, "paired t", n, spread, source, mde, needed)


def observed_rows(night_dir: Path, baseline: str | None, alpha: float, power: float, effect: float | None) -> list[PlanRow]:
    """Rows from one night's runs (``night_dir/<checkpoint>/<run>``): the baseline (or first) checkpoint against the others."""
    folders = sorted(p for p in night_dir.iterdir() if p.is_dir() and any(p.glob("*/results.json")))
    if len(folders) < 2:
        return []
    reference = next((f for f in folders if f.name == baseline), folders[0])
    pooled: dict[str, dict[str, Any]] = {}
    for other in (f for f in folders if f != reference):
        for c in compare(reference, other, n_boot=400).comparisons:
            entry = pooled.setdefault(c.name, {"n": c.n_paired, "binary": c.metric.startswith(names.ACCURACY), "spreads": []})
            if entry["binary"]:
                entry["spreads"].append((c.details["only_a"] + c.details["only_b"]) / c.n_paired)
            elif math.isfinite(c.se):
                entry["spreads"].append(c.se * math.sqrt(c.n_paired))
    source = f"observed on {night_dir.name}, {reference.name} vs {len(folders) - 1} other checkpoint(s)"
    return [_row(name, e["binary"], e["n"], sum(e["spreads"]) / len(e["spreads"]) if e["spreads"] else None, source,
                 alpha, power, effect) for name, e in pooled.items()]


def assumed_rows(suite: Suite, alpha: float, power: float, effect: float | None) -> list[PlanRow]:
    """Rows from the suite's task sizes alone (the tasks are built to count their items; nothing is evaluated)."""
    from evalsuite.registry import get_task

    data = suite_data(suite)
    rows = []
    for spec in suite.tasks:
        task = get_task(spec.task)(spec.params, data)
        requests = task.requests()
        if requests and isinstance(requests[0], MultipleChoiceRequest):
            rows.append(_row(f"{spec.name}.{names.ACCURACY}", True, len(requests), ASSUMED_DISCORDANCE,
                             f"assumed discordance {ASSUMED_DISCORDANCE:g} (no night yet)", alpha, power, effect))
        else:
            for metric in names.HEADLINE:
                rows.append(_row(f"{spec.name}.{names.qualified(metric, 'within')}", False, len(requests), None,
                                 "needs one night (observed SD of per-prompt differences)", alpha, power, effect))
    return rows


def gate_warnings(rules: list[GateRule], rows: list[PlanRow], alpha: float = 0.05) -> list[str]:
    """One warning per rule whose threshold (or equivalence margin) is below the MDE of a comparison it names."""
    warnings = []
    for rule in (r for r in rules if r.mode != "history"):
        for row in rows:
            if not rule.matches(row.name, row.name.split(".", 1)[-1]) or row.mde is None or abs(rule.value) >= row.mde:
                continue
            consequence = "it can only fire on noise" if rule.mode == "point" else "it will rarely fire even on a real change"
            warnings.append(f"fail_on rule {rule}: |threshold| {abs(rule.value):g} is below the minimum detectable effect "
                            f"{row.mde:.4f} of {row.name} at n={row.n} (alpha {alpha:g}; {row.source}); {consequence}")
    return warnings


def plan_suite(suite_path: str | Path, history: str | Path | None = None, effect: float | None = None,
               alpha: float = 0.05, power: float = 0.8) -> Plan:
    """The plan of ``suite_path``: observed from the latest night under ``history`` (a nightly ``--out``) when there is one."""
    suite, _ = load_suite(suite_path)
    return plan_for(suite, latest_night(history), effect, alpha, power)


def latest_night(history: str | Path | None) -> Path | None:
    if history is None:
        return None
    nights = Path(history) / "nights"
    if not nights.is_dir():
        raise ConfigError(f"{history}: no nights/ folder; pass the --out folder of an earlier `evalsuite nightly`")
    found = sorted(p for p in nights.iterdir() if p.is_dir())
    return found[-1] if found else None


def plan_for(suite: Suite, night_dir: Path | None, effect: float | None, alpha: float, power: float) -> Plan:
    rows = observed_rows(night_dir, suite.baseline, alpha, power, effect) if night_dir is not None else []
    if not rows:
        rows = assumed_rows(suite, alpha, power, effect)
    return Plan(alpha, power, effect, rows, gate_warnings(parse_fail_on(suite.fail_on), rows, alpha))


def plan_lines(plan: Plan) -> list[str]:
    """The plan as plain lines (the CLI prints them; the report escapes them)."""
    lines = [f"power plan (alpha {plan.alpha:g}, power {plan.power:g}, two-sided paired tests)"]
    for r in plan.rows:
        mde = "n/a" if r.mde is None else ("not detectable" if not math.isfinite(r.mde) else f"{r.mde:.4f}")
        spread = "" if r.spread is None else (f", discordance {r.spread:.3f}" if r.design.startswith("paired binary") else f", SD {r.spread:.4g}")
        needed = f"; {r.needed} items for an effect of {plan.effect:g}" if r.needed else ""
        lines.append(f"{r.name}: n={r.n}, MDE {mde} ({r.design}{spread}; {r.source}){needed}")
    return lines + [f"warning: {w}" for w in plan.warnings]


def plan_html(plan: Plan) -> str:
    """The nightly report's plan section: a heading and one escaped paragraph per line."""
    return "<h2>Power plan</h2>" + "".join(f"<p class='note'>{html_text(line)}</p>" for line in plan_lines(plan))
