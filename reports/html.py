"""The self-contained HTML report: one file, images embedded, every text escaped.

It opens with JavaScript disabled (nothing needs it) and without a network.
Sections: summary table with significance markers against a baseline, plots,
per-task drill-down, judging, and side-by-side answers with the judges' scores.
Plots are also written as PNG and SVG next to the page, and tables as CSV and
Markdown.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from pydantic import BaseModel

from evalsuite.escape import html_text, markdown_text
from evalsuite.files import atomic_write_csv, atomic_write_text
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics import names
from evalsuite.reports import plots, training_curves
from evalsuite.reports.collect import JUDGING, Run, headline_metrics, load_tree, subject_frame, summary_frame, wide_table
from evalsuite.reports.compare import load_runs
from evalsuite.reports.homogenization import similarity_rows
from evalsuite.reports.judge_audit import JudgeAudit
from evalsuite.reports.judge_audit import html_section as audit_section
from evalsuite.reports.judge_pairwise import PairwiseResult
from evalsuite.reports.judge_runs import PanelResult
from evalsuite.scores import DiversityScores

M = TypeVar("M", bound=BaseModel)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
max-width:75em;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}
th{background:#f3f3f3}pre{white-space:pre-wrap;word-break:break-word;margin:0;font-family:inherit}
.up{color:#0a7d12;font-weight:bold}.down{color:#b00020;font-weight:bold}img{max-width:100%}
details{margin:.5em 0}summary{cursor:pointer;font-weight:bold}.note{color:#666;font-size:.85em}
"""


def _img(paths: dict[str, Path], alt: str) -> str:
    data = base64.b64encode(paths["png"].read_bytes()).decode()
    return f"<figure><img alt='{html_text(alt)}' src='data:image/png;base64,{data}'><figcaption class='note'>{html_text(alt)} " \
           f"({html_text(paths['svg'].name)} beside this page)</figcaption></figure>"


def _table(frame: pd.DataFrame, markers: dict[tuple[str, str], str] | None = None) -> str:
    head = "<tr><th>" + html_text(str(frame.index.name or "")) + "</th>" + "".join(f"<th>{html_text(str(c))}</th>" for c in frame.columns) + "</tr>"
    body = []
    for index, row in frame.iterrows():
        cells = []
        for column, value in row.items():
            mark = (markers or {}).get((str(index), str(column)), "")
            cells.append(f"<td>{html_text(str(value))}{mark}</td>")
        body.append(f"<tr><th>{html_text(str(index))}</th>{''.join(cells)}</tr>")
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _significance(root: Path, baseline: str, checkpoints: list[str]) -> dict[tuple[str, str], str]:
    """Markers for the summary table: ▲/▼ where a paired test (Holm-corrected) differs from the baseline."""
    from evalsuite.reports.compare import compare

    markers = {}
    for checkpoint in checkpoints:
        if checkpoint == baseline:
            continue
        result = compare(root / baseline, root / checkpoint, n_boot=500)
        for c in result.comparisons:
            if c.significant:
                arrow = "<span class='up'> ▲</span>" if c.delta > 0 else "<span class='down'> ▼</span>"
                markers[(checkpoint, f"{c.task} · {c.metric}")] = arrow
    return markers


def _verdicts(records: list[dict[str, Any]]) -> str:
    """The judges' scores (or status) and rationale under one answer."""
    return "".join(
        f"<div class='note'>{html_text(v['judge'])}: "
        + (html_text(", ".join(f"{k} {s:g}" for k, s in v["scores"].items())) if v.get("scores") else html_text(v.get("status", "")))
        + (f"<details><summary>rationale</summary><pre>{html_text(v.get('raw') or '')}</pre></details>" if v.get("raw") else "")
        + "</div>"
        for v in records
    )


