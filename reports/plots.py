"""Plots for reports (matplotlib, Agg). Each function returns a Figure; :func:`save` writes PNG and SVG.

Every name that becomes a label (checkpoint, task, metric, subject, judge, rubric dimension) goes through
:func:`evalsuite.escape.plot_label`, so a ``$`` in a name is shown, never parsed as mathtext.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from evalsuite.escape import plot_label
from evalsuite.jsonl import read_jsonl


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path_without_suffix: Path) -> dict[str, Path]:
    """Write ``.png`` and ``.svg`` next to each other; return both paths."""
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for suffix in ("png", "svg"):
        target = path_without_suffix.with_suffix(f".{suffix}")
        fig.savefig(target, dpi=110, bbox_inches="tight")
        out[suffix] = target
    _plt().close(fig)
    return out


def grouped_bars(frame: pd.DataFrame, columns: list[tuple[str, str]], title: str):
    """One group per (task, metric), one bar per checkpoint, error bars from the CI."""
    plt = _plt()
    checkpoints = list(dict.fromkeys(frame.checkpoint))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(columns) * max(1, len(checkpoints)) / 3), 4))
    width = 0.8 / max(1, len(checkpoints))
    for k, checkpoint in enumerate(checkpoints):
        values, lows, highs = [], [], []
        for task, metric in columns:
            row = frame[(frame.checkpoint == checkpoint) & (frame.task == task) & (frame.metric == metric)]
            v = float(row.value.iloc[0]) if len(row) and pd.notna(row.value.iloc[0]) else math.nan
            lo = float(row.ci_low.iloc[0]) if len(row) and pd.notna(row.ci_low.iloc[0]) else v
            hi = float(row.ci_high.iloc[0]) if len(row) and pd.notna(row.ci_high.iloc[0]) else v
            values.append(v)
            lows.append(max(0.0, v - lo) if not math.isnan(v) else 0)
            highs.append(max(0.0, hi - v) if not math.isnan(v) else 0)
        x = np.arange(len(columns)) + k * width
        ax.bar(x, values, width, yerr=[lows, highs], capsize=3, label=plot_label(checkpoint))
    ax.set_xticks(np.arange(len(columns)) + width * (len(checkpoints) - 1) / 2)
    ax.set_xticklabels([plot_label(f"{t}\n{m}") for t, m in columns], fontsize=8)
    ax.set_title(plot_label(title))
    ax.legend(fontsize=8, ncol=min(3, len(checkpoints)))
    return fig


def quality_vs_diversity(frame: pd.DataFrame, quality: tuple[str, str], diversity: tuple[str, str]):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for checkpoint in dict.fromkeys(frame.checkpoint):
        q = frame[(frame.checkpoint == checkpoint) & (frame.task == quality[0]) & (frame.metric == quality[1])]
        d = frame[(frame.checkpoint == checkpoint) & (frame.task == diversity[0]) & (frame.metric == diversity[1])]
        if len(q) and len(d):
            ax.scatter(d.value.iloc[0], q.value.iloc[0], s=50)
            ax.annotate(plot_label(checkpoint), (d.value.iloc[0], q.value.iloc[0]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel(plot_label(f"{diversity[0]} · {diversity[1]}"))
    ax.set_ylabel(plot_label(f"{quality[0]} · {quality[1]}"))
    ax.set_title("quality vs diversity")
    return fig


def heatmap(table: pd.DataFrame, title: str):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * max(1, table.shape[1]), 0.8 + 0.28 * max(1, table.shape[0])))
    image = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(table.shape[1]))
    ax.set_xticklabels([plot_label(c) for c in table.columns], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]))
    ax.set_yticklabels([plot_label(i) for i in table.index], fontsize=7)
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_title(plot_label(title))
    return fig


def radar(scores: dict[str, dict[str, float | None]], scale: tuple[int, int], title: str):
    """Rubric dimensions around the circle, one polygon per checkpoint."""
    plt = _plt()
    dims = list(next(iter(scores.values())))
    angles = np.linspace(0, 2 * np.pi, len(dims), endpoint=False).tolist()
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(111, polar=True)
    for label, values in scores.items():
        v = [values[d] if values[d] is not None else np.nan for d in dims]
        ax.plot(angles + angles[:1], v + v[:1], label=plot_label(label))
    ax.set_xticks(angles)
    ax.set_xticklabels([plot_label(d) for d in dims], fontsize=8)
    ax.set_ylim(*scale)
    ax.set_title(plot_label(title))
    ax.legend(fontsize=7, loc="upper right", bbox_to_anchor=(1.3, 1.1))
    return fig


def training_curves(logs: dict[str, Path], keys: tuple[str, ...] = ("loss", "rewards/accuracies", "rewards/margins", "reward")):
    """One panel per logged key that any checkpoint has; x is the training step."""
    plt = _plt()
    series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for checkpoint, path in logs.items():
        for row in read_jsonl(path):
            step = row.get("step")
            for key in keys:
                if step is not None and isinstance(row.get(key), (int, float)):
                    xs, ys = series.setdefault(key, {}).setdefault(checkpoint, ([], []))
                    xs.append(step)
                    ys.append(row[key])
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), squeeze=False)
    for ax, (key, per_checkpoint) in zip(axes[0], series.items()):
        for checkpoint, (xs, ys) in per_checkpoint.items():
            ax.plot(xs, ys, label=plot_label(checkpoint))
        ax.set_title(plot_label(key))
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    return fig


def trends(history: pd.DataFrame, title: str):
    """Nightly trend lines: one line per (checkpoint, task · metric) over run dates."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for (name, group) in history.groupby("series"):
        ax.plot(group.night, group.value, marker="o", label=plot_label(name))
    ax.set_title(plot_label(title))
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=7)
    return fig
