"""The HTML report from a hand-built tree of runs: content, escaping, self-containment, a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def accuracy_run(folder: Path, correct: list[bool]) -> None:
    folder.mkdir(parents=True)
    n = len(correct)
    acc = sum(correct) / n
    scores = {"overall": {"acc": acc, "stderr": 0.05, "n": n, "subjects": 1},
              "overall_subject_mean": {"acc": acc, "note": "unweighted mean over subjects"},
              "categories": {"Other": {"acc": acc, "stderr": 0.05, "n": n, "subjects": 1}},
              "subjects": {"anatomy": {"acc": acc, "stderr": 0.05, "n": n, "category": "Other"}}}
    (folder / "results.json").write_text(record_json(folder, "mmlu", {"shots": 0, "subjects": ["anatomy"]}, AccuracyScores(**scores)))
    (folder / "samples.jsonl").write_text("".join(json.dumps({"subject": "anatomy", "index": i, "correct": c}) + "\n" for i, c in enumerate(correct)))


def generation_run(folder: Path, answers: list[str], distinct: float) -> None:
    folder.mkdir(parents=True)
    metric = lambda name, v: {"name": name, "value": v, "ci": [v - 0.05, v + 0.05], "signature": "x", "n": len(answers)}  # noqa: E731
    within = {"distinct_2": metric("distinct_2", distinct), "self_bleu_4": metric("self_bleu_4", 1 - distinct)}
    scores = DiversityScores(within=within, across={"distinct_2": metric("distinct_2", distinct)},
                             responses=len(answers), prompts=len(answers))
    (folder / "results.json").write_text(record_json(folder, "generate", {}, scores))
    (folder / "samples.jsonl").write_text("".join(
        json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"问题 {i} <b>bold?</b>", "response": a}, ensure_ascii=False) + "\n"
        for i, a in enumerate(answers)), encoding="utf-8")


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
