"""Judge reliability audit: how far each judge's verdicts can be trusted, judge by judge.

From a pairwise judging folder (``evalsuite judge pairwise --out OUT``), per judge:

- position flip rate: the share of pairs, parsed in both orders, whose verdict
  changed when the answers swapped places (``metrics.judging.position_bias``),
  with how often the first or the second position won both times;
- longer-answer preference: the share of decisive verdicts that went to the
  longer answer (0.5 = indifferent; ``longer_answer_win_share``);
- self-preference: when the judge is one of the checkpoints judged (its name or
  its backend's ``model`` equals a run label, or ``self_runs`` says so), the win
  rate it gives its own run minus the win rate the other judges give that run
  on the same pairs (without other judges, the own-run win rate alone).

From filled human rating sheets (``evalsuite judge import-ratings --panel``),
the judge-human agreement :mod:`evalsuite.reports.human_ratings` computed is
carried per judge. :func:`gate_refusal` says when a panel's inter-judge
agreement is too low for a judge-derived metric to gate a comparison.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.escape import html_text
from evalsuite.files import atomic_write_text
from evalsuite.metrics.judging import FLIP, SCORE, longer_answer_win_share, position_bias
from evalsuite.reports.human_ratings import HumanRatingsResult, JudgeHumanAgreement
from evalsuite.reports.judge_pairwise import PairwiseResult, pair_rows
from evalsuite.reports.judge_runs import PanelResult, read_judge_runs
from evalsuite.results import Record, load_result, provenance, register_result_kind

GATE_ALPHA = 0.667  # Krippendorff's customary lowest alpha for tentative conclusions


class SelfPreference(BaseModel):
    own_run: str
    n: int  # parsed pairs (both orders combined) involving the own run
    own_win_rate: float | None  # the judge's win rate for its own run, ties as half
    others_win_rate: float | None  # the other judges' win rate for that run on the same pairs
    self_preference: float | None  # own - others (None without other judges)


class JudgeAuditEntry(BaseModel):
    judge: str
    n_pairs_both_orders: int
    position_flip_rate: float | None
    first_position_favoured: int
    second_position_favoured: int
    longer_answer_win_share: float | None
    n_decisive: int
    length_unit: str = "words"
    self_preference: SelfPreference | None = None
    human_agreement: dict[str, JudgeHumanAgreement] = {}  # dimension -> agreement with the human raters' mean


class JudgeAudit(Record):
    """The record ``judge_audit`` (``OUT/results.json``): per-judge reliability and the panel's agreement."""

    kind: Literal["judge_audit"] = "judge_audit"
    pairwise: str | None
    ratings: str | None
    panel: str | None
    judges: dict[str, JudgeAuditEntry]
    panel_alpha: dict[str, float | None] = {}  # dimension -> Krippendorff's alpha (ordinal) across the panel's judges


register_result_kind("judge_audit", JudgeAudit)


