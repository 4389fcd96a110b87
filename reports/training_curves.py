"""Curves by training step, with confidence intervals, of the evaluations made during training.

``EvalCallback`` (the recipe's ``eval:``) leaves, for every stage, ``<checkpoints>/<stage>/evals/step-NNNNNN/
<task>/results.json``: ordinary task runs whose ``backend_config`` names the stage and step. This module reads
them through :func:`evalsuite.results.load_run` and :func:`evalsuite.reports.collect.summary_frame` (so a value
and its interval are drawn exactly as the summary report draws them), adds the reward the trainer logged in
``train_log.jsonl`` (GRPO), and draws one panel per metric with one line per stage and its interval as a band.
:func:`html_section` is the report's section; every label goes through :func:`evalsuite.escape.plot_label`
or :func:`evalsuite.escape.html_text`.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pandas as pd

from evalsuite.errors import DataError
from evalsuite.escape import html_text, plot_label
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics import names
from evalsuite.reports import plots
from evalsuite.reports.collect import Run, summary_frame
from evalsuite.results import load_run

COLUMNS = ["stage", "step", "task", "metric", "value", "ci_low", "ci_high", "n"]
REWARD_KEYS = ("reward",)  # the trainer's own logged numbers drawn beside the evaluations


def _stages(root: Path) -> list[Path]:
    """Stage folders that have evaluations, in creation order (the pipeline's)."""
    return sorted((p.parent for p in root.glob("*/evals") if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name))


def curve_frame(root: str | Path) -> pd.DataFrame:
    """Long table: stage, step, task, metric, value, ci_low, ci_high, n — one row per evaluated step."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of checkpoints")
    frames = []
    for stage in _stages(root):
        for results in sorted(stage.glob("evals/step-*/*/results.json")):
            record = load_run(results.parent)
            step = record.backend_config.get("step")
            if not isinstance(step, int):
                raise DataError(f"{results}: field 'backend_config.step': expected the training step of a run made "
                                f"during training, got {step!r}")
            part = summary_frame([Run(stage.name, results.parent.name, results.parent, record)])
            frames.append(part.rename(columns={"checkpoint": "stage"}).assign(step=step))
        frames += [_logged(stage, key) for key in REWARD_KEYS]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS].sort_values(["stage", "task", "metric", "step"], kind="stable")


def _logged(stage: Path, key: str) -> pd.DataFrame:
    """A key the trainer logged (no interval): rows with task ``train``."""
    log = stage / "train_log.jsonl"
    rows = [dict(stage=stage.name, step=r["step"], task="train", metric=key, value=float(r[key]), ci_low=None,
                 ci_high=None, n=0)
            for r in (read_jsonl(log) if log.is_file() else []) if isinstance(r.get(key), (int, float)) and "step" in r]
    return pd.DataFrame(rows, columns=COLUMNS)


def default_panels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(task, metric) panels worth a look: accuracy, the headline diversity metrics in both modes, the reward."""
    wanted = [names.ACCURACY, *(names.qualified(m, mode) for mode in names.MODES for m in names.HEADLINE), *REWARD_KEYS]
    present = frame[["task", "metric"]].drop_duplicates().itertuples(index=False)
    return sorted(((t, m) for t, m in present if m in wanted), key=lambda tm: (wanted.index(tm[1]), tm[0]))


def step_curves(frame: pd.DataFrame, panels: list[tuple[str, str]], title: str = "evaluation during training"):
    """One panel per (task, metric); one line per stage over steps, its 95% interval as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.3 * rows), squeeze=False)
    for ax, (task, metric) in zip(axes.flat, panels):
        part = frame[(frame.task == task) & (frame.metric == metric)]
        for stage, line in part.groupby("stage", sort=False):
            line = line.sort_values("step")
            drawn = ax.plot(line.step, line.value, marker="o", markersize=3, label=plot_label(stage))
            band = line.dropna(subset=["ci_low", "ci_high"])
            if len(band):
                ax.fill_between(band.step, band.ci_low.astype(float), band.ci_high.astype(float), alpha=0.15,
                                color=drawn[0].get_color())
        label = names.label(metric) if names.split(metric)[0] in names.LABELS else metric
        ax.set_title(plot_label(f"{task} · {label}"), fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(plot_label(title))
    fig.tight_layout()
    return fig


def _stop_reasons(root: Path) -> dict[str, str]:
    reasons = {}
    for manifest in sorted(root.glob("*/evalsuite_checkpoint.json")):
        evals = json.loads(manifest.read_text(encoding="utf-8")).get("evals") or {}
        if evals.get("stop_reason"):
            reasons[manifest.parent.name] = evals["stop_reason"]
    return reasons


def html_section(root: str | Path, assets: str | Path | None = None) -> str:
    """The report section: step curves (PNG embedded; PNG and SVG written to ``assets`` when given), a table of
    each stage's first and last value of every drawn metric, and the stages an alarm stopped. Empty when no
    stage under ``root`` was evaluated during training."""
    root = Path(root)
    frame = curve_frame(root)
    panels = default_panels(frame)
    if not panels:
        return ""
    with tempfile.TemporaryDirectory() as scratch:
        paths = plots.save(step_curves(frame, panels), Path(assets or scratch) / "step_curves")
        image = base64.b64encode(paths["png"].read_bytes()).decode()
    parts = ["<h2>During training</h2>",
             f"<figure><img alt='step curves' src='data:image/png;base64,{image}'><figcaption class='note'>"
             "Evaluations of the live model every N steps; bands are 95% intervals (bootstrap for diversity, "
             "normal from the standard error for accuracy).</figcaption></figure>", _ends_table(frame, panels)]
    for stage, reason in _stop_reasons(root).items():
        parts.append(f"<p class='note'>Stage <b>{html_text(stage)}</b> stopped early: {html_text(reason)}</p>")
    return "".join(parts)


def _ends_table(frame: pd.DataFrame, panels: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html_text(f'{t} · {m}')}</th>" for t, m in panels)
    body = []
    for stage in dict.fromkeys(frame.stage):
        cells = []
        for task, metric in panels:
            part = frame[(frame.stage == stage) & (frame.task == task) & (frame.metric == metric)].sort_values("step")
            part = part.dropna(subset=["value"])
            cells.append("" if part.empty else f"{part.value.iloc[0]:.3f} → {part.value.iloc[-1]:.3f} "
                         f"(steps {int(part.step.iloc[0])}–{int(part.step.iloc[-1])})")
        body.append(f"<tr><th>{html_text(stage)}</th>{''.join(f'<td>{html_text(c)}</td>' for c in cells)}</tr>")
    return f"<table><thead><tr><th>stage</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
