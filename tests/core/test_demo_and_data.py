"""The README's main job, and the packaged subject lists against the official release's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalsuite.reports.judge_runs import PanelResult
from evalsuite.results import load_result, load_run

REPO = Path(__file__).resolve().parents[2]
EVALSUITE = str(Path(sys.executable).parent / "evalsuite")


@pytest.mark.integration
@pytest.mark.parametrize("benchmark", ["mmlu", "ceval"])
def test_packaged_subjects_match_official_subjects_json(data_dir, benchmark):
    official = json.loads((data_dir / "benchmarks" / benchmark / "subjects.json").read_text(encoding="utf-8"))
    packaged = yaml.safe_load((REPO / "tasks" / f"{benchmark}_subjects.yaml").read_text(encoding="utf-8"))
    assert packaged == {k: {"name": v["name"], "category": v["category"]} for k, v in official.items()}
    files = sorted(p.name.removesuffix("_dev.csv") for p in (data_dir / "benchmarks" / benchmark / "dev").glob("*_dev.csv"))
    assert files == sorted(packaged)


@pytest.mark.integration
@pytest.mark.slow
def test_quick_demo_runs_end_to_end(data_dir, tmp_path):
    """The README's main job at its smallest settings: train, evaluate, generate, judge, report."""
    work, report = tmp_path / "work", tmp_path / "report" / "index.html"
    result = subprocess.run(
        [EVALSUITE, "demo", "--quick", "--work", str(work), "--report", str(report)],
        capture_output=True, text=True, env={"EVALSUITE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoints = ["base", "sft", "dpo", "simpo", "cpo", "grpo", "grpo_nodiv"]
    for name in checkpoints:
        assert (work / "ckpt" / name / "evalsuite_checkpoint.json").is_file()
        for run in ("mmlu-0shot", "ceval-0shot", "generate"):
            assert load_run(work / "runs" / name / run).model["model"].endswith(name)
    panel = load_result(work / "runs" / "_judging" / "panel")
    assert isinstance(panel, PanelResult)
    assert sum(panel.judgments[k] for k in ("ok", "unparseable", "failed")) == 7 * 3 * 2  # 7 runs x 3 prompts x 2 judges
    # a tiny judge writes no parseable verdict, but its probabilities over the scale always give a score
    assert len(panel.probability_scores) == len(checkpoints)
    assert all(0 < m.mean <= 1 for m in panel.probability_mass.values())
    pairwise = load_result(work / "runs" / "_judging" / "pairwise")  # soft preferences give win rates and their LC
    assert pairwise.probability_judges and all(0 <= p.probability_win_rate <= 1 for p in pairwise.pairs)
    assert all(p.probability_length_controlled is not None or p.probability_length_controlled_error for p in pairwise.pairs)
    page = report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Judge panel" in page and "grpo_nodiv" in page
    assert "Probability-weighted scores" in page and "Meta-Llama-3-8B-Instruct" in page
    assert f"report: {report.resolve()}" in result.stdout


def test_demo_without_data_says_how_to_get_it(tmp_path):
    result = subprocess.run(
        [EVALSUITE, "demo", "--work", str(tmp_path / "demo"), "--report", str(tmp_path / "demo" / "r.html")],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 3
    assert "set EVALSUITE_DATA_DIR" in result.stderr and "benchmarks/mmlu" in result.stderr
    assert not (tmp_path / "demo").exists()  # stopped at once, before any work