def _answers_section(runs: list[Run], panel_records: list[dict[str, Any]], limit: int = 8) -> str:
    generation = [r for r in runs if isinstance(r.record.scores, DiversityScores)]
    if not generation:
        return ""
    by_checkpoint = {r.checkpoint: {s["prompt_id"]: s for s in r.samples() if s["sample_index"] == 0} for r in generation}
    scores: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in panel_records:
        # Panel items are named "<run label>/<prompt>/<sample>", the run label being "<checkpoint>/<run>" here.
        checkpoint = record["label"].split("/")[0]
        scores.setdefault((checkpoint, record["prompt_id"]), []).append(record)
    prompts = list(next(iter(by_checkpoint.values())))[:limit]
    blocks = []
    for prompt_id in prompts:
        first = next(iter(by_checkpoint.values()))[prompt_id]
        cells = []
        for checkpoint, samples in by_checkpoint.items():
            sample = samples.get(prompt_id)
            answer = "(no answer)" if sample is None else sample["response"]
            cells.append(f"<td><b>{html_text(checkpoint)}</b><pre>{html_text(answer)}</pre>"
                         f"{_verdicts(scores.get((checkpoint, prompt_id), []))}</td>")
        blocks.append(f"<h4>Prompt {html_text(str(prompt_id))}</h4><pre>{html_text(first['prompt'])}</pre>"
                      f"<table><tr>{''.join(cells)}</tr></table>")
    return "<h2>Answers side by side</h2>" + "".join(blocks)


def _figures(frame: pd.DataFrame, runs: list[Run], judging: dict[str, BaseModel], assets: Path,
             checkpoints_dir: str | Path | None, history: pd.DataFrame | None) -> list[str]:
    """Every plot of the report, each written as PNG and SVG into ``assets`` and embedded."""
    figures = []
    accuracy_columns = [(t, m) for t, m in dict.fromkeys(zip(frame.task, frame.metric)) if m == names.ACCURACY]
    if accuracy_columns:
        figures.append(_img(plots.save(plots.grouped_bars(frame, accuracy_columns, "accuracy (95% CI)"), assets / "accuracy"), "accuracy per task"))
    headline = headline_metrics()
    diversity_columns = [(t, m) for t, m in dict.fromkeys(zip(frame.task, frame.metric)) if m in headline]
    if diversity_columns:
        figures.append(_img(plots.save(plots.grouped_bars(frame, diversity_columns, "diversity (95% CI)"), assets / "diversity"), "diversity"))
    if accuracy_columns and diversity_columns:
        fig = plots.quality_vs_diversity(frame, accuracy_columns[0], diversity_columns[0])
        figures.append(_img(plots.save(fig, assets / "quality_vs_diversity"), "quality vs diversity"))
    for task, _ in accuracy_columns:
        table = subject_frame(runs, task)
        if len(table):
            safe = task.replace("/", "_")
            figures.append(_img(plots.save(plots.heatmap(table, f"{task}: accuracy per subject"), assets / f"heatmap_{safe}"), f"{task} per subject"))
    _, panel = _first(judging, PanelResult)
    scores, title = (panel.scores, "judge rubric means") if panel is not None and panel.scores else (
        (panel.probability_scores, "judge rubric means (probability-weighted)") if panel is not None else (None, ""))
    if scores:  # no parsed scores when no verdict could be parsed; then the probability-weighted ones
        radar_scores = {label: {d: v.mean for d, v in dims.items()} for label, dims in scores.items()}
        fig = plots.radar(radar_scores, (panel.rubric["scale_min"], panel.rubric["scale_max"]), title)
        figures.append(_img(plots.save(fig, assets / "rubric_radar"), "rubric dimensions"))
    if checkpoints_dir is not None:
        logs = {p.parent.name: p for p in sorted(Path(checkpoints_dir).glob("*/train_log.jsonl"))}
        fig = plots.training_curves(logs) if logs else None
        if fig is not None:
            figures.append(_img(plots.save(fig, assets / "training_curves"), "training curves"))
    if history is not None and len(history):
        figures.append(_img(plots.save(plots.trends(history, "nightly trends"), assets / "trends"), "nightly trends"))
    return figures


