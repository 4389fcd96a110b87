"""What alignment did to real models: the record of the real-checkpoint analysis, as Markdown and HTML.

The analysis (``evalsuite.jobs.real_checkpoints``) imports published answers of
real checkpoints (AlpacaEval outputs files) and compares each preference-optimised
variant with its base model: length, across-prompt diversity with and without
length matching, homogenization with the base, paired tests, beside the
published AlpacaEval 2 figures. This module holds its typed record
(``kind: "real_checkpoints"``, written as ``ROOT/real_checkpoints.json``) and
renders it; it computes nothing. Model names come from files: every one is escaped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from evalsuite.escape import html_text, markdown_text
from evalsuite.metrics import names
from evalsuite.results import Record, load_result, register_result_kind

RECORD_FILE = "real_checkpoints.json"
# Where the demo keeps the analysis inside a folder of runs (``RUNS/_real``): deep enough that the
# imported runs (``RUNS/_real/<model>/generate``) are not read as the folder's own checkpoints.
REAL_DIR = "_real"
LENGTH = names.qualified("length")
DISTINCT = names.qualified("distinct_2", "across")
SELF_BLEU = names.qualified("self_bleu_4", "across")


class Estimate(BaseModel):
    value: float | None
    ci: tuple[float, float] | None = None


class PairedFigure(BaseModel):
    """One metric of a variant against its reference, paired by prompt."""

    metric: str = Field(description="qualified metric name (evalsuite.metrics.names)")
    matched_length: bool = Field(description="both answers to each prompt cut to the shorter one's token count")
    reference: Estimate
    variant: Estimate
    delta: Estimate = Field(description="variant - reference, with a paired interval over prompts")
    test: str | None = None
    p_value: float | None = None
    p_holm: float | None = Field(None, description="Holm-adjusted over every test of the analysis")


class Leaderboard(BaseModel):
    """Published AlpacaEval 2.0 figures (GPT-4-turbo annotator), from leaderboard_excerpt.csv."""

    win_rate: float
    win_rate_se: float
    lc_win_rate: float
    lc_win_rate_se: float
    avg_length: float


class ModelSummary(BaseModel):
    model: str
    sha256: str
    prompts: int
    mean_tokens: float
    distinct_2: Estimate
    self_bleu_4: Estimate
    semantic: dict[str, Estimate] = Field(default_factory=dict, description="across-prompt metrics on a seeded sample of "
                                          "prompts: distinct_k and the Shaib et al. set, by qualified name")
    leaderboard: Leaderboard | None = None


class VariantReport(BaseModel):
    model: str
    reference: str
    reference_is_base: bool
    prompts_paired: int
    only_in_variant: int
    only_in_reference: int
    figures: list[PairedFigure]
    homogenization: dict[str, Estimate] = Field(default_factory=dict, description="similarity with the reference per measure")
    compare: list[dict] = Field(default_factory=list, description="what `evalsuite compare` found on the two runs")
    compare_not_compared: list[str] = Field(default_factory=list)

    def figure(self, metric: str, matched: bool) -> PairedFigure | None:
        return next((f for f in self.figures if f.metric == metric and f.matched_length == matched), None)


class RealCheckpointsResult(Record):
    kind: Literal["real_checkpoints"] = "real_checkpoints"
    source: str
    settings: dict
    models: list[ModelSummary]
    variants: list[VariantReport]
    notes: list[str] = Field(default_factory=list)

    def summary(self, model: str) -> ModelSummary | None:
        return next((m for m in self.models if m.model == model), None)


register_result_kind("real_checkpoints", RealCheckpointsResult)


def load(root: str | Path) -> RealCheckpointsResult | None:
    """The analysis record in ``root`` (``root/real_checkpoints.json``), or None when there is none."""
    path = Path(root) / RECORD_FILE
    if not path.is_file():
        return None
    record = load_result(path)
    return record if isinstance(record, RealCheckpointsResult) else None


def _num(x: float | None, fmt: str = ".3f", sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return format(x, ("+" if sign else "") + fmt)


def metric_label(key: str) -> str:
    """A record key (``homogenization_rougel.between``, ``distinct_k.across``) as its label in the names table."""
    return names.LABELS.get(names.split(key)[0], key)


def _est(e: Estimate | None, fmt: str = ".3f", sign: bool = False) -> str:
    if e is None or e.value is None:
        return "n/a"
    ci = f" [{_num(e.ci[0], fmt, sign)}, {_num(e.ci[1], fmt, sign)}]" if e.ci else ""
    return _num(e.value, fmt, sign) + ci


def headline(record: RealCheckpointsResult, v: VariantReport) -> str:
    """One plain-text sentence of what the method did, with figures (escape before display)."""
    ref, var = record.summary(v.reference), record.summary(v.model)
    length = v.figure(LENGTH, False)
    parts = []
    if ref and var and ref.mean_tokens:
        change = var.mean_tokens / ref.mean_tokens - 1
        p = f", Wilcoxon p(Holm) {_num(length.p_holm, '.2g')}" if length and length.p_holm is not None else ""
        parts.append(f"answers {abs(change):.0%} {'shorter' if change < 0 else 'longer'} "
                     f"({var.mean_tokens:.0f} vs {ref.mean_tokens:.0f} tokens{p})")
    for metric, label in ((DISTINCT, "distinct-2 across prompts"), (SELF_BLEU, "self-BLEU-4 across prompts")):
        raw, matched = v.figure(metric, False), v.figure(metric, True)
        if raw and raw.delta.value is not None:
            text = f"{label} {_est(raw.delta, '.3f', True)}"
            if matched and matched.delta.value is not None:
                text += f", at matched length {_est(matched.delta, '.3f', True)}"
            parts.append(text)
    for measure, e in v.homogenization.items():
        parts.append(f"{metric_label(measure)} with {'base' if v.reference_is_base else 'reference'} {_est(e)}")
    if var and var.leaderboard and ref and ref.leaderboard:
        parts.append(f"published LC win rate {var.leaderboard.lc_win_rate:.1f} vs {ref.leaderboard.lc_win_rate:.1f}")
    return f"{v.model} (vs {v.reference}): " + "; ".join(parts)


TABLE_HEADER = ["model", "vs", "mean tokens", "Δ length", "distinct-2 (across)", "Δ distinct-2", "Δ at matched length",
                "self-BLEU-4 (across)", "Δ self-BLEU-4", "Δ at matched length", "ROUGE-L with reference"]
PUBLISHED = ["published win rate", "published LC win rate", "published avg length (characters)"]


def sampled_metrics(record: RealCheckpointsResult) -> list[str]:
    """The qualified names of the sampled across-prompt metrics, in the order they were computed."""
    return list(dict.fromkeys(name for m in record.models for name in m.semantic))


def table_header(record: RealCheckpointsResult) -> list[str]:
    return TABLE_HEADER + [f"{names.label(n)}, sample" for n in sampled_metrics(record)] + PUBLISHED


def table_rows(record: RealCheckpointsResult) -> list[list[str]]:
    """One row per model: references (vs "—") first in each family, then their variants. Plain text."""
    rows = []
    by_model = {v.model: v for v in record.variants}
    for m in record.models:
        v = by_model.get(m.model)
        lb = m.leaderboard
        row = [m.model, "—" if v is None else v.reference + ("" if v.reference_is_base else " (not base)"),
               f"{m.mean_tokens:.0f}"]
        if v is None:
            row += ["", _est(m.distinct_2), "", "", _est(m.self_bleu_4), "", "", ""]
        else:
            row.append(_num(m.mean_tokens / record.summary(v.reference).mean_tokens - 1, "+.0%"))
            for metric, own in ((DISTINCT, m.distinct_2), (SELF_BLEU, m.self_bleu_4)):
                raw, matched = v.figure(metric, False), v.figure(metric, True)
                row += [_est(own), _est(raw.delta if raw else None, ".3f", True),
                        _est(matched.delta if matched else None, ".3f", True)]
            row.append("; ".join(f"{_est(e)}" for e in v.homogenization.values()) or "n/a")
        row += [_est(m.semantic.get(n), ".0f" if names.split(n)[0] == "distinct_k" else ".3f") if n in m.semantic else "n/a"
                for n in sampled_metrics(record)]
        row += [f"{lb.win_rate:.1f} ± {lb.win_rate_se:.1f}" if lb else "n/a",
                f"{lb.lc_win_rate:.1f} ± {lb.lc_win_rate_se:.1f}" if lb else "n/a",
                f"{lb.avg_length:.0f}" if lb else "n/a"]
        rows.append(row)
    return rows


def markdown_table(record: RealCheckpointsResult) -> str:
    """The README table: one line per model, every cell escaped, with the headline sentences and notes below."""
    header = table_header(record)
    lines = ["| " + " | ".join(markdown_text(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_text(c) for c in row) + " |" for row in table_rows(record)]
    lines.append("")
    lines += [f"- {markdown_text(headline(record, v))}" for v in record.variants]
    lines += [f"- {markdown_text(note)}" for note in record.notes]
    return "\n".join(lines) + "\n"


def _html_figures(v: VariantReport) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("metric", "length-matched", "reference", "variant", "Δ [95% CI]", "test",
                                              "p", "p (Holm)"))
    body = "".join(
        "<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in (
            names.label(f.metric),
            "yes" if f.matched_length else "no", _est(f.reference), _est(f.variant), _est(f.delta, ".3f", True),
            f.test or "", _num(f.p_value, ".3g"), _num(f.p_holm, ".3g"))) + "</tr>"
        for f in v.figures)
    found = "".join(f"<li>{html_text(c.get('name'))}: Δ {html_text(_num(c.get('delta'), '.4f', True))}, "
                    f"p (Holm) {html_text(_num(c.get('p_adjusted'), '.3g'))}</li>" for c in v.compare)
    compare = (f"<div><code>evalsuite compare</code> on the two imported runs:<ul>{found}</ul></div>" if found else
               "<p><code>evalsuite compare</code> on the two imported runs found nothing to pair "
               f"({html_text(', '.join(v.compare_not_compared) or 'no shared task')}): its generation comparison is "
               "within prompts and these runs hold one answer per prompt, so the paired tests above are computed "
               "here.</p>")
    return (f"<h4>{html_text(v.model)} vs {html_text(v.reference)}"
            f"{'' if v.reference_is_base else ' (a sibling, not the base)'}: {v.prompts_paired} prompts paired</h4>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{compare}")


def html_section(root: str | Path) -> str:
    """The report section on real checkpoints (empty when ``root`` holds no analysis record); all text escaped."""
    record = load(root)
    if record is None:
        return ""
    opening = "".join(f"<li>{html_text(headline(record, v))}</li>" for v in record.variants)
    head = "".join(f"<th>{html_text(h)}</th>" for h in table_header(record))
    body = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in row) + "</tr>" for row in table_rows(record))
    notes = "".join(f"<li>{html_text(n)}</li>" for n in record.notes)
    settings = html_text(", ".join(f"{k}: {v}" for k, v in record.settings.items()))
    return (
        "<section id='real-checkpoints'><h2>What alignment did to real models</h2>"
        f"<p>Published AlpacaEval answers from {html_text(record.source)}, imported as runs.</p>"
        f"<ul>{opening}</ul>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + "".join(_html_figures(v) for v in record.variants)
        + f"<h4>Notes</h4><ul>{notes}</ul><p>Settings: {settings}</p></section>"
    )
