"""The HTML report from a hand-built tree of runs: content, escaping, self-containment, a real browser."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evalsuite.jsonl import write_jsonl
from evalsuite.reports.html import build_report
from evalsuite.results import RunResult, TaskSpec, Timings, provenance
from evalsuite.scores import AccuracyScores, DiversityScores

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


def record_json(folder: Path, task: str, params: dict, scores) -> str:
    """A run record as the runner writes it (typed, with provenance); the model is named after the checkpoint."""
    timings = Timings(started="2026-01-01T00:00:00+00:00", total_seconds=0, model_load_seconds=0, compute_seconds=0,
                      items_total=0, items_computed=0, items_from_store=0)
    return RunResult(provenance=provenance(), task=TaskSpec(name=task, version="1", params_passed={}, params_resolved=params),
                     model={"model": folder.parent.name}, backend_config={}, seeds={}, task_metadata={}, computation={},
                     store="(test)", timings=timings, scores=scores).model_dump_json()


def accuracy_run(folder: Path, correct: list[bool], task: str = "mmlu", subject: str = "anatomy") -> None:
    folder.mkdir(parents=True)
    n = len(correct)
    acc = sum(correct) / n
    scores = {"overall": {"acc": acc, "stderr": 0.05, "n": n, "subjects": 1},
              "overall_subject_mean": {"acc": acc, "note": "unweighted mean over subjects"},
              "categories": {"Other": {"acc": acc, "stderr": 0.05, "n": n, "subjects": 1}},
              "subjects": {subject: {"acc": acc, "stderr": 0.05, "n": n, "category": "Other"}}}
    (folder / "results.json").write_text(record_json(folder, task, {"shots": 0, "subjects": [subject]}, AccuracyScores(**scores)))
    write_jsonl(folder / "samples.jsonl", [{"subject": subject, "index": i, "correct": c} for i, c in enumerate(correct)])


def generation_run(folder: Path, answers: list[str], distinct: float) -> None:
    folder.mkdir(parents=True)
    metric = lambda name, v: {"name": name, "value": v, "ci": [v - 0.05, v + 0.05], "signature": "x", "n": len(answers)}  # noqa: E731
    within = {"distinct_2": metric("distinct_2", distinct), "self_bleu_4": metric("self_bleu_4", 1 - distinct)}
    scores = DiversityScores(within=within, across={"distinct_2": metric("distinct_2", distinct)},
                             responses=len(answers), prompts=len(answers))
    (folder / "results.json").write_text(record_json(folder, "generate", {}, scores))
    write_jsonl(folder / "samples.jsonl", [{"prompt_id": str(i), "sample_index": 0, "prompt": f"问题 {i} <b>bold?</b>", "response": a}
                                           for i, a in enumerate(answers)])


@pytest.fixture()
def tree(tmp_path) -> Path:
    root = tmp_path / "runs"
    accuracy_run(root / "sft" / "mmlu", [True] * 60 + [False] * 40)
    accuracy_run(root / "dpo" / "mmlu", [True] * 30 + [False] * 70)
    generation_run(root / "sft" / "generate", ["一个正常的回答", "fine"], 0.9)
    generation_run(root / "dpo" / "generate", [HOSTILE, "ok"], 0.5)
    return root


def test_report_content_and_escaping(tree, tmp_path):
    out = build_report(tree, tmp_path / "site" / "index.html", baseline="sft")
    page = out.read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<b>bold?</b>" not in page and "问题 0" in page and "一个正常的回答" in page
    assert page.count("data:image/png;base64,") >= 4  # accuracy, diversity, quality-vs-diversity, heatmap
    assert "http://" not in page and "https://" not in page and "<script src" not in page  # nothing fetched
    assert "class='down'> ▼" in page  # dpo's 30-point drop is significant against sft
    for name in ("accuracy.png", "accuracy.svg", "diversity.svg", "summary.csv", "summary.md"):
        assert (tmp_path / "site" / name).is_file()
    assert "| checkpoint |" in (tmp_path / "site" / "summary.md").read_text()


def test_report_cli(tree, tmp_path):
    result = subprocess.run([EVALSUITE, "report", str(tree), "--out", str(tmp_path / "r" / "index.html")],
                            capture_output=True, text=True, check=True)
    assert "wrote" in result.stdout and (tmp_path / "r" / "index.html").is_file()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Debian chromium is not installed (.ci/run installs it)")
def test_report_in_headless_chromium(tree, tmp_path):
    out = build_report(tree, tmp_path / "site" / "index.html", baseline="sft")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    result = subprocess.run([_chromium(), *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert "<title>evalsuite report</title>" in dom  # the model's script never ran (it would rename the page)
    assert "pwned" in dom and "<img src=\"x\"" not in dom  # shown as text, not as an element
    assert dom.count("<img") >= 4
    console_errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    assert console_errors == []


# Names a model, a user or a folder can carry: mathtext that matplotlib cannot parse, HTML, spreadsheet formulas.
MATH = "ckpt $a^b^c$"
FORMULAS = ["=1+2", "+1", "-1", "@SUM(1)"]


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)(?:\\\\)*\|", line))


def test_hostile_names_are_safe_in_every_output(tmp_path):
    root = tmp_path / "runs"
    names = [MATH, *FORMULAS, "<i onclick=x>&amp;'\""]  # a folder name holds no slash
    run = "=cmd|' -C calc'!A0 $x$"  # a run is labelled by its folder (the suite's task name)
    for k, name in enumerate(names):
        accuracy_run(root / name / run, [True] * (20 + 5 * k) + [False] * 30, task="mmlu", subject="$x^2$ <script>s</script>")
    generation_run(root / MATH / "generate", ["a\u2028b", "half \ud800 surrogate", "$5 and $6"], 0.5)
    out = build_report(root, tmp_path / "site" / "index.html", baseline=MATH)
    page = _Elements()
    page.feed(out.read_text(encoding="utf-8"))
    assert {tag for tag, _ in page.tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h4", "p", "b", "table",
                                             "thead", "tbody", "tr", "th", "td", "span", "figure", "img", "figcaption",
                                             "details", "summary", "pre", "div"}
    assert sum(tag == "b" for tag, _ in page.tags) == 1 + 3  # the baseline, and the checkpoint over each of the 3 answers
    assert not any(name.startswith("on") for _, attrs in page.tags for name, _ in attrs)
    text = "".join(page.text)
    assert "<i onclick=x>&amp;'\"" in text and run in text and MATH in text  # the subject is in the heatmap only
    assert "a\u2028b" in text and "half \ufffd surrogate" in text
    pngs = sorted((tmp_path / "site").glob("*.png"))
    assert len(pngs) >= 4 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    for table in ("summary.csv", "summary_long.csv"):
        cells = [c for row in csv.reader(io.StringIO((tmp_path / "site" / table).read_text(encoding="utf-8"), newline="")) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert {"'" + f for f in FORMULAS} <= set(cells)
    markdown = (tmp_path / "site" / "summary.md").read_text(encoding="utf-8").splitlines()
    assert len(markdown) == 2 + len(names)
    assert len({_unescaped_pipes(line) for line in markdown}) == 1  # every row has the header's cells
