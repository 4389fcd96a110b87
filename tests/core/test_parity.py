"""`evalsuite parity`: two real runs of the tiny model agree; a doctored run is caught; different tasks are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.jsonl import read_jsonl, write_jsonl

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")


@pytest.fixture(scope="module")
def two_runs(tiny_model, data_dir, tmp_path_factory) -> tuple[Path, Path]:
    """The same MMLU questions through the hf backend with batch size 1 and 64 (separate stores)."""
    root = tmp_path_factory.mktemp("parity")
    for batch in (1, 64):
        subprocess.run(
            [EVALSUITE, "run", "--model", str(tiny_model), "--task", "mmlu", "-T", "subjects=anatomy,astronomy",
             "-T", "limit=8", "-T", "shots=1", "--data-dir", str(data_dir), "--no-progress", "--threads", "1",
             "--batch-size", str(batch), "--store", str(root / f"b{batch}.sqlite"), "--out", str(root / f"b{batch}")],
            check=True, capture_output=True,
        )
    return root / "b1", root / "b64"


def _parity(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EVALSUITE, "parity", *map(str, args)], capture_output=True, text=True)


@pytest.mark.integration
def test_batch_sizes_agree_within_tolerance(two_runs):
    result = _parity(*two_runs, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["items"] == 16 and report["flips"] == 0 and report["within_tolerance"]
    assert report["max_abs_delta"] < 1e-4 and report["disagreements"] == []
    assert report["percentiles"]["p50"] <= report["percentiles"]["p90"] <= report["percentiles"]["p99"] <= report["max_abs_delta"]


@pytest.mark.integration
def test_a_flipped_item_is_reported_with_exit_code_1(two_runs, tmp_path):
    doctored = tmp_path / "doctored"
    shutil.copytree(two_runs[1], doctored)
    samples = read_jsonl(doctored / "samples.jsonl")
    item = samples[3]
    lls = item["loglikelihoods"]
    best = lls.index(max(lls))
    other = (best + 1) % len(lls)
    lls[other] = lls[best] + 0.5  # now option `other` wins
    item["prediction"] = "ABCD"[other]
    write_jsonl(doctored / "samples.jsonl", samples)

    result = _parity(two_runs[0], doctored)
    assert result.returncode == 1
    assert "1 prediction flip(s)" in result.stderr
    key = f"{item['subject']}/{item['index']}"
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith(key))
    assert line.split()[1:3] == ["ABCD"[best], "ABCD"[other]]
    assert float(line.split()[3]) == pytest.approx(abs(lls[other] - read_jsonl(two_runs[0] / "samples.jsonl")[3]["loglikelihoods"][other]), rel=1e-2)

    markdown = _parity(two_runs[0], doctored, "--format", "md")
    assert markdown.returncode == 1 and f"| {key} | {'ABCD'[best]} | {'ABCD'[other]} |" in markdown.stdout


@pytest.mark.integration
def test_runs_of_different_parameters_are_refused(two_runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(two_runs[1], other)
    record = json.loads((other / "results.json").read_text())
    record["task"]["params_resolved"]["shots"] = 5
    (other / "results.json").write_text(json.dumps(record))
    result = _parity(two_runs[0], other)
    assert result.returncode == 2
    assert "differ in resolved task parameters" in result.stderr and "'shots': 5" in result.stderr