def _judging_sections(root: Path, judging: dict[str, BaseModel]) -> tuple[list[str], list[dict[str, Any]]]:
    """The judge panel and pairwise tables, and the panel's per-answer judgments."""
    sections: list[str] = []
    panel_records: list[dict[str, Any]] = []
    name, panel = _first(judging, PanelResult)
    if panel is not None:
        path = root / JUDGING / name / "judgments.jsonl"
        panel_records = read_jsonl(path) if path.is_file() else []
        rows = {label: {d: _mean_cell(v.mean, v.ci) for d, v in dims.items()} for label, dims in panel.scores.items()}
        counts = panel.judgments
        sections += ["<h2>Judge panel</h2>", _table(_frame(rows, "run")),
                     f"<p class='note'>{counts['ok']} verdicts scored, {counts['unparseable']} unparseable (excluded, "
                     f"never guessed), {counts['failed']} failed. Judges: {html_text(', '.join(j['name'] for j in panel.judges))}.</p>"]
        sections += _probability_section(panel)
    _, pairwise = _first(judging, PairwiseResult)
    if pairwise is not None:
        rows = {f"{p.candidate} vs {p.baseline} ({p.judge})": _pair_row(p, bool(pairwise.probability_judges))
                for p in pairwise.pairs}
        sections += ["<h2>Pairwise judging (both orders)</h2>", _table(_frame(rows, "comparison"))]
        if pairwise.probability_judges:
            mass = "; ".join(f"{p.judge} {p.probability_mass.mean:.3f}" for p in pairwise.pairs
                             if p.probability_mass and p.probability_mass.mean is not None)
            sections.append(f"<p class='note'>Win rate and its length control: {html_text(pairwise.scoring.get('win_rate', ''))}. "
                            f"Probability-weighted columns: {html_text(pairwise.scoring.get('probability_win_rate', ''))}. "
                            f"Mean probability on the three verdicts: {html_text(mass)}.</p>")
    _, audit = _first(judging, JudgeAudit)
    if audit is not None:
        sections.append(audit_section(audit))
    return sections, panel_records


def _pair_row(p, probabilities: bool) -> dict[str, Any]:
    """One pairwise comparison: parsed win rate and its length control, then the probability-weighted ones."""
    row: dict[str, Any] = {"win rate": "n/a" if p.win_rate is None else f"{p.win_rate:.3f}",
                           "W/T/L": f"{p.wins}/{p.ties}/{p.losses}",
                           "length-controlled": _lc_cell(p.length_controlled, p.length_controlled_error)}
    if probabilities:
        row["win rate (probability-weighted)"] = _mean_cell(p.probability_win_rate, p.probability_ci) if p.probability_n else "n/a"
        row["length-controlled (probability-weighted)"] = _lc_cell(p.probability_length_controlled,
                                                                   p.probability_length_controlled_error)
    row["order-inconsistent"] = "n/a" if p.order_inconsistent_share is None else f"{p.order_inconsistent_share:.2f}"
    row["unparseable or failed"] = p.unparseable_or_failed
    return row


def _lc_cell(lc, error: str | None) -> str:
    """AlpacaEval 2's length-controlled win rate with its bootstrap CI, or why there is none."""
    if lc is None or lc.value is None:
        return "n/a" + (f" ({error})" if error else "")
    ci = f" [{lc.ci[0]:.3f}, {lc.ci[1]:.3f}]" if lc.ci and None not in lc.ci else ""
    return f"{lc.value:.3f}{ci}"


def _homogenization_section(root: Path, baseline: str, checkpoints: list[str]) -> str:
    """How alike each checkpoint's answers are to the baseline's, prompt by prompt (ROUGE-L F1, a level: 1.0 = the
    same answers), with a bootstrap CI over prompts: has training made the model answer like its parent?"""
    reference = {r.label: r for r in load_runs(root / baseline) if isinstance(r.record.scores, DiversityScores)}
    rows: dict[str, dict[str, str]] = {}
    for name in checkpoints:
        if name == baseline or not (root / name).is_dir():
            continue
        for run in load_runs(root / name):
            if run.label in reference and isinstance(run.record.scores, DiversityScores):
                for row in similarity_rows(reference[run.label], run, n_boot=500, seed=0):
                    rows.setdefault(name, {})[f"{row.name} vs {baseline}"] = f"{row.value:.3f} [{row.ci[0]:.3f}, {row.ci[1]:.3f}]"
    if not rows:
        return ""
    return ("<h2>Homogenization with the baseline</h2>" + _table(_frame(rows, "checkpoint")) +
            "<p class='note'>ROUGE-L F1 between a checkpoint's answer and the baseline's answer to the same prompt and "
            "sample, averaged; 95% CI from a bootstrap over prompts. A level, not a delta.</p>")


