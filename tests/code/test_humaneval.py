"""Code tasks: loading with precise errors, program assembly, judging through the runner, resuming, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, DataError
from evalsuite.execution.executor import SandboxConfig, SandboxExecutor
from evalsuite.execution.humaneval import (
    HumanEvalTask, assemble_program, load_problems, load_samples, parse_ks,
)
from evalsuite.execution.models import SandboxLimits
from evalsuite.execution.pass_at_k import pass_at_k
from evalsuite.registry import BACKENDS, TASKS
from evalsuite.results import load_run
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore

# Two small problems in HumanEval's layout, written by the test itself.
PROBLEMS = [
    {"task_id": "toy/add", "prompt": "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n",
     "entry_point": "add", "canonical_solution": "    return a + b\n",
     "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": "toy/rev", "prompt": "def rev(s):\n",
     "entry_point": "rev", "canonical_solution": "    return s[::-1]\n",
     "test": "def check(candidate):\n    assert candidate('abc') == 'cba'\n"},
]
FAST = SandboxLimits(timeout_s=2, cpu_s=2, memory_mb=256, nproc=8)


def _write_jsonl(path: Path, rows: list) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture
def problems_file(tmp_path) -> Path:
    return _write_jsonl(tmp_path / "problems.jsonl.gz", PROBLEMS)


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "store.sqlite") as s:
        yield s


def judge(problems_file, samples_file, run, ks, store, *, limits=FAST, workers=None):
    """One humaneval run through the runner: ``samples_file`` None judges the canonical solutions."""
    source = {"samples": str(samples_file)} if samples_file else {"canonical": True}
    task = HumanEvalTask({**source, "problems": str(problems_file), "ks": ks})
    executor = SandboxExecutor(SandboxConfig(**limits.model_dump(), workers=workers))
    return evaluate(task, executor, store, out_dir=run)


def _outcomes(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


SAMPLES = [
    {"task_id": "toy/add", "completion": "    return a + b\n"},
    {"task_id": "toy/add", "completion": "    return a - b\n"},                      # wrong
    {"task_id": "toy/add", "completion": "    while True:\n        pass\n"},          # hangs
    {"task_id": "toy/rev", "completion": "    return ''.join(reversed(s))\n"},
    {"task_id": "toy/rev", "completion": "    return s\n"},                          # wrong
    {"task_id": "toy/add", "completion": "    import os\n    os.remove('/etc/hostname')\n"},  # hostile
]


def test_program_is_human_evals_layout():
    problem = load_problems_from(PROBLEMS)["toy/add"]
    program = assemble_program(problem, "    return a + b\n")
    assert program == PROBLEMS[0]["prompt"] + "    return a + b\n" + "\n" + PROBLEMS[0]["test"] + "\ncheck(add)\n"


def load_problems_from(rows):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return load_problems(_write_jsonl(Path(d) / "p.jsonl", rows))


def test_loads_gzip_and_plain(tmp_path, problems_file):
    plain = _write_jsonl(tmp_path / "p.jsonl", PROBLEMS)
    assert load_problems(problems_file) == load_problems(plain)
    assert list(load_problems(problems_file)) == ["toy/add", "toy/rev"]


@pytest.mark.parametrize("rows,needle", [
    ([PROBLEMS[0], {k: v for k, v in PROBLEMS[1].items() if k != "test"}], r"p\.jsonl: line 2: missing field 'test'"),
    ([PROBLEMS[0], "{not json"], r"p\.jsonl: line 2: not valid JSON"),
    ([{**PROBLEMS[0], "entry_point": 3}], r"line 1: field 'entry_point' must be a string, got int"),
    ([{**PROBLEMS[0], "entry_point": "not a name"}], r"line 1: field 'entry_point' must be a Python name"),
    ([PROBLEMS[0], PROBLEMS[0]], r"line 2: duplicate task_id 'toy/add'"),
    (["[1, 2]"], r"line 1: expected a JSON object, got list"),
])
def test_bad_problems_name_file_line_field(tmp_path, rows, needle):
    with pytest.raises(DataError, match=needle):
        load_problems(_write_jsonl(tmp_path / "p.jsonl", rows))


@pytest.mark.parametrize("rows,needle", [
    ([SAMPLES[0], {"task_id": "toy/nope", "completion": ""}], r"s\.jsonl: line 2: field 'task_id': unknown task 'toy/nope'"),
    ([{"task_id": "toy/add"}], r"s\.jsonl: line 1: missing field 'completion'"),
    ([SAMPLES[0], "", '{"task_id": "toy/add", "completion": '], r"s\.jsonl: line 3: not valid JSON"),
])
def test_bad_samples_name_file_line_field(tmp_path, problems_file, rows, needle):
    with pytest.raises(DataError, match=needle):
        load_samples(_write_jsonl(tmp_path / "s.jsonl", rows), load_problems(problems_file))


def test_sample_indices_count_per_task_in_file_order(tmp_path, problems_file):
    samples = load_samples(_write_jsonl(tmp_path / "s.jsonl", SAMPLES), load_problems(problems_file))
    assert [(s.task_id, s.index) for s in samples] == [
        ("toy/add", 0), ("toy/add", 1), ("toy/add", 2), ("toy/rev", 0), ("toy/rev", 1), ("toy/add", 3)]


def test_task_and_executor_are_registered(tmp_path, problems_file):
    assert TASKS.get("humaneval") is HumanEvalTask and BACKENDS.get("sandbox") is SandboxExecutor
    task = HumanEvalTask({"canonical": True, "problems": str(problems_file), "ks": "2,1", "limit": 1})
    assert task.params.ks == [1, 2]
    assert [(r.key, r.group) for r in task.requests()] == [("toy/add/0", "programs")]
    with pytest.raises(ConfigError, match="either a samples file or canonical"):
        HumanEvalTask({"problems": str(problems_file)})
    with pytest.raises(DataError, match="needs the data folder's code/"):
        HumanEvalTask({"canonical": True}, data=DataRoots()).requests()


def test_judge_score_write_and_resume(tmp_path, problems_file, store):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", SAMPLES)
    run = tmp_path / "run"
    result = judge(problems_file, samples_file, run, [1, 2, 3], store, workers=2)
    scores = result.scores

    outcomes = _outcomes(run)
    assert [o["status"] for o in outcomes] == ["passed", "failed", "timed_out", "passed", "failed", "failed"]
    assert "assert candidate(2, 3) == 5" in outcomes[1]["message"]
    assert Path("/etc/hostname").exists()
    assert scores.per_task["toy/add"].n == 4 and scores.per_task["toy/add"].correct == 1
    assert scores.per_task["toy/rev"].pass_at_k["pass@1"] == pytest.approx(0.5)
    assert scores.per_task["toy/rev"].pass_at_k["pass@3"] is None          # k > n
    assert scores.pass_at_k["pass@3"].value is None
    expected_k2 = (pass_at_k(4, 1, 2) + pass_at_k(2, 1, 2)) / 2
    assert scores.pass_at_k["pass@2"].value == pytest.approx(expected_k2)
    assert scores.statuses == {"passed": 2, "failed": 3, "timed_out": 1}
    assert load_run(run) == result
    assert result.model["isolation"]["rlimits"]["RLIMIT_AS"] == 256 * 2 ** 20
    assert SandboxLimits.model_validate(result.model["limits"]) == FAST and result.provenance.packages["evalsuite"]
    assert sorted(p.name for p in run.iterdir()) == ["results.json", "samples.jsonl"]  # nothing partial left

    # Other ks, another output folder: every outcome comes from the store, nothing is computed.
    again = judge(problems_file, samples_file, tmp_path / "again", [1], store, workers=2)
    assert (again.timings.items_computed, again.timings.items_from_store) == (0, 6)
    assert again.scores.statuses == scores.statuses

    # Changed limits change what can pass: nothing is reused.
    changed = judge(problems_file, samples_file, run, [1], store, limits=FAST.model_copy(update={"timeout_s": 1.5}))
    assert changed.timings.items_computed == 6


def _stored_items(store_path: Path) -> int:
    if not store_path.exists():
        return 0
    with sqlite3.connect(store_path, timeout=10) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def test_resume_from_a_killed_run(tmp_path, problems_file):
    # One worker: the two fast samples are stored, then the hanging one holds the run until it is killed.
    samples_file = _write_jsonl(tmp_path / "s.jsonl", SAMPLES[:4])
    store_path = tmp_path / "store.sqlite"
    command = [str(Path(sys.executable).parent / "evalsuite"), "code-eval", str(samples_file),
               "--problems", str(problems_file), "--out", str(tmp_path / "killed"), "--store", str(store_path),
               "--workers", "1", "--timeout", "2", "--cpu-seconds", "2", "--memory-mb", "256", "--nproc", "8",
               "--no-progress"]
    # Its own temporary folder: the killed evaluator cannot remove the sandbox folder of the program in flight.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 60
    while _stored_items(store_path) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert _stored_items(store_path) == 2
    assert not (tmp_path / "killed" / "results.json").exists()

    with ResultStore(store_path) as store:
        resumed = judge(problems_file, samples_file, tmp_path / "resumed", [1], store, workers=1)
    assert (resumed.timings.items_from_store, resumed.timings.items_computed) == (2, 2)
    with ResultStore(tmp_path / "fresh.sqlite") as fresh_store:
        judge(problems_file, samples_file, tmp_path / "fresh", [1], fresh_store, workers=1)

    def keyed(run):  # durations differ between runs; everything else must match
        return [{k: v for k, v in o.items() if k != "duration_s"} for o in _outcomes(run)]

    assert keyed(tmp_path / "resumed") == keyed(tmp_path / "fresh")


def test_edited_completion_is_judged_again(tmp_path, problems_file, store):
    judge(problems_file, _write_jsonl(tmp_path / "a.jsonl", SAMPLES[:2]), tmp_path / "a", [1], store)
    edited = [SAMPLES[0], {"task_id": "toy/add", "completion": "    return b + a\n"}]
    result = judge(problems_file, _write_jsonl(tmp_path / "b.jsonl", edited), tmp_path / "b", [1], store)
    assert (result.timings.items_from_store, result.timings.items_computed) == (1, 1)
    assert result.scores.statuses == {"passed": 2}


def test_parse_ks():
    assert parse_ks("10,1, 1") == [1, 10]
    with pytest.raises(Exception, match="comma-separated"):
        parse_ks("1,ten")


def test_cli_writes_results_and_prints_table(tmp_path, problems_file, capsys):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", SAMPLES[:2] + SAMPLES[3:5])
    out, store = tmp_path / "cli", str(tmp_path / "store.sqlite")
    args = ["code-eval", str(samples_file), "--problems", str(problems_file), "--k", "1,2", "--out", str(out),
            "--timeout", "2", "--store", store, "--no-progress"]
    assert main(args) == 0
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps long lines at the terminal's width
    assert "pass@1" in printed and "50.00" in printed and "isolation:" in printed and "reused 0 outcomes" in printed
    assert load_run(out).scores.pass_at_k["pass@2"].value == pytest.approx(1.0)

    # A rerun computes nothing: every outcome comes from the store.
    assert main(args) == 0
    assert "reused 4 outcomes" in " ".join(capsys.readouterr().out.split())
    assert load_run(out).timings.items_computed == 0

    assert main(["code-eval", "--canonical", "--problems", str(problems_file), "--out", str(tmp_path / "c"),
                 "--k", "1", "--store", store, "--no-progress"]) == 0
    assert load_run(tmp_path / "c").scores.statuses == {"passed": 2}


def test_cli_bad_input_is_an_error_naming_the_line(tmp_path, problems_file, capsys):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", [SAMPLES[0], {"task_id": "toy/zzz", "completion": "x"}])
    store = str(tmp_path / "store.sqlite")
    code = main(["code-eval", str(samples_file), "--problems", str(problems_file), "--out", str(tmp_path / "o"),
                 "--store", store, "--no-progress"])
    assert code == 3  # a data error (exit codes of issue 12)
    err = capsys.readouterr().err
    assert "s.jsonl: line 2: field 'task_id': unknown task 'toy/zzz'" in err
    assert main(["code-eval", "--problems", str(problems_file), "--out", str(tmp_path / "o"), "--store", store,
                 "--no-progress"]) == 2
