"""The README's main job, and the packaged subject lists against the official release's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
def test_demo_runs_real_evaluations(data_dir, tmp_path):
    result = subprocess.run(
        [EVALSUITE, "demo", "--out", str(tmp_path / "demo"), "--limit", "2"],
        capture_output=True, text=True, env={"EVALSUITE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for run in ("mmlu-0shot", "mmlu-5shot", "ceval-0shot", "ceval-5shot"):
        record = json.loads((tmp_path / "demo" / run / "results.json").read_text())
        assert record["scores"]["overall"]["n"] == 6
        assert len((tmp_path / "demo" / run / "samples.jsonl").read_text().splitlines()) == 6


def test_demo_without_data_says_how_to_get_it(tmp_path):
    result = subprocess.run(
        [EVALSUITE, "demo", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "set EVALSUITE_DATA_DIR" in result.stderr and "benchmarks/mmlu" in result.stderr
