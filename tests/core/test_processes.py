"""Data parallel on one node: `run --processes N` and accelerate-style ranks equal a single-process run item for item."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsuite.jsonl import read_jsonl
from evalsuite.runner import shard_groups

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")


def _cmd(tiny_model, data_dir, store: Path, out: Path, subjects: str, *extra: str) -> list[str]:
    return [EVALSUITE, "run", "--model", str(tiny_model), "--task", "mmlu", "-T", f"subjects={subjects}", "-T", "shots=1",
            "--data-dir", str(data_dir), "--no-progress", "--threads", "1", "--store", str(store), "--out", str(out), *extra]


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _assert_same_samples(a: Path, b: Path) -> None:
    left, right = read_jsonl(a / "samples.jsonl"), read_jsonl(b / "samples.jsonl")
    assert [(s["subject"], s["index"], s["prediction"]) for s in left] == [(s["subject"], s["index"], s["prediction"]) for s in right]
    for x, y in zip(left, right, strict=True):
        assert x["loglikelihoods"] == pytest.approx(y["loglikelihoods"], abs=1e-5)
    assert json.loads((a / "results.json").read_text())["scores"] == json.loads((b / "results.json").read_text())["scores"]


def test_shards_partition_the_groups_round_robin():
    groups = [f"g{i}" for i in (3, 1, 2, 1, 5, 4, 3)]
    shards = [shard_groups(groups, i, 3) for i in range(3)]
    assert shards == [{"g1", "g4"}, {"g2", "g5"}, {"g3"}]


@pytest.mark.integration
def test_two_processes_give_the_same_samples_as_one(tiny_model, data_dir, tmp_path):
    subjects = "anatomy,virology"
    subprocess.run(_cmd(tiny_model, data_dir, tmp_path / "one.sqlite", tmp_path / "one", subjects, "-T", "limit=15"),
                   check=True, capture_output=True)
    two = subprocess.run(_cmd(tiny_model, data_dir, tmp_path / "two.sqlite", tmp_path / "two", subjects, "-T", "limit=15",
                              "--processes", "2"), capture_output=True, text=True)
    assert two.returncode == 0, two.stderr
    assert len(re.findall(r"worker \d/2: pid \d+", two.stderr)) == 2
    _assert_same_samples(tmp_path / "one", tmp_path / "two")
    timings = json.loads((tmp_path / "two" / "results.json").read_text())["timings"]
    assert (timings["items_total"], timings["items_computed"], timings["items_from_store"]) == (30, 30, 0)
    assert _stored(tmp_path / "two.sqlite") == 30


@pytest.mark.integration
def test_accelerate_style_ranks_merge_on_rank_0(tiny_model, data_dir, tmp_path):
    """Two ranks as `accelerate launch` starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_PORT)."""
    subjects = "anatomy,virology"
    subprocess.run(_cmd(tiny_model, data_dir, tmp_path / "one.sqlite", tmp_path / "one", subjects, "-T", "limit=10"),
                   check=True, capture_output=True)
    ranks = [subprocess.Popen(_cmd(tiny_model, data_dir, tmp_path / "ranks.sqlite", tmp_path / "ranks", subjects, "-T", "limit=10"),
                              env={**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2", "MASTER_PORT": "29533"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (1, 0)]
    outputs = [p.communicate(timeout=300) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], outputs
    assert "rank 1: shard stored" in outputs[0][0]
    _assert_same_samples(tmp_path / "one", tmp_path / "ranks")
    assert not list(Path(f"{tmp_path / 'ranks.sqlite'}.ranks").iterdir())


@pytest.mark.integration
def test_killed_worker_rerun_computes_only_what_was_not_stored(tiny_model, data_dir, tmp_path):
    subjects = "anatomy,astronomy,virology,marketing"
    store = tmp_path / "store.sqlite"
    cmd = _cmd(tiny_model, data_dir, store, tmp_path / "killed", subjects, "--processes", "2", "--batch-size", "1")
    parent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pids = [int(re.search(r"worker \d/2: pid (\d+)", parent.stderr.readline()).group(1)) for _ in range(2)]
    deadline = time.time() + 180
    while _stored(store) < 30 and time.time() < deadline and parent.poll() is None:
        time.sleep(0.02)
    os.kill(pids[1], signal.SIGKILL)
    error = parent.stderr.read()
    assert parent.wait() == 2, "the run finished before a worker could be killed; make it longer"
    assert "worker 2/2 was killed by SIGKILL" in error and "rerun the same command" in error
    assert not (tmp_path / "killed" / "results.json").exists()
    stored = _stored(store)

    rerun = subprocess.run(_cmd(tiny_model, data_dir, store, tmp_path / "resumed", subjects, "--processes", "2"),
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    timings = json.loads((tmp_path / "resumed" / "results.json").read_text())["timings"]
    assert stored < timings["items_total"]
    assert timings["items_from_store"] == stored
    assert timings["items_computed"] == timings["items_total"] - stored

    subprocess.run(_cmd(tiny_model, data_dir, tmp_path / "fresh.sqlite", tmp_path / "fresh", subjects), check=True, capture_output=True)
    _assert_same_samples(tmp_path / "resumed", tmp_path / "fresh")