def _f(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _mean_score(outcomes: list) -> float | None:
    parsed = [SCORE[o] for o in outcomes if o is not None]
    return sum(parsed) / len(parsed) if parsed else None


def _own_run(judge: dict, runs: list[str], self_runs: dict[str, str]) -> str | None:
    if judge["name"] in self_runs:
        own = self_runs[judge["name"]]
        if own not in runs:
            raise DataError(f"self_runs maps judge {judge['name']!r} to {own!r}, which is not a judged run {runs}")
        return own
    for candidate in (judge["name"], judge.get("model")):
        if candidate in runs:
            return candidate
    return None


def _self_preference(own: str, judge: str, by_judge: dict[str, list[dict]]) -> SelfPreference:
    def outcomes(rows: list[dict]) -> dict[str, str | None]:
        # outcome for the own run, per pair; rows hold the outcome for the candidate
        return {r["pair"]: (r["combined"] if r["runs"][1] == own else FLIP[r["combined"]])
                for r in rows if own in r["runs"]}

    mine = outcomes(by_judge[judge])
    others = [outcomes(rows) for name, rows in by_judge.items() if name != judge]
    parsed = [p for p, o in mine.items() if o is not None]
    own_rate = _mean_score([mine[p] for p in parsed])
    other_rate = _mean_score([o.get(p) for o in others for p in parsed]) if others else None
    return SelfPreference(own_run=own, n=len(parsed), own_win_rate=own_rate, others_win_rate=other_rate,
                          self_preference=None if own_rate is None or other_rate is None else own_rate - other_rate)


def _pairwise_entries(folder: str | Path, self_runs: dict[str, str]) -> dict[str, JudgeAuditEntry]:
    record = load_result(folder)
    if not isinstance(record, PairwiseResult):
        raise DataError(f"{folder}: field 'kind': expected a pairwise_judging record, got {record.kind!r}")
    names = [j["name"] for j in record.judges]
    runs = read_judge_runs(folder, names, "judge-pairwise")
    by_judge = {run.judge: [{**row, "pair": pair} for pair, row in pair_rows(run).items()] for run in runs}
    entries = {}
    for spec in record.judges:
        rows = by_judge[spec["name"]]
        # Order 0 shows the baseline first: position_bias wants the outcomes of the side shown first.
        bias = position_bias([FLIP[r["first"]] for r in rows], [FLIP[r["second"]] for r in rows])
        length = longer_answer_win_share([r["combined"] for r in rows], [r["len_candidate"] for r in rows],
                                         [r["len_baseline"] for r in rows])
        own = _own_run(spec, record.runs, self_runs)
        entries[spec["name"]] = JudgeAuditEntry(
            judge=spec["name"], n_pairs_both_orders=bias.n_pairs, position_flip_rate=_f(bias.share_inconsistent),
            first_position_favoured=bias.first_position_favoured, second_position_favoured=bias.second_position_favoured,
            longer_answer_win_share=_f(length.share_longer_wins), n_decisive=length.n_decisive,
            self_preference=None if own is None else _self_preference(own, spec["name"], by_judge),
        )
    return entries


def _load(path: str | Path, model: type[Record], kind: str) -> Record:
    record = load_result(path)
    if not isinstance(record, model):
        raise DataError(f"{path}: field 'kind': expected a {kind} record, got {record.kind!r}")
    return record


def audit_judges(
    pairwise: str | Path | None = None, *, ratings: str | Path | None = None, panel: str | Path | None = None,
    self_runs: dict[str, str] | None = None,
) -> JudgeAudit:
    """The audit of the judges in a pairwise folder, human ratings folder and/or panel folder (at least one).

    ``self_runs`` maps a judge's name to the run label of its own checkpoint when names do not say it.
    """
    if pairwise is None and ratings is None and panel is None:
        raise DataError("nothing to audit: give a pairwise judging folder, a human ratings folder or a panel folder")
    entries = _pairwise_entries(pairwise, self_runs or {}) if pairwise is not None else {}
    if ratings is not None:
        human = _load(ratings, HumanRatingsResult, "human_ratings")
        for judge, dims in human.judge_agreement.items():  # type: ignore[attr-defined]
            entry = entries.setdefault(judge, JudgeAuditEntry(
                judge=judge, n_pairs_both_orders=0, position_flip_rate=None, first_position_favoured=0,
                second_position_favoured=0, longer_answer_win_share=None, n_decisive=0))
            entry.human_agreement = dict(dims)
    alpha = {}
    if panel is not None:
        record = _load(panel, PanelResult, "rubric_panel")
        alpha = {dim: a.krippendorff_alpha_ordinal for dim, a in record.agreement.items()}  # type: ignore[attr-defined]
    return JudgeAudit(provenance=provenance(), pairwise=None if pairwise is None else str(pairwise),
                      ratings=None if ratings is None else str(ratings), panel=None if panel is None else str(panel),
                      judges=entries, panel_alpha=alpha)


def write_audit(out: str | Path, audit: JudgeAudit) -> Path:
    """Write ``OUT/results.json`` atomically and return its path."""
    path = Path(out, "results.json")
    atomic_write_text(path, audit.model_dump_json(indent=2) + "\n")
    return path


def gate_refusal(panel_or_path: PanelResult | JudgeAudit | str | Path, threshold: float = GATE_ALPHA,
                 dimensions: list[str] | None = None) -> str | None:
    """Why a judge-derived metric may not gate, or None when the panel agrees well enough.

    Refuses when Krippendorff's alpha of any (named) dimension is below
    ``threshold`` or could not be computed (fewer than two judges, no item every judge scored).
    """
    record = panel_or_path if isinstance(panel_or_path, (PanelResult, JudgeAudit)) else load_result(panel_or_path)
    if isinstance(record, PanelResult):
        alpha = {dim: a.krippendorff_alpha_ordinal for dim, a in record.agreement.items()}
    elif isinstance(record, JudgeAudit):
        alpha = record.panel_alpha
    else:
        raise DataError(f"{panel_or_path}: field 'kind': expected a rubric_panel or judge_audit record, got {record.kind!r}")
    dims = dimensions if dimensions is not None else sorted(alpha)
    if not dims:
        return "the panel has no agreement statistics: a judge-derived metric needs a panel of two or more judges to gate"
    low = []
    for dim in dims:
        if dim not in alpha:
            raise DataError(f"the panel has no dimension {dim!r}; it has {sorted(alpha)}")
        a = alpha[dim]
        if a is None or not a >= threshold:
            low.append(f"undefined on {dim}" if a is None else f"{a:.2f} < {threshold:g} on {dim}")
    if not low:
        return None
    return (f"panel alpha {', '.join(low)} (Krippendorff, ordinal): the judges disagree too much "
            "for a judge-derived metric to gate; add or replace judges, or gate on another metric")


def _cell(x: float | None, pct: bool = True) -> str:
    return "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:+.3f}")


def html_section(audit: JudgeAudit, threshold: float = GATE_ALPHA) -> str:
    """The audit as an HTML section (every name and number escaped) for the report."""
    rows = []
    for name, e in sorted(audit.judges.items()):
        sp = e.self_preference
        own = "-" if sp is None else f"{sp.own_run}: {_cell(sp.own_win_rate)} vs {_cell(sp.others_win_rate)} ({_cell(sp.self_preference, False)})"
        human = ", ".join(f"{dim} κ={_cell(a.cohen_kappa_quadratic, False)}" for dim, a in sorted(e.human_agreement.items()))
        cells = [name, f"{_cell(e.position_flip_rate)} of {e.n_pairs_both_orders}",
                 f"{_cell(e.longer_answer_win_share)} of {e.n_decisive}", own, human or "-"]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html_text(h)}</th>" for h in (
        "judge", "position flips", "longer answer wins", "self-preference (own run: own vs others)",
        "agreement with humans (quadratic κ)"))
    parts = ["<section id=\"judge-audit\"><h2>Judge reliability</h2>",
             f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"]
    if audit.panel_alpha:
        refusal = gate_refusal(audit, threshold)
        alphas = ", ".join(f"{dim} {'-' if a is None else f'{a:.2f}'}" for dim, a in sorted(audit.panel_alpha.items()))
        parts.append(f"<p>Panel Krippendorff's alpha: {html_text(alphas)}. "
                     + html_text(refusal or f"Judge-derived metrics may gate (alpha ≥ {threshold:g}).") + "</p>")
    return "".join(parts) + "</section>"