def _probability_section(panel: PanelResult) -> list[str]:
    """G-Eval scores: the expectation over the scale's tokens, beside how far they agree with the parsed scores."""
    if not panel.probability_scores:
        return []
    rows = {label: {d: _mean_cell(v.mean, v.ci) for d, v in dims.items()} for label, dims in panel.probability_scores.items()}
    agree = {d: {"pearson": a.pearson, "spearman": a.spearman, "items with both": a.n_both,
                 "probability only": a.n_probability_only} for d, a in (panel.scoring_agreement or {}).items()}
    mass = ", ".join(f"{d} {'n/a' if m.mean is None else format(m.mean, '.3f')}" for d, m in (panel.probability_mass or {}).items())
    return ["<h3>Probability-weighted scores (G-Eval)</h3>", _table(_frame(rows, "run")),
            f"<p class='note'>{html_text(panel.scoring.get('probability_scores', 'probability-weighted'))}. Mean probability mass on the scale: "
            f"{html_text(mass)}.</p>", _table(_frame(agree, "dimension")) if agree else ""]


def _first(judging: dict[str, BaseModel], model: type[M]) -> tuple[str, M] | tuple[None, None]:
    """The first judging record of type ``model``, with its folder name under ``_judging``."""
    return next(((name, r) for name, r in judging.items() if isinstance(r, model)), (None, None))


def _mean_cell(mean: float | None, ci: tuple[float, float] | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _frame(rows: dict[str, dict[str, Any]], index: str) -> pd.DataFrame:
    table = pd.DataFrame(rows).T
    table.index.name = index
    return table


def build_report(root: str | Path, out: str | Path, baseline: str | None = None, checkpoints_dir: str | Path | None = None,
                 history: pd.DataFrame | None = None, title: str = "evalsuite report",
                 extra_sections: Sequence[str] = ()) -> Path:
    """Write ``out`` (an .html file) and, beside it, the plots (PNG, SVG) and tables (CSV, Markdown).

    ``extra_sections`` are HTML blocks the caller has already escaped (nightly's gate verdicts and power
    plan), placed after the summary table.
    """
    root, out = Path(root), Path(out)
    assets = out.parent
    assets.mkdir(parents=True, exist_ok=True)
    runs, judging = load_tree(root)
    frame = summary_frame(runs)
    checkpoints = list(dict.fromkeys(r.checkpoint for r in runs))
    baseline = baseline if baseline in checkpoints else checkpoints[0]
    wide = wide_table(frame)
    wide.index.name = "checkpoint"
    atomic_write_csv(assets / "summary_long.csv", [list(frame.columns), *frame.itertuples(index=False)])
    atomic_write_csv(assets / "summary.csv", [[wide.index.name, *wide.columns], *wide.itertuples()])
    atomic_write_text(assets / "summary.md", to_markdown(wide))
    markers = _significance(root, baseline, checkpoints)

    key_ends = [f"· {m}" for m in (names.ACCURACY, *headline_metrics())]
    key_metrics = [c for c in wide.columns if any(c.endswith(end) for end in key_ends)]
    sections = [f"<h1>{html_text(title)}</h1><p class='note'>Runs under {html_text(str(root))}; baseline "
                f"<b>{html_text(baseline)}</b>. ▲/▼: significantly higher/lower than the baseline in a paired "
                "test (Holm-corrected over all comparisons of that checkpoint: McNemar for accuracy, a paired bootstrap "
                "over prompts for diversity; for self-BLEU lower is more diverse).</p>",
                "<h2>Summary</h2>", _table(wide[key_metrics] if key_metrics else wide, markers)]
    if checkpoints_dir is not None:  # the step curves open the report: what training did, step by step
        sections.insert(1, training_curves.html_section(checkpoints_dir, assets))
    sections += list(extra_sections)
    sections += ["<h2>Plots</h2>", *_figures(frame, runs, judging, assets, checkpoints_dir, history)]
    sections.append("<h2>Per task</h2>")
    for task in dict.fromkeys(frame.task):
        part = frame[frame.task == task].pivot(index="metric", columns="checkpoint", values="value")
        part.index.name = "metric"
        sections.append(f"<details><summary>{html_text(task)}</summary>{_table(part.map(lambda v: '' if pd.isna(v) else f'{v:.4f}'))}</details>")
    sections.append(_homogenization_section(root, baseline, checkpoints))
    judging_sections, panel_records = _judging_sections(root, judging)
    sections += [*judging_sections, _answers_section(runs, panel_records)]
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html_text(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n")
    atomic_write_text(out, page)
    return out


def to_markdown(frame: pd.DataFrame) -> str:
    """A Markdown table (for PR comments): one line per row, every cell escaped."""
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(map(markdown_text, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(markdown_text, row)) + " |" for row in frame.itertuples()]
    return "\n".join(lines) + "\n"
