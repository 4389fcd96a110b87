"""Hostile names in every output: HTML, CSV (formula injection), Markdown, matplotlib (mathtext).

Each case feeds names a model, a user or a folder can carry into a real writer and reads the output back
with an independent parser (html.parser, csv, PNG magic, a count of table cells).
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from evalsuite.reports import plots
from evalsuite.reports.compare import Comparison, CompareResult, to_html, to_markdown
from evalsuite.tasks.judging.human_sheet import export_sheet
from evalsuite.tasks.judging.items import Item
from evalsuite.tasks.judging.rubric import load_rubric

FORMULAS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\t=1", "\r=1"]
HOSTILE = ["$a^b^c$", "<script>alert(1)</script>", "a & b 'q' \"dq\"", "pipe | `tick` *star*\nnew line\u2028", "half \ud800", *FORMULAS]


class Tags(HTMLParser):
    def __init__(self, page: str):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _comparison_result() -> CompareResult:
    comparisons = [Comparison(task=name, metric="acc", a=0.5, b=0.25, delta=-0.25, ci=(-0.3, -0.2), p_value=0.01,
                              test="mcnemar", n_paired=10, p_adjusted=0.02, significant=True) for name in HOSTILE]
    return CompareResult(a=HOSTILE[0], b=HOSTILE[1], alpha=0.05, n_boot=10, seed=0, comparisons=comparisons,
                         only_in_a=[HOSTILE[2]], only_in_b=[HOSTILE[3]], not_compared=FORMULAS)


def test_compare_markdown_keeps_one_row_per_line():
    lines = to_markdown(_comparison_result()).encode("utf-8").decode("utf-8").splitlines()
    rows = [line for line in lines if line.startswith("|")]
    assert len(rows) == 2 + len(HOSTILE)  # header, rule, one line per comparison: no name broke a row
    assert {len(re.findall(r"(?<!\\)(?:\\\\)*\|", row)) for row in rows} == {11}
    assert not any("<script>" in line or "`tick`" in line for line in lines)


def test_compare_html_has_no_injected_element():
    html = to_html(_comparison_result())
    html.encode("utf-8")  # what the CLI prints: a lone surrogate would make it a traceback
    page = Tags(html)
    assert set(page.tags) <= {"html", "head", "meta", "title", "body", "h1", "p", "table", "thead", "tbody", "tr", "th", "td"}
    assert "<script>alert(1)</script>" in "".join(page.text) and "=cmd|' /C calc'!A0" in "".join(page.text)


def test_plots_render_every_hostile_label(tmp_path):
    frame = pd.DataFrame([dict(checkpoint=c, task=t, metric="acc", value=0.5, ci_low=0.4, ci_high=0.6, n=10)
                          for c in HOSTILE[:3] for t in HOSTILE[::3]])
    columns = [(t, "acc") for t in HOSTILE[::3]]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n" for s in range(3)), encoding="utf-8")
    figures = [
        plots.grouped_bars(frame, columns, "$x^$"),
        plots.quality_vs_diversity(frame, columns[0], columns[1]),
        # pandas' pyarrow strings cannot hold a lone surrogate, so the heatmap's table leaves that name out
        plots.heatmap(pd.DataFrame({c: {s: 0.5 for s in HOSTILE if "\ud800" not in s} for c in HOSTILE[:2]}), HOSTILE[4]),
        plots.radar({c: {d: 3.0 for d in HOSTILE[:4]} for c in HOSTILE[:2]}, (1, 5), "$\\nonsense{$"),
        plots.training_curves({c: log for c in HOSTILE[:2]}),
        plots.trends(pd.DataFrame({"series": HOSTILE[:2], "night": ["2026-01-01", "2026-01-02"], "value": [1, 2]}), "t"),
    ]
    for k, fig in enumerate(figures):
        paths = plots.save(fig, tmp_path / f"plot{k}")
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in paths["svg"].read_bytes()


@pytest.fixture()
def sheet(tmp_path) -> Path:
    items = [Item(label=f"run {name}", prompt_id=str(i), sample_index=0, question=name, answer=name + " \ud800")
             for i, name in enumerate(HOSTILE)]
    return export_sheet(items, load_rubric("default"), tmp_path / "sheet")


def test_rater_sheet_cells_never_start_a_formula(sheet):
    rows = list(csv.reader(io.StringIO((sheet / "sheet.csv").read_bytes().decode("utf-8"), newline="")))
    cells = [cell for row in rows[1:] for cell in row[1:3]]
    assert len(rows) == 1 + len(HOSTILE)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert {"'" + f for f in FORMULAS} <= set(cells)  # the text itself is kept, behind the quote
    assert "pipe | `tick` *star*\nnew line\u2028" in cells and "$a^b^c$ \ufffd" in cells


def test_rater_form_has_no_injected_element_and_key_round_trips(sheet):
    page = Tags((sheet / "form.html").read_text(encoding="utf-8"))
    assert page.tags.count("script") == 1  # the form's own save() script, nothing from the answers
    assert "<script>alert(1)</script>" in "".join(page.text)
    key = json.loads((sheet / "key.json").read_text(encoding="utf-8"))
    assert sorted(item["label"] for item in key["items"].values()) == sorted(f"run {name}" for name in HOSTILE)
